/**
 * Builds a TypeScript/JavaScript guest into a wasi:http component: esbuild bundles the entry into one
 * ES module, componentize-js (StarlingMonkey) turns it into a component against spinet's WIT world.
 *
 * Builds are cached by a hash of everything that shapes the output (bundled JS, WIT, tool version,
 * recipe), recorded next to the output in `<outFile>.sha256`; an unchanged guest is not rebuilt (a
 * build takes 10–30 s here). componentize-js runs Wizer with `spawnSync`, which would freeze the
 * calling process for the whole build, so the componentize step runs in a child process: builds stay
 * asynchronous and several can run at once.
 *
 * Guests import spinet's SDK as `@spinet/sdk` (components/sdk/spin.ts, resolved here), so an app made
 * by `spinet new` outside this repository needs no node_modules of its own. The world is picked from
 * the source (guestWorld) unless the caller names one. This is the one builder behind
 * `npm run build:components`, `spinet build` and `spinet componentize`.
 *
 * The build tools (esbuild, componentize-js, jco) are dependencies imported lazily: the gateway's
 * request path never loads them.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestBuildError } from '../errors.js';

/** Bump whenever the build recipe changes in a way the hashed inputs do not show; forces rebuilds. */
const BUILDER_VERSION = '2';
/** StarlingMonkey in componentize-js 0.23 imports WASI at this version; the world must name it. */
const WASI_VERSION = '0.2.10';
/** The WASI WIT that the installed jco ships; copied with its version rewritten to WASI_VERSION. */
const JCO_WIT_VERSION = '0.2.12';
/** The world a guest targets unless it asks for another. */
const DEFAULT_WORLD = 'http-guest';
/** argv marker of the child process that runs componentize-js (see the end of this file). */
const CHILD_FLAG = '--spinet-componentize';

const thisFile = fileURLToPath(import.meta.url);
// Compiled to dist/server/build/: three levels below the repository root.
const repoRoot = path.resolve(path.dirname(thisFile), '..', '..', '..');

/** spinet's own guest WIT (world.wit, plus any non-WASI packages under deps/), kept in the repo. */
export const GUEST_WIT_DIR = path.join(repoRoot, 'components', 'wit');
/** Default home of generated build inputs (the WASI WIT deps); gitignored, never committed. */
export const DEFAULT_BUILD_CACHE_DIR = path.join(repoRoot, 'components', '.build');
/** spinet's guest SDK; guests import it as `@spinet/sdk` (or by a relative path inside this repo). */
export const GUEST_SDK_ENTRY = path.join(repoRoot, 'components', 'sdk', 'spin.ts');
/** Type declarations for guests (StarlingMonkey globals, Spin and WASI interfaces), for editors and tsc. */
export const GUEST_TYPES_DIR = path.join(repoRoot, 'components', 'types');
/** The import specifier that names spinet's guest SDK. */
export const GUEST_SDK_SPECIFIER = '@spinet/sdk';

/**
 * The world a guest's source needs: Redis-trigger guests (they export `inboundRedis`, Spin's JS
 * convention for fermyon:spin/inbound-redis) get `spin-redis-guest`; guests that use the SDK or import
 * fermyon:spin interfaces get `spin-http-guest` (Spin's host interfaces); the rest plain `http-guest`.
 */
