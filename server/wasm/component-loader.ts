/**
 * Turns component bytes into a `PreparedComponent`: jco's instantiation-mode glue (as a script any
 * worker can evaluate) plus every core module compiled once. Transpiled output is kept on disk by
 * digest, so a restart skips jco.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, writeFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComponentCompileError, ComponentExportError, ComponentImportError } from '../errors.js';
import { toGlueScript } from './glue-script.js';
import { SUPPORTED_IMPORTS } from '../host/host-imports.js';
import { withImportedMemory, definesMemory } from './memory-import.js';
import { sectionIds } from './wasm-reader.js';
import type { ImportedMemory } from './memory-import.js';
import { planComponent, UnsupportedComponent } from './component-plan.js';
import type { LinkPlan } from './component-plan.js';

/** A component ready to instantiate: compiled core modules and the glue that links them. */
export interface PreparedComponent {
  /** sha256 of the component bytes, hex. */
  readonly digest: string;
  /**
   * How a worker links it: spinet's own link plan (component-plan.ts, the fast path), or, for
   * components using constructs the plan does not cover, jco's glue as a function-body script
   * (glue-script.ts; empty when `plan` is set).
   */
  readonly plan?: LinkPlan | undefined;
  readonly glue: string;
  /** Which linker serves this component. */
  readonly linker: 'spinet' | 'jco';
  /**
   * Whether a worker may create its instances before their requests arrive: linked by spinet's plan,
   * and no core module has a start function, so instantiating runs no guest code.
   */
  readonly ahead?: boolean;
  readonly modules: ReadonlyArray<readonly [string, WebAssembly.Module]>;
  /** Core modules rewritten to import their memory (see memory-import.ts), with its limits. */
  readonly memories: ReadonlyArray<readonly [string, ImportedMemory]>;
  /** Core modules whose memory could not be imported, so no memory cap applies to them. */
  readonly uncappedModules: readonly string[];
  /** Interfaces the component imports, unversioned (`wasi:io/streams`). */
  readonly imports: readonly string[];
  /** Interfaces the component exports, versioned (`wasi:http/incoming-handler@0.2.1`). */
  readonly exports: readonly string[];
  /** Bytes this entry holds (core module bytes + glue), the LRU's size measure. */
  readonly byteSize: number;
  /** Milliseconds spent transpiling or planning (0 when the disk cache had the transpile) and compiling. */
  readonly transpileMs: number;
  readonly compileMs: number;
}

/** Bumped when the glue transform or on-disk layout changes, so stale caches are ignored. */
const CACHE_FORMAT = 'spinet-glue-1';

interface CacheMeta {
  format: string;
  jcoTranspile: string;
  imports: string[];
  exports: string[];
  modules: string[];
}

let jcoVersion: string | undefined;
async function transpilerVersion(): Promise<string> {
  if (jcoVersion) return jcoVersion;
  // The package does not export its package.json: find it above the resolved entry point.
  let dir = path.dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile')));
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@bytecodealliance/jco-transpile') return (jcoVersion = pkg.version);
    } catch {
      // not here; keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (jcoVersion = 'unknown');
    dir = parent;
  }
}

/**
 * Size of the ranges a component file is read in. Two are in flight at once, so two libuv threads
 * fault in the destination's pages side by side while the main thread hashes the ranges already
 * read. For the 13 MiB hello component on the 2-core VM (fresh processes, medians of 9-11), 512 KiB,
 * 1 MiB and 2 MiB ranges, three or four in flight, and smaller ranges at the start and end all came
 * within noise of each other (47-50 ms read + hash, against 51 ms for two halves, then hashing);
 * 1 MiB leaves a small last range to hash after the last read.
 */
export const COMPONENT_READ_RANGE = 2 ** 20;
const READS_IN_FLIGHT = 2;

/** A component file's bytes and their sha256 (hex), the digest `digestOf` gives for those bytes. */
export interface ComponentFile {
  readonly bytes: Buffer;
  readonly digest: string;
}

