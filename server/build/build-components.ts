/**
 * `npm run build:components [-- name …]`: builds the TypeScript guests under components/, two at a time,
 * skipping the ones whose inputs did not change; exits non-zero with the tool's error when one fails.
 *
 * A guest is found from its app's manifest, so adding one means adding a directory: every
 * `components/<app>/spin.toml` component whose `source` is a local `.wasm` file gets built from
 * `components/<app>/src/<component-id>.ts`, or from `src/index.ts` when that file does not exist.
 * Components with neither (prebuilt binaries) are left alone, unless they have a
 * `[component.<id>.build] command` (a static site, say), which is then run in its `workdir`.
 * Names given on the command line pick apps or component ids.
 */
import { access, readFile, readdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parse } from 'smol-toml';
import { buildGuest, guestWorld, GUEST_WIT_DIR } from './guest-builder.js';

/** componentize-js is CPU- and memory-hungry; these machines have two cores. */
const PARALLEL = 2;
const componentsDir = path.dirname(GUEST_WIT_DIR);

/** One guest to build: a spin.toml component with a TypeScript entry. */
interface GuestJob {
  /** `<app>` when the app's only guest is named like the app, else `<app>/<component>`. */
  readonly name: string;
  readonly app: string;
  readonly component: string;
  readonly entry: string;
  readonly outFile: string;
  /** A `[component.x.build] command` to run instead (components that are not TypeScript guests). */
  readonly command?: { readonly line: string; readonly cwd: string };
  /** The WIT world, picked from the source by guestWorld (guest-builder.ts). */
  readonly world: string;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function appGuests(app: string): Promise<GuestJob[]> {
  const appDir = path.join(componentsDir, app);
  const manifestFile = path.join(appDir, 'spin.toml');
  const text = await readFile(manifestFile, 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  let manifest: Record<string, unknown>;
  try {
    manifest = parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${manifestFile}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const components = (manifest['component'] ?? {}) as Record<string, { source?: unknown; build?: { command?: unknown; workdir?: unknown } }>;
  const jobs: GuestJob[] = [];
  for (const [id, component] of Object.entries(components)) {
    const source = component.source;
    const command = component.build?.command;
    const line = Array.isArray(command) ? command.join(' && ') : typeof command === 'string' ? command : undefined;
    // Not a TypeScript guest but built by a command (e.g. a static site): run it, as `spin build` would.
    // Commands that call build:components themselves are how TS guests point back here: skip those.
    const tsEntry = typeof source === 'string' && source.endsWith('.wasm') && ((await exists(path.join(appDir, 'src', `${id}.ts`))) || (await exists(path.join(appDir, 'src', 'index.ts'))));
    if (line !== undefined && !tsEntry && !line.includes('build:components')) {
      const workdir = typeof component.build?.workdir === 'string' ? path.resolve(appDir, component.build.workdir) : appDir;
      jobs.push({ name: id, app, component: id, entry: '', outFile: '', world: '', command: { line, cwd: workdir } });
      continue;
    }
    if (typeof source !== 'string' || !source.endsWith('.wasm')) continue; // url/registry sources
    const candidates = [path.join(appDir, 'src', `${id}.ts`), path.join(appDir, 'src', 'index.ts')];
    let entry: string | undefined;
    for (const c of candidates) if (await exists(c)) { entry = c; break; }
    if (entry === undefined) continue; // a prebuilt component, not ours to build
    const outFile = path.resolve(appDir, source);
    // Several components may run one binary with different permissions: build it once.
    if (jobs.some((j) => j.outFile === outFile)) continue;
    jobs.push({ name: id, app, component: id, entry, outFile, world: guestWorld(await readFile(entry, 'utf8')) });
  }
  return jobs.map((j) => ({ ...j, name: jobs.length === 1 && j.component === app ? app : `${app}/${j.component}` }));
}

async function findGuests(only: readonly string[]): Promise<GuestJob[]> {
  const all: GuestJob[] = [];
  for (const entry of (await readdir(componentsDir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory() && !entry.name.startsWith('.')) all.push(...(await appGuests(entry.name)));
  }
  if (only.length === 0) return all;
  const picked = all.filter((j) => only.includes(j.app) || only.includes(j.component) || only.includes(j.name));
  const unknown = only.filter((n) => !all.some((j) => j.app === n || j.component === n || j.name === n));
  if (unknown.length > 0) {
    throw new Error(`no guest named ${unknown.join(', ')}; guests: ${all.map((j) => j.name).join(', ')} (each is a component of components/<app>/spin.toml with src/<id>.ts or src/index.ts)`);
  }
  return picked;
}

async function main(): Promise<void> {
  const jobs = await findGuests(process.argv.slice(2));
  const queue = [...jobs];
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    // After a failure, finish what is running but start nothing new.
    for (let job = queue.shift(); job !== undefined && failures.length === 0; job = queue.shift()) {
      try {
        if (job.command) {
          await runCommand(job.name, job.command.line, job.command.cwd);
          continue;
        }
        const r = await buildGuest({ entry: job.entry, outFile: job.outFile, name: job.name, world: job.world });
        process.stdout.write(r.cached ? `${job.name} up to date\n` : `built ${job.name} in ${(r.ms / 1000).toFixed(1)}s (${(r.bytes / 1e6).toFixed(1)} MB)\n`);
      } catch (error) {
        const e = error as { code?: unknown; message?: unknown };
        failures.push(`${typeof e.code === 'string' ? `${e.code}: ` : ''}${typeof e.message === 'string' ? e.message : String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, jobs.length) }, worker));
  if (failures.length > 0) {
    for (const f of failures) process.stderr.write(`build:components failed: ${f}\n`);
    process.exitCode = 1;
  }
}

/** Runs a component's build command, showing its output; rejects with the exit status. */
function runCommand(name: string, line: string, cwd: string): Promise<void> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(line, { cwd, shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => reject(new Error(`${name}: cannot run "${line}" in ${cwd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) {
        process.stdout.write(`built ${name} with "${line}" in ${((performance.now() - started) / 1000).toFixed(1)}s\n`);
        resolve();
      } else reject(new Error(`${name}: "${line}" (in ${cwd}) failed with ${signal ?? `exit code ${code}`}`));
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`build:components failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