export function guestWorld(sourceText: string): string {
  if (/export\s+const\s+inboundRedis\b/.test(sourceText)) return 'spin-redis-guest';
  if (/from\s+['"](?:[^'"]*sdk\/spin(?:\.js)?|@spinet\/sdk|fermyon:spin\/[^'"]*)['"]/.test(sourceText)) return 'spin-http-guest';
  return DEFAULT_WORLD;
}

/** What to build. */
export interface GuestBuildOptions {
  /** TypeScript or JavaScript entry module that registers a `fetch` event listener. */
  readonly entry: string;
  /** Where the component is written (atomically). */
  readonly outFile: string;
  /** World in components/wit to build against; defaults to `http-guest`. */
  readonly world?: string;
  /** Where generated WIT goes; defaults to components/.build. */
  readonly cacheDir?: string;
  /** Name used in messages; defaults to the output file's base name. */
  readonly name?: string;
  /**
   * Told about slow steps as they start and, every few seconds, that they are still running (one
   * plain line each); not called for a cached build.
   */
  readonly onProgress?: (line: string) => void;
}

/** How often a running componentize step reports that it is still running. */
const PROGRESS_EVERY_MS = 5_000;

/** The outcome of one buildGuest call. */
export interface GuestBuildResult {
  readonly name: string;
  readonly outFile: string;
  /** True when the output was already current and nothing was written. */
  readonly cached: boolean;
  /** Wall time of the call, bundling included. */
  readonly ms: number;
  /** Size of the component. */
  readonly bytes: number;
  /** Hash of the build inputs, as recorded in `<outFile>.sha256`. */
  readonly inputHash: string;
}

/** Builds one guest, or returns at once (`cached: true`) when its recorded input hash is current. */
export async function buildGuest(opts: GuestBuildOptions): Promise<GuestBuildResult> {
  const started = performance.now();
  const outFile = path.resolve(opts.outFile);
  const name = opts.name ?? path.basename(outFile, '.wasm');
  const entry = path.resolve(opts.entry);
  // A `.wasm` entry is a core module from another compiler (C with clang, say): it is given spinet's
  // WIT world and the WASI preview1 adapter instead of being bundled and componentized.
  const core = entry.endsWith('.wasm');
  const world = opts.world ?? (core ? DEFAULT_WORLD : guestWorld(await readEntry(entry, name)));

  const steps = [
    core ? readCoreModule(entry, name) : bundle(entry, name),
    witDir(path.resolve(opts.cacheDir ?? DEFAULT_BUILD_CACHE_DIR), name),
    packageVersion('@bytecodealliance/componentize-js', name),
    // componentize-js builds the final component with jco's componentNew and preview1 adapter.
    packageVersion('@bytecodealliance/jco', name),
  ] as const;
  // When bundling fails, the WIT cache write still running must finish before the error reaches the
  // caller (who may delete the cache directory at once): settle every step, then take the results.
  await Promise.allSettled(steps);
  const [source, wit, componentizeVersion, jcoVersion] = await Promise.all(steps);
  const inputHash = createHash('sha256')
    // `kind` only for core modules: JS guests keep the hashes they had, so nothing rebuilds needlessly.
    .update(JSON.stringify({ builder: BUILDER_VERSION, ...(core ? { kind: 'core' } : {}), componentizeVersion, jcoVersion, world, wit: wit.hash }))
    .update('\n')
    .update(source)
    .digest('hex');

  const stampFile = `${outFile}.sha256`;
  const [recorded, existing] = await Promise.all([
    readFile(stampFile, 'utf8').catch(() => ''),
    stat(outFile).catch(() => undefined),
  ]);
  if (existing?.isFile() === true && recorded.trim() === inputHash) {
    return { name, outFile, cached: true, ms: performance.now() - started, bytes: existing.size, inputHash };
  }

  await mkdir(path.dirname(outFile), { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'spinet-guest-'));
  try {
    // The file name shows up in the guest's stack traces, so keep it readable.
    const jsPath = core ? entry : path.join(work, `${name.replace(/[^\w.-]+/g, '-')}.js`);
    if (!core) await writeFile(jsPath, source);
    // Written next to outFile so the final rename stays on one file system (atomic).
    const tmpOut = `${outFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const progress = opts.onProgress;
    const componentizeStarted = performance.now();
    progress?.(core ? `${name}: making a component of the core module (world ${world}, WASI preview1 adapter)` : `${name}: componentizing (world ${world}; this takes about 10-30 s)`);
    const ticker = progress === undefined ? undefined : setInterval(() => progress(`${name}: still componentizing (${((performance.now() - componentizeStarted) / 1000).toFixed(0)} s)`), PROGRESS_EVERY_MS);
    try {
      await componentizeInChild({ kind: core ? 'core' : 'js', sourcePath: jsPath, witPath: wit.dir, worldName: world, outFile: tmpOut }, name);
      clearInterval(ticker);
      const { size } = await stat(tmpOut);
      await rename(tmpOut, outFile);
      await writeAtomically(stampFile, `${inputHash}\n`);
      return { name, outFile, cached: false, ms: performance.now() - started, bytes: size, inputHash };
    } finally {
      clearInterval(ticker);
      await rm(tmpOut, { force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** One componentize-js run, as handed to the child process. */
interface ComponentizeJob {
  /** `js`: componentize-js on a bundled source; `core`: wit-component (jco) on a core module. */
  readonly kind: 'js' | 'core';
  readonly sourcePath: string;
  readonly witPath: string;
  readonly worldName: string;
  readonly outFile: string;
}

/** The bytes of a core module entry, checked to be one (a component or garbage is refused with a hint). */
async function readCoreModule(entry: string, name: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(entry);
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: cannot read the core module ${entry} (${errorText(error)}); did the compile step before this one write it?`, { cause: error });
  }
  const header = bytes.subarray(0, 8).toString('hex');
  if (header === '0061736d0d000100') throw new GuestBuildError(`guest ${name}: ${entry} is already a component; use it as the component's source directly`);
  if (header !== '0061736d01000000') throw new GuestBuildError(`guest ${name}: ${entry} is not a WebAssembly core module (e.g. clang --target=wasm32-wasi -mexec-model=reactor)`);
  return bytes;
}