/**
 * The bytes of a component file, as `fs.promises.readFile` would return them, and their sha256.
 * The file is read in `COMPONENT_READ_RANGE` ranges of the size `fstat` reports, two at a time,
 * instead of readFile's 512 KiB chunks one after another, and each range is fed to the hash as soon
 * as it and every range before it have arrived, so hashing overlaps the reads still under way
 * instead of following the whole read (the hash is ~25 ms of main-thread time for a 13 MiB
 * component on the 2-core VM, two thirds of it the first touch of freshly read pages). Page faults
 * make both sides CPU-bound, so this gains ~10% (read + hash 51 → 46 ms), not the whole hash.
 * `crypto.subtle.digest` is no help: it is one-shot, so it cannot start before the read ends, and
 * it copies its input first (twice the page faults: 93 ms against 55 in the same run). Nor is a
 * worker hashing a SharedArrayBuffer: starting one in a fresh process costs more than the hash
 * (112 ms in all).
 *
 * Anything not a regular file with a known size is read by readFile's own loop, then hashed. A file
 * that shrinks under the read is returned as far as it went, as readFile returns it (up to where
 * the first range that came back short ended), with the digest of what is returned. Errors are
 * readFile's (same codes and messages: open, fstat and read fail alike).
 */
export async function readComponentFileWithDigest(file: string): Promise<ComponentFile> {
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat();
    const size = st.size;
    // readFile's own limit and error for huge files, and its loop for pipes and /proc-like files.
    if (!st.isFile() || size === 0 || size > 2 ** 31 - 1) {
      const bytes = await fh.readFile();
      return { bytes, digest: digestOf(bytes) };
    }
    const buf = Buffer.allocUnsafeSlow(size);
    const ranges = Math.ceil(size / COMPONENT_READ_RANGE);
    const rangeEnd = (i: number): number => Math.min(size, (i + 1) * COMPONENT_READ_RANGE);
    // Where each range's read stopped (rangeEnd when it came back whole), once it has arrived.
    const arrived = new Array<number | undefined>(ranges);
    const hash = createHash('sha256');
    let hashed = 0; // ranges fed to the hash
    let length = size; // where the file turned out to end
    let failure: { err: unknown } | undefined;
    let next = 0; // the next range to start reading

    const readRange = async (i: number): Promise<number> => {
      const to = rangeEnd(i);
      let at = i * COMPONENT_READ_RANGE;
      while (at < to) {
        const { bytesRead } = await fh.read(buf, at, to - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return at;
    };
    // Feeds the hash every range whose predecessors have all arrived, in file order. The first range
    // that came back short is where the file ended: nothing after it is hashed or returned.
    const feed = (): void => {
      while (hashed < ranges && length === size) {
        const end = arrived[hashed];
        if (end === undefined) return;
        hash.update(buf.subarray(hashed * COMPONENT_READ_RANGE, end));
        if (end < rangeEnd(hashed)) length = end;
        hashed++;
      }
    };
    // A lane keeps one read in flight, range after range; it starts its next read before hashing,
    // so the thread pool does not wait for the main thread.
    const lane = async (): Promise<void> => {
      try {
        let i = next++;
        let reading = i < ranges ? readRange(i) : undefined;
        while (reading) {
          const end = await reading;
          arrived[i] = end;
          if (end < rangeEnd(i)) next = ranges; // the file ends here: start no more ranges
          i = next++;
          reading = failure === undefined && i < ranges ? readRange(i) : undefined;
          feed();
        }
      } catch (err) {
        failure ??= { err };
        next = ranges;
      }
    };
    // Every lane settles before this returns or throws, so no read is left writing into `buf`; by
    // then every range up to the file's end has arrived and been fed to the hash.
    await Promise.all(Array.from({ length: READS_IN_FLIGHT }, lane));
    if (failure) throw failure.err;
    const bytes = length === size ? buf : buf.subarray(0, length);
    return { bytes, digest: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

/** sha256 hex of component bytes: the identity of a component everywhere in spinet. */
export function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Why a file is not a component, or undefined if its header says it is one. */
export function componentHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    return 'it is not a WebAssembly file (no \\0asm header)';
  }
  if (bytes[4] === 1 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) {
    return 'it is a core WebAssembly module, not a component; build it as a component (cargo component, componentize-js, or wasm-tools component new)';
  }
  if (!(bytes[6] === 1 && bytes[7] === 0)) return 'it has an unknown WebAssembly layer/version';
  return undefined;
}

interface Transpiled {
  glue: string;
  files: Map<string, Uint8Array>;
  imports: string[];
  exports: string[];
  transpileMs: number;
}

async function transpileCached(bytes: Uint8Array, digest: string, cacheDir: string | undefined, label: string): Promise<Transpiled> {
  const version = await transpilerVersion();
  const dir = cacheDir ? path.join(cacheDir, `${digest}`) : undefined;
  if (dir) {
    try {
      const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as CacheMeta;
      if (meta.format === CACHE_FORMAT && meta.jcoTranspile === version) {
        const glue = await readFile(path.join(dir, 'glue.js'), 'utf8');
        const files = new Map<string, Uint8Array>();
        for (const name of meta.modules) files.set(name, await readFile(path.join(dir, name)));
        return { glue, files, imports: meta.imports, exports: meta.exports, transpileMs: 0 };
      }
    } catch {
      // Missing or unreadable cache entry: transpile again and rewrite it.
    }
  }
  const started = performance.now();
  let result: { files: Record<string, Uint8Array>; imports: string[]; exports: Array<[string, string]> };
  try {
    const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
    result = (await transpileBytes(bytes, {
      name: 'component',
      instantiation: 'sync',
      emitTypescriptDeclarations: false,
      noComponentErrorWrapping: true,
    })) as typeof result;
  } catch (err) {
    throw new ComponentCompileError(`${label}: jco could not transpile the component: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
  const transpileMs = performance.now() - started;
  let glueSource: string | undefined;
  const files = new Map<string, Uint8Array>();
  for (const [name, content] of Object.entries(result.files)) {
    if (name.endsWith('.js')) glueSource = Buffer.from(content).toString('utf8');
    else if (name.endsWith('.wasm')) files.set(name, content);
  }
  if (!glueSource) throw new ComponentCompileError(`${label}: jco produced no JavaScript glue`);
  const glue = toGlueScript(glueSource, label);
  const exports = result.exports.filter(([, kind]) => kind === 'instance').map(([name]) => name).filter((n) => n.includes(':'));
  if (dir) await writeCache(dir, { glue, files, imports: result.imports, exports, version });
  return { glue, files, imports: result.imports, exports, transpileMs };
}

async function writeCache(dir: string, c: { glue: string; files: Map<string, Uint8Array>; imports: string[]; exports: string[]; version: string }): Promise<void> {
  // Write to a temp dir and rename, so a crash mid-write never leaves a half entry that looks valid.
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(tmp, { recursive: true });
    await writeFile(path.join(tmp, 'glue.js'), c.glue);
    for (const [name, content] of c.files) await writeFile(path.join(tmp, name), content);
    const meta: CacheMeta = { format: CACHE_FORMAT, jcoTranspile: c.version, imports: c.imports, exports: c.exports, modules: [...c.files.keys()] };
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify(meta));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch {
    // The disk cache is an optimisation: failing to write it must not fail the load.
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * `SPINET_LINKER=jco` makes every component use jco's glue (for comparison and as an escape hatch);
 * the default uses spinet's linker wherever the component allows and jco's glue elsewhere.
 */
function linkerChoice(): 'spinet' | 'jco' {
  const v = process.env.SPINET_LINKER;
  if (v === undefined || v === '' || v === 'spinet') return 'spinet';
  if (v === 'jco') return 'jco';
  throw new ComponentCompileError(`SPINET_LINKER="${v}" is not a linker spinet knows; use "spinet" (the default) or "jco"`);
}

/** Options for `prepareComponent`. */
export interface PrepareOptions {
  /** Directory for transpiled output by digest; undefined disables the disk cache. */
  readonly cacheDir?: string | undefined;
  /** For messages: which app/component/file this is. */
  readonly label: string;
  /** Cap on each linear memory, in bytes (enforced where the module's memory can be imported). */
  readonly maxInstanceMemory?: number | undefined;
}

/** Transpile (or read from the disk cache), compile every core module, and check imports. */
export async function prepareComponent(bytes: Uint8Array, digest: string, opts: PrepareOptions): Promise<PreparedComponent> {
  const problem = componentHeaderProblem(bytes);
  if (problem) throw new ComponentCompileError(`${opts.label}: ${problem}`);
  let t: Transpiled;
  let plan: LinkPlan | undefined;
  const planStarted = performance.now();
  try {
    if (linkerChoice() === 'jco') throw new UnsupportedComponent('SPINET_LINKER=jco');
    const planned = planComponent(bytes);
    plan = planned.plan;
    t = { glue: '', files: planned.files, imports: planned.imports, exports: planned.exports, transpileMs: performance.now() - planStarted };
  } catch (err) {
    if (!(err instanceof UnsupportedComponent)) throw err;
    t = await transpileCached(bytes, digest, opts.cacheDir, opts.label);
  }
  const unsupported = t.imports.filter((i) => !SUPPORTED_IMPORTS.has(i));
  if (unsupported.length > 0) {
    throw new ComponentImportError(
      `${opts.label}: the component imports ${unsupported.join(', ')}, which spinet does not provide. ` +
        `spinet serves wasi:http, wasi:io, wasi:cli, wasi:clocks, wasi:random and read-only wasi:filesystem (0.2.x); rebuild the component without the others.`,
    );
  }
  const started = performance.now();
  const modules: Array<readonly [string, WebAssembly.Module]> = [];
  const memories: Array<readonly [string, ImportedMemory]> = [];
  const uncappedModules: string[] = [];
  let byteSize = Buffer.byteLength(t.glue);
  try {
    await Promise.all(
      [...t.files].map(async ([name, content]) => {
        const pages = opts.maxInstanceMemory === undefined ? undefined : Math.floor(opts.maxInstanceMemory / 65536);
        // The import keeps only the module's own maximum; the cap is applied to each instance's memory.
        // A planned module lies inside `bytes`: rewritten there, not copied (see withImportedMemory).
        const rewritten = withImportedMemory(content, bytes, undefined, (b) => WebAssembly.compile(b));
        if (rewritten) memories.push([name, pages === undefined ? rewritten.memory : { ...rewritten.memory, capPages: pages }] as const);
        else if (definesMemory(content)) uncappedModules.push(name);
        modules.push([name, await (rewritten ? rewritten.result : WebAssembly.compile(content))] as const);
        byteSize += content.byteLength;
      }),
    );
  } catch (err) {
    throw new ComponentCompileError(`${opts.label}: a core module failed to compile: ${(err as Error).message}`, { cause: err });
  }
  // No start section (id 8) in any core module: instantiating runs no guest code.
  const ahead = plan !== undefined && [...t.files.values()].every((content) => !sectionIds(content).has(8));
  return { digest, plan, glue: t.glue, linker: plan ? 'spinet' : 'jco', ahead, modules, memories, uncappedModules, imports: t.imports, exports: t.exports, byteSize, transpileMs: t.transpileMs, compileMs: performance.now() - started };
}

/** The wasi:http incoming-handler export a component offers, or throws a clear error. */
export function requireHttpHandler(c: PreparedComponent, label: string): string {
  const handler = c.exports.find((e) => /^wasi:http\/incoming-handler@0\.2\.\d+$/.test(e));
  if (!handler) {
    throw new ComponentExportError(
      `${label}: the component does not export wasi:http/incoming-handler@0.2.x (it exports: ${c.exports.join(', ') || 'nothing'}). ` +
        `An HTTP-triggered component must target the wasi:http/proxy world (e.g. componentize-js with a fetch handler, cargo component with wasi-http).`,
    );
  }
  return handler;
}

/** The export a Redis-triggered component must have (Spin's `fermyon:spin/inbound-redis`); its name. */
export function requireRedisHandler(c: PreparedComponent, label: string): string {
  const handler = c.exports.find((e) => /^fermyon:spin\/inbound-redis(@.*)?$/.test(e));
  if (!handler) {
    throw new ComponentExportError(
      `${label}: the component does not export fermyon:spin/inbound-redis (it exports: ${c.exports.join(', ') || 'nothing'}). ` +
        `A Redis-triggered component must export handle-message (Spin's redis trigger world; in JS: export const inboundRedis = { handleMessage(payload) {...} }).`,
    );
  }
  return handler;
}

/** Removes on-disk transpile cache entries that no longer match the current format (best effort). */
export async function pruneTranspileCache(cacheDir: string): Promise<void> {
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.includes('.tmp-')).map((e) => rm(path.join(cacheDir, e), { recursive: true, force: true })));
}
