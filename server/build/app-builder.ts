/**
 * Builds a Spin app the way `spin build` does: each component's `[component.<id>.build] command` runs
 * in its `workdir` (default: the app root), components in manifest order, a list of commands in order,
 * stopping at the first failure with the tool's output and what to do.
 *
 * A command of the form `spinet componentize ENTRY -o OUT [--world W]` is spinet's built-in builder for
 * TypeScript/JavaScript guests (esbuild + componentize-js, guest-builder.ts): it runs in-process,
 * cached by content hash, with progress lines, and needs no `spinet` on PATH and no node_modules in
 * the app. The same line also works as a real command (Spin's own `spin build`, with spinet installed).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { readManifestDraft } from '../manifest/load-manifest.js';
import type { DraftComponent } from '../manifest/manifest-schema.js';
import { CliUsageError, GuestBuildError } from '../errors.js';
import { buildGuest } from './guest-builder.js';
import type { GuestBuildResult } from './guest-builder.js';

/** Usage of the built-in builder's command line. */
export const COMPONENTIZE_USAGE = `Usage: spinet componentize ENTRY -o OUT.wasm [--world WORLD]

Builds a TypeScript/JavaScript guest (ENTRY registers a fetch listener or exports inboundRedis) into a
WebAssembly component with esbuild and componentize-js. Paths are relative to the current directory
(in spin.toml: to the component's build workdir). The WIT world is picked from the source unless
--world names one of http-guest, spin-http-guest, spin-redis-guest. Guests import spinet's SDK as
"@spinet/sdk". Unchanged inputs are not rebuilt.`;

/** What the built-in builder was asked to build. */
export interface ComponentizeArgs {
  readonly entry: string;
  readonly out: string;
  readonly world?: string;
}

/** Parses `spinet componentize` arguments (after the command name). */
export function parseComponentizeArgs(argv: readonly string[]): ComponentizeArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { out: { type: 'string', short: 'o' }, world: { type: 'string' } } });
  } catch (error) {
    throw new CliUsageError(`${(error as Error).message}\n\n${COMPONENTIZE_USAGE}`);
  }
  const { values, positionals } = parsed;
  const [entry, ...extra] = positionals;
  if (entry === undefined || values.out === undefined || extra.length > 0) {
    throw new CliUsageError(`spinet componentize needs one ENTRY file and -o OUT.wasm\n\n${COMPONENTIZE_USAGE}`);
  }
  return { entry, out: values.out, ...(values.world === undefined ? {} : { world: values.world }) };
}

/** The arguments of a build command line that calls the built-in builder, or undefined for any other command. */
export function builtinBuilderArgs(line: string): string[] | undefined {
  const words = line.trim().split(/\s+/);
  if (words[0] === 'npx') words.shift();
  if (words[0] !== 'spinet' || words[1] !== 'componentize') return undefined;
  return words.slice(2);
}

/** How one component was built. */
export interface ComponentBuildOutcome {
  readonly component: string;
  /** `builtin` (spinet componentize, cached) or `command` (a shell command, always run). */
  readonly how: 'builtin' | 'command';
  /** True when the built-in builder found the output current. */
  readonly cached: boolean;
  readonly ms: number;
}

/** What to build and where progress goes. */
export interface AppBuildOptions {
  /** Component ids to build; all components with a build section when empty or absent. */
  readonly only?: readonly string[];
  /** One plain line per step or progress note (the CLI writes them to stderr). */
  readonly log: (line: string) => void;
  /** Where the built-in builder keeps generated WIT; guest-builder's default when absent. */
  readonly cacheDir?: string;
}

/** The result of building an app. */
export interface AppBuildResult {
  readonly manifestPath: string;
  readonly outcomes: readonly ComponentBuildOutcome[];
}

/** A component with a build section, its workdir resolved. */
interface BuildTarget {
  readonly component: DraftComponent;
  readonly commands: readonly string[];
  readonly workdir: string;
  readonly watch: readonly string[];
}

/** Every component with a `[component.<id>.build]` section, workdir resolved; what `spinet watch` watches. */
export async function buildTargets(pathOrDir: string): Promise<{ manifestPath: string; displayPath: string; root: string; targets: BuildTarget[] }> {
  const { manifestPath, displayPath, draft } = await readManifestDraft(pathOrDir);
  const root = path.dirname(manifestPath);
  const targets: BuildTarget[] = [];
  for (const component of draft.components.values()) {
    const build = component.build;
    if (build === undefined) continue;
    targets.push({ component, commands: build.command, workdir: path.resolve(root, build.workdir ?? '.'), watch: build.watch });
  }
  return { manifestPath, displayPath, root, targets };
}

