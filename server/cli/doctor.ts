/**
 * `spinet doctor [APP_DIR | -f spin.toml] [--runtime-config-file FILE]`: checks that this machine can
 * build and serve the app: Node's version, spinet's build tools, the tools the app's build commands
 * call, that its components are built, and that every Redis it needs (triggers, key-value stores)
 * answers. One line per check, each failure saying what to do; exits non-zero when something
 * required is missing. Without a spin.toml it checks the machine only.
 */
import { parseArgs } from 'node:util';
import { access, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { CliUsageError, DoctorFailedError } from '../errors.js';
import { buildTargets, builtinBuilderArgs, parseComponentizeArgs } from '../build/app-builder.js';
import { loadRuntimeConfig, redactUrl } from '../capabilities/runtime-config.js';
import type { RuntimeConfig } from '../capabilities/runtime-config.js';
import { readManifestDraft } from '../manifest/load-manifest.js';
import type { ManifestDraft } from '../manifest/manifest-schema.js';

/** Usage text for `spinet doctor`. */
export const DOCTOR_USAGE = `Usage: spinet doctor [APP_DIR | -f spin.toml] [--runtime-config-file FILE]

Checks Node.js, spinet's build tools (esbuild, componentize-js), the tools the app's build commands
call, whether its components are built, and whether each Redis the app uses answers (Redis triggers,
and Redis key-value stores from the runtime config). Exits 1 if something required is missing.
Without a spin.toml (in APP_DIR, default .) only the machine is checked.`;

type Level = 'ok' | 'warn' | 'FAIL';

/** One finding: what was checked and, unless it is fine, what to do. */
interface Finding {
  readonly level: Level;
  readonly text: string;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function readable(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(
    () => true,
    () => false,
  );
}

function versionAtLeast(actual: string, wanted: string): boolean {
  const a = actual.replace(/^v/, '').split('.').map(Number);
  const w = wanted.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = w[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

async function checkNode(): Promise<Finding> {
  const pkg = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  const wanted = (pkg.engines?.node ?? '>=20.11').replace(/^>=\s*/, '');
  return versionAtLeast(process.version, wanted)
    ? { level: 'ok', text: `Node.js ${process.version} (spinet needs >= ${wanted})` }
    : { level: 'FAIL', text: `Node.js ${process.version} is too old: spinet needs >= ${wanted}. Install a current Node.js 20 or 22 (https://nodejs.org, or Debian: nodesource packages).` };
}

async function packageVersion(name: string): Promise<string | undefined> {
  try {
    let dir = path.dirname(fileURLToPath(import.meta.resolve(name)));
    for (;;) {
      const text = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined);
      if (text !== undefined) {
        const pkg = JSON.parse(text) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? '?';
      }
      const parent = path.dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
  } catch {
    return undefined;
  }
}

async function checkBuildTools(): Promise<Finding> {
  const names = ['esbuild', '@bytecodealliance/componentize-js', '@bytecodealliance/jco'];
  const versions = await Promise.all(names.map(packageVersion));
  const missing = names.filter((_, i) => versions[i] === undefined);
  if (missing.length > 0) {
    return { level: 'FAIL', text: `build tools missing: ${missing.join(', ')}. Run "npm install" in ${packageRoot} (spinet's directory).` };
  }
  return { level: 'ok', text: `build tools: esbuild ${versions[0]}, componentize-js ${versions[1]}, jco ${versions[2]} (spinet componentize)` };
}

/** Does `command` exist on PATH (or as a path)? */
function onPath(command: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', `command -v "$0" >/dev/null 2>&1`, command], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

const CLANG_PACKAGES = 'Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32';

/** Can clang build a WASI core module (compiler, wasm-ld, wasi-libc and the builtins all present)? */
function clangBuildsWasi(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-x', 'c', '-', '-o', '/dev/null'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (error) => resolve(error.message));
    child.on('close', (code) => resolve(code === 0 ? undefined : err.trim().split('\n')[0] ?? `exit code ${code}`));
    child.stdin.end('#include <stdlib.h>\nint f(void) { return abs(-1); }\n');
  });
}

/** clang for C guests: required (FAIL) when the app's build compiles for wasm32-wasi, else informational. */
async function checkClang(required: boolean): Promise<Finding> {
  const problem = (await onPath('clang')) ? await clangBuildsWasi() : 'clang is not installed';
  if (problem === undefined) return { level: 'ok', text: 'clang builds wasm32-wasi core modules (C guests)' };
  return required
    ? { level: 'FAIL', text: `this app compiles C to wasm32-wasi but clang cannot (${problem}). ${CLANG_PACKAGES}.` }
    : { level: 'warn', text: `clang cannot build wasm32-wasi (${problem}): only needed for C guests (spinet new http-c). ${CLANG_PACKAGES}.` };
}

/** Replaces `{{ var }}` with the variable's value from SPIN_VARIABLE_<NAME> or its default. */
function resolveTemplate(value: string, draft: ManifestDraft, env: NodeJS.ProcessEnv): string {
  return value.replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/g, (whole, name: string) => env[`SPIN_VARIABLE_${name.toUpperCase()}`] ?? draft.variables[name]?.default ?? whole);
}

async function redisAnswers(url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, enableOfflineQueue: false });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than ioredis's "Connection is closed".
  let first: string | undefined;
  client.on('error', (error: Error) => (first ??= error.message));
  try {
    await client.connect();
    const pong = await client.ping();
    return pong === 'PONG' ? undefined : `answered ${pong} to PING`;
  } catch (error) {
    return first ?? (error instanceof Error ? error.message : String(error));
  } finally {
    client.disconnect();
  }
}