async function readEntry(entry: string, name: string): Promise<string> {
  try {
    return await readFile(entry, 'utf8');
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: cannot read its entry ${entry} (${errorText(error)}); check the path (relative to the component's workdir)`, { cause: error });
  }
}

async function bundle(entry: string, name: string): Promise<string> {
  const esbuild = await importTool<typeof import('esbuild')>('esbuild', name);
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      // esbuild names each module in a comment relative to this directory; pinning it keeps the bundle
      // (and so the cache key) the same whatever directory the build is started from.
      absWorkingDir: repoRoot,
      // platform 'neutral' resolves no package fields by default; npm packages bundled into guests need these.
      mainFields: ['module', 'main'],
      // Guests import WIT interfaces by their versioned names; componentize-js binds those, not esbuild.
      external: ['wasi:*', 'fermyon:*', 'spin:*'],
      // Apps made by `spinet new` live anywhere and have no node_modules: the SDK comes from spinet.
      alias: { [GUEST_SDK_SPECIFIER]: GUEST_SDK_ENTRY },
    });
    const out = result.outputFiles[0];
    if (out === undefined) throw new Error('esbuild produced no output');
    return out.text;
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: bundling ${entry} with esbuild failed:\n${esbuildMessages(error)}`, { cause: error });
  }
}

function esbuildMessages(error: unknown): string {
  const errors = (error as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return errorText(error);
  return errors
    .map((e: { text?: string; location?: { file?: string; line?: number; column?: number } | null }) => {
      // esbuild names files relative to absWorkingDir (the repo); show them relative to where the user is.
      const file = e.location?.file === undefined ? '?' : path.relative(process.cwd(), path.resolve(repoRoot, e.location.file)) || e.location.file;
      const at = e.location ? `${file}:${e.location.line ?? '?'}:${e.location.column ?? '?'}: ` : '';
      return `  ${at}${e.text ?? ''}`;
    })
    .join('\n');
}

/** A generated WIT directory: spinet's world plus the WASI packages it needs, named by content hash. */
interface WitDir {
  readonly dir: string;
  readonly hash: string;
}

const witDirs = new Map<string, Promise<WitDir>>();

/**
 * Generates (once per process and cache dir) the WIT directory componentize-js reads: our world files
 * plus jco's WASI 0.2.12 WIT with every version rewritten to 0.2.10, the version StarlingMonkey imports.
 * The directory is named by the hash of its content, so concurrent builds (other processes, tests) never
 * see one half-written or replaced under them.
 */
function witDir(cacheDir: string, name: string): Promise<WitDir> {
  let pending = witDirs.get(cacheDir);
  if (pending === undefined) {
    pending = generateWitDir(cacheDir, name);
    witDirs.set(cacheDir, pending);
    pending.catch(() => witDirs.delete(cacheDir));
  }
  return pending;
}

async function generateWitDir(cacheDir: string, name: string): Promise<WitDir> {
  const files = new Map<string, string>();
  for (const rel of await listFiles(GUEST_WIT_DIR)) files.set(rel, await readFile(path.join(GUEST_WIT_DIR, rel), 'utf8'));

  const jcoRoot = await packageRoot('@bytecodealliance/jco', name);
  const builtin = path.join(jcoRoot, 'lib', 'wit', 'builtin', JCO_WIT_VERSION);
  let packages: string[];
  try {
    packages = (await readdir(builtin, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: the installed jco has no WASI ${JCO_WIT_VERSION} WIT at ${builtin}; update JCO_WIT_VERSION in server/build/guest-builder.ts`, { cause: error });
  }
  for (const pkg of packages) {
    const rel = path.join('deps', pkg, 'package.wit');
    // Our own deps/ (e.g. fermyon:spin) win over generated ones of the same name.
    if (files.has(rel)) continue;
    const text = await readFile(path.join(builtin, pkg, 'package.wit'), 'utf8');
    files.set(rel, text.replaceAll(`@${JCO_WIT_VERSION}`, `@${WASI_VERSION}`));
  }

  const h = createHash('sha256');
  for (const rel of [...files.keys()].sort()) h.update(`${rel}\0${files.get(rel) ?? ''}\0`);
  const hash = h.digest('hex');
  const dir = path.join(cacheDir, `wit-${hash.slice(0, 16)}`);
  if (await stat(dir).then(() => true, () => false)) return { dir, hash };

  const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    for (const [rel, text] of files) {
      await mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
      await writeFile(path.join(tmp, rel), text);
    }
    await rename(tmp, dir).catch(async (error: unknown) => {
      // Another process generated the same content first: use theirs.
      if (!(await stat(dir).then(() => true, () => false))) throw error;
    });
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: cannot write the generated WIT to ${dir}: ${errorText(error)}`, { cause: error });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir, hash };
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** Runs componentize-js in a child process and waits for it to write job.outFile. */
function componentizeInChild(job: ComponentizeJob, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [thisFile, CHILD_FLAG, JSON.stringify(job)], {
      // Wizer's stdout is inherited from the child; keep it off ours (tap parses stdout).
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      // Keep the tail: that is where the tool's error is.
      output = (output + chunk.toString('utf8')).slice(-16_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => reject(new GuestBuildError(`guest ${name}: cannot start componentize-js: ${error.message}`, { cause: error })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new GuestBuildError(`guest ${name}: componentize-js failed (${signal ?? `exit code ${code}`}):\n${output.trim()}`));
    });
  });
}

/** The child side: componentize job.sourcePath and write the component to job.outFile. */
async function runComponentizeJob(job: ComponentizeJob): Promise<void> {
  // componentize-js runs its splicer on preview2-shim, which (from 0.26) sees no files until preopened;
  // it reads the source and the WIT by absolute path.
  // Typed by hand: TypeScript resolves this subpath to the browser build's types, Node to the Node build.
  const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as unknown as {
    _setPreopens(preopens: Record<string, string>): void;
  };
  _setPreopens({ '/': '/' });
  if (job.kind === 'core') {
    // What wasm-tools component embed + new do: attach the world's type information, then turn the
    // module into a component, adapting its WASI preview1 imports to WASI 0.2 (reactor: no main).
    const jco = await import('@bytecodealliance/jco');
    const embedded = await jco.componentEmbed({ binary: await readFile(job.sourcePath), witPath: job.witPath, world: job.worldName });
    const adapter = await readFile(jco.preview1AdapterReactorPath());
    await writeFile(job.outFile, await jco.componentNew(embedded, [['wasi_snapshot_preview1', adapter]]));
    return;
  }
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const { component } = await componentize({ sourcePath: job.sourcePath, witPath: job.witPath, worldName: job.worldName });
  await writeFile(job.outFile, component);
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

async function importTool<T>(specifier: string, name: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: cannot load ${specifier} (a dependency of spinet; run npm install in spinet's directory): ${errorText(error)}`, { cause: error });
  }
}

async function packageRoot(specifier: string, name: string): Promise<string> {
  let dir: string;
  try {
    dir = path.dirname(fileURLToPath(import.meta.resolve(specifier)));
  } catch (error) {
    throw new GuestBuildError(`guest ${name}: cannot find ${specifier} (a dependency of spinet; run npm install in spinet's directory): ${errorText(error)}`, { cause: error });
  }
  for (;;) {
    const manifest = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined);
    if (manifest !== undefined && (JSON.parse(manifest) as { name?: unknown }).name === specifier) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new GuestBuildError(`guest ${name}: cannot find the package.json of ${specifier}`);
    dir = parent;
  }
}

async function packageVersion(specifier: string, name: string): Promise<string> {
  const root = await packageRoot(specifier, name);
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return String(version);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Entry point of the componentize child process (spawned by componentizeInChild above).
if (process.argv[2] === CHILD_FLAG && process.argv[1] !== undefined && path.resolve(process.argv[1]) === thisFile) {
  runComponentizeJob(JSON.parse(process.argv[3] ?? '{}') as ComponentizeJob).catch((error: unknown) => {
    process.stderr.write(`${errorText(error)}\n`);
    process.exitCode = 1;
  });
}