/** Builds the app's components (or `only` those); throws SPINET_ERR_BUILD_FAILED at the first failure. */
export async function buildApp(pathOrDir: string, opts: AppBuildOptions): Promise<AppBuildResult> {
  const { manifestPath, displayPath, targets } = await buildTargets(pathOrDir);
  const only = opts.only ?? [];
  const unknown = only.filter((id) => !targets.some((t) => t.component.id === id));
  if (unknown.length > 0) {
    const known = targets.map((t) => t.component.id);
    throw new CliUsageError(
      `${displayPath}: no component ${unknown.map((u) => `"${u}"`).join(', ')} with a [component.<id>.build] section; ` +
        (known.length > 0 ? `buildable components: ${known.join(', ')}.` : 'no component has one (add [component.<id>.build] command = "..." to build it).'),
    );
  }
  const picked = only.length === 0 ? targets : targets.filter((t) => only.includes(t.component.id));
  if (picked.length === 0) opts.log(`${displayPath}: no component has a [component.<id>.build] section; nothing to build`);
  const outcomes: ComponentBuildOutcome[] = [];
  for (const target of picked) {
    const started = performance.now();
    let cached = true;
    let how: 'builtin' | 'command' = 'builtin';
    for (const line of target.commands) {
      const args = builtinBuilderArgs(line);
      if (args === undefined) {
        how = 'command';
        cached = false;
        await runCommand(target, line, displayPath, opts.log);
      } else {
        const r = await runBuiltin(target, args, line, displayPath, opts);
        cached &&= r.cached;
      }
    }
    const ms = performance.now() - started;
    const id = target.component.id;
    opts.log(how === 'builtin' && cached ? `${id}: up to date` : `${id}: built in ${(ms / 1000).toFixed(1)} s`);
    outcomes.push({ component: id, how, cached, ms });
  }
  return { manifestPath, outcomes };
}

function where(target: BuildTarget, displayPath: string): string {
  const line = target.component.line;
  return `component "${target.component.id}" (${displayPath}${line === undefined ? '' : `:${line}`})`;
}

async function runBuiltin(target: BuildTarget, argv: readonly string[], line: string, displayPath: string, opts: AppBuildOptions): Promise<GuestBuildResult> {
  let args: ComponentizeArgs;
  try {
    args = parseComponentizeArgs(argv);
  } catch (error) {
    throw new GuestBuildError(`${where(target, displayPath)}: build command "${line}" is not a valid spinet componentize call: ${(error as Error).message}`, { cause: error });
  }
  const id = target.component.id;
  opts.log(`${id}: building ${args.entry} with spinet's built-in builder`);
  try {
    return await buildGuest({
      entry: path.resolve(target.workdir, args.entry),
      outFile: path.resolve(target.workdir, args.out),
      name: id,
      onProgress: opts.log,
      ...(args.world === undefined ? {} : { world: args.world }),
      ...(opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir }),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new GuestBuildError(`${where(target, displayPath)} failed to build:\n${message}\nFix the error above and run spinet build again.`, { cause: error });
  }
}

/** Runs one shell command in the component's workdir; its output goes to our stderr as it comes. */
function runCommand(target: BuildTarget, line: string, displayPath: string, log: (line: string) => void): Promise<void> {
  const id = target.component.id;
  log(`${id}: running "${line}" in ${target.workdir}`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // stdout goes to stderr too: spinet's stdout stays free for what a script may parse.
    const child = spawn(line, { cwd: target.workdir, shell: true, stdio: ['ignore', process.stderr, process.stderr] });
    const ticker = setInterval(() => log(`${id}: still running "${line}" (${((performance.now() - started) / 1000).toFixed(0)} s)`), 10_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new GuestBuildError(`${where(target, displayPath)}: cannot run "${line}" in ${target.workdir}: ${error.message}. Check that the workdir exists.`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else {
        const hint = code === 127 ? ' (command not found: install the tool it calls, or fix the command in spin.toml)' : '';
        reject(new GuestBuildError(`${where(target, displayPath)}: build command "${line}" (in ${target.workdir}) failed with ${signal ?? `exit code ${code}`}${hint}. Its output is above; fix the error and run spinet build again.`));
      }
    });
  });
}