async function checkApp(manifest: string, runtimeConfigFile: string | undefined, env: NodeJS.ProcessEnv): Promise<Finding[]> {
  const findings: Finding[] = [];
  let draftFile;
  try {
    draftFile = await readManifestDraft(manifest);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return [{ level: 'FAIL', text: `${e.code ?? 'error'}: ${e.message ?? String(error)}` }];
  }
  const { draft, displayPath, manifestPath } = draftFile;
  const root = path.dirname(manifestPath);
  findings.push({ level: 'ok', text: `${displayPath}: app "${draft.name}", ${draft.components.size} component(s), valid` });

  // Build commands: the built-in builder's entry exists; other commands' tools are on PATH.
  const { targets } = await buildTargets(manifestPath);
  for (const target of targets) {
    const id = target.component.id;
    for (const line of target.commands) {
      const builtin = builtinBuilderArgs(line);
      if (builtin !== undefined) {
        let entry: string;
        try {
          entry = parseComponentizeArgs(builtin).entry;
        } catch {
          findings.push({ level: 'FAIL', text: `component "${id}": build command "${line}" is not a valid spinet componentize call. See spinet componentize --help.` });
          continue;
        }
        const full = path.resolve(target.workdir, entry);
        if (!(await readable(full))) findings.push({ level: 'FAIL', text: `component "${id}": its entry ${path.relative(root, full)} does not exist. Fix the path in ${displayPath} (relative to the build workdir).` });
        continue;
      }
      // Each step of a shell line ("mkdir -p dist && clang ...") names its tool first.
      for (const step of line.split(/&&|\|\||;|\|/)) {
        const tool = step.trim().split(/\s+/)[0] ?? '';
        if (tool !== '' && !/^[A-Z_]+=/.test(tool) && !(await onPath(tool))) {
          findings.push({ level: 'FAIL', text: `component "${id}": its build command runs "${tool}", which is not installed (not on PATH). Install it, or change [component.${id}.build] command in ${displayPath}.` });
        }
      }
    }
  }
  // Sources: built yet?
  const unbuilt: string[] = [];
  for (const component of draft.components.values()) {
    if (component.source.kind !== 'file') continue;
    const file = path.resolve(root, component.source.path);
    if (!(await stat(file).then((s) => s.isFile(), () => false))) unbuilt.push(`${component.id} (${component.source.path})`);
  }
  if (unbuilt.length > 0) findings.push({ level: 'warn', text: `not built yet: ${unbuilt.join(', ')}. Run "spinet build" (or "spinet up --build").` });
  else findings.push({ level: 'ok', text: 'every component source is built' });

  // Redis: trigger addresses and Redis key-value stores.
  const needs = new Map<string, string>();
  for (const trigger of draft.redisTriggers) {
    const address = trigger.address ?? draft.redisAddress;
    if (address === undefined) continue;
    const url = resolveTemplate(address, draft, env);
    needs.set(url, [needs.get(url), `the Redis trigger on channel "${resolveTemplate(trigger.channel, draft, env)}"`].filter(Boolean).join(', '));
  }
  let runtime: RuntimeConfig | undefined;
  if (runtimeConfigFile !== undefined) {
    try {
      runtime = await loadRuntimeConfig(runtimeConfigFile);
    } catch (error) {
      findings.push({ level: 'FAIL', text: `${(error as Error).message}` });
    }
  }
  for (const [label, store] of runtime?.keyValueStores ?? []) {
    if (store.type === 'redis') needs.set(store.url, [needs.get(store.url), `key-value store "${label}"`].filter(Boolean).join(', '));
  }
  for (const [url, what] of needs) {
    const shown = redactUrl(url);
    if (/\{\{/.test(url)) {
      findings.push({ level: 'FAIL', text: `Redis for ${what}: "${url}" uses a variable with no value. Set it (SPIN_VARIABLE_<NAME>=redis://host:port) or give it a default in [variables].` });
      continue;
    }
    const problem = await redisAnswers(url);
    findings.push(
      problem === undefined
        ? { level: 'ok', text: `Redis at ${shown} answers (${what})` }
        : {
            level: 'FAIL',
            text:
              `Redis at ${shown} does not answer (${problem}); needed by ${what}. Start one (Debian: apt-get install redis-server; ` +
              `or: redis-server --port 6379), or point the app at another (e.g. SPIN_VARIABLE_REDIS_ADDRESS=redis://host:6379).`,
          },
    );
  }
  return findings;
}

/** Runs `spinet doctor`; throws SPINET_ERR_DOCTOR (exit 1) when a required check fails. */
export async function doctor(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { from: { type: 'string', short: 'f' }, 'runtime-config-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${DOCTOR_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${DOCTOR_USAGE}\n`);
    return;
  }
  const manifest = values.from ?? positionals[0];
  // An explicit app must exist; in the current directory, no spin.toml just means "machine only".
  const implicit = manifest === undefined;
  const target = manifest ?? '.';
  const hasManifest = implicit ? await readable(path.join(target, 'spin.toml')) : true;
  const needsClang = hasManifest && (await buildTargets(target).then((b) => b.targets.some((t) => t.commands.some((c) => /wasm32-wasi/.test(c))), () => false));
  const findings: Finding[] = [await checkNode(), await checkBuildTools(), await checkClang(needsClang)];
  if (hasManifest) findings.push(...(await checkApp(target, values['runtime-config-file'], env)));
  else findings.push({ level: 'ok', text: 'no spin.toml here: checked the machine only (pass an app directory to check an app)' });

  for (const f of findings) process.stdout.write(`${f.level.padEnd(4)}  ${f.text}\n`);
  const failed = findings.filter((f) => f.level === 'FAIL').length;
  if (failed > 0) throw new DoctorFailedError(`${failed} problem${failed === 1 ? '' : 's'} found; each FAIL line above says what to do`);
  process.stdout.write('spinet doctor: all required checks passed\n');
}
