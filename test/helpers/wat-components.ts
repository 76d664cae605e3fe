/**
 * Tiny hand-written WebAssembly components for failure tests: a wasi:http handler whose body is a few
 * WAT instructions (loop forever, trap, return without responding). Built with jco's wasm-tools
 * (parse → embed the wasi:http world → component new) in milliseconds, cached under .spinet/.
 * The WIT comes from the installed jco package (never copied into the repo).
 */
import { mkdir, writeFile, cp, readdir, access, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from './gateway.js';

const outDir = path.join(repoRoot, '.spinet', 'test-wat');
const witDir = path.join(outDir, 'wit-2');

/** Handler bodies by name: WAT instructions for `handle(request, response-out)`. */
export const WAT_HANDLERS = {
  /** Never returns: the executor must stop it at the deadline. */
  loop: '(loop $l (br $l))',
  /** A genuine Wasm trap. */
  trap: 'unreachable',
  /** Returns without setting the response outparam: Spin answers 500. */
  'no-response': 'nop',
  /**
   * Traps if it finds a value an earlier instance left in linear memory (beyond any data segment),
   * then leaves one there itself and returns without responding. Proves each instance's memory
   * starts zeroed even when the executor recycles memories.
   */
  /** Grows its memory by 3000 pages (~188 MiB) and traps if the host refuses; else returns without responding. */
  'grow-memory': '(if (i32.eq (memory.grow (i32.const 3000)) (i32.const -1)) (then unreachable))',
  /** Calls wasi:cli/exit with an error status from inside the handler. */
  exit: '(call $exit (i32.const 1))',
  /**
   * Its core module has a start function that counts its runs at address 50000; the handler traps
   * unless it ran exactly once for this instance, then returns without responding.
   */
  started: '(if (i32.ne (i32.load (i32.const 50000)) (i32.const 1)) (then unreachable))',
  'dirty-memory': '(if (i32.ne (i32.load (i32.const 60000)) (i32.const 0)) (then unreachable)) (i32.store (i32.const 60000) (i32.const 42))',
  /**
   * Has an 8 KiB data segment of 'Z' at 8192 (which the executor does not zero on reuse, as
   * instantiation rewrites it) and a small one 32 bytes after it: traps unless it finds its data
   * intact and both the 32-byte gap and the memory beyond zero, then spoils all three and returns
   * without responding.
   */
  'dirty-data':
    '(if (i32.ne (i32.load8_u (i32.const 12000)) (i32.const 0x5a)) (then unreachable)) (if (i32.ne (i32.load (i32.const 60000)) (i32.const 0)) (then unreachable)) (if (i32.ne (i32.load (i32.const 16400)) (i32.const 0)) (then unreachable)) (i32.store8 (i32.const 12000) (i32.const 0)) (i32.store (i32.const 60000) (i32.const 42)) (i32.store (i32.const 16400) (i32.const 42))',
} as const;

let witReady: Promise<void> | undefined;

/** Generates the WIT dir once (per process, and atomically across the test processes tap runs in parallel). */
function prepareWit(): Promise<void> {
  witReady ??= generateWit();
  return witReady;
}

async function generateWit(): Promise<void> {
  try {
    await access(path.join(witDir, 'world.wit'));
    return;
  } catch {
    // first use: generate below
  }
  // jco does not export its package.json; its entry point sits in <root>/src/.
  const require = createRequire(import.meta.url);
  let jcoDir = path.dirname(require.resolve('@bytecodealliance/jco'));
  while (!(await access(path.join(jcoDir, 'lib', 'wit', 'builtin')).then(() => true, () => false))) {
    const parent = path.dirname(jcoDir);
    if (parent === jcoDir) throw new Error('cannot find the WIT that @bytecodealliance/jco ships');
    jcoDir = parent;
  }
  const builtin = path.join(jcoDir, 'lib', 'wit', 'builtin', '0.2.12');
  const tmp = `${witDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.join(tmp, 'deps'), { recursive: true });
  for (const pkg of await readdir(builtin)) await cp(path.join(builtin, pkg), path.join(tmp, 'deps', pkg), { recursive: true });
  await writeFile(path.join(tmp, 'world.wit'), 'package spinet:test;\nworld handler {\n  export wasi:http/incoming-handler@0.2.12;\n}\nworld handler-exit {\n  import wasi:cli/exit@0.2.12;\n  export wasi:http/incoming-handler@0.2.12;\n}\n');
  try {
    await rename(tmp, witDir);
  } catch {
    // Another test process won the race (or a stale partial dir exists): use a complete one.
    await rm(tmp, { recursive: true, force: true });
    await access(path.join(witDir, 'world.wit')).catch(async () => {
      await rm(witDir, { recursive: true, force: true });
      return generateWit();
    });
  }
}

/** Path of a built WAT component for one of `WAT_HANDLERS`. */
export async function watComponent(name: keyof typeof WAT_HANDLERS): Promise<string> {
  const file = path.join(outDir, `${name}.wasm`);
  try {
    await access(file);
    return file;
  } catch {
    // build below
  }
  await prepareWit();
  // jco's wasm-tools runs on preview2-shim, which has no filesystem preopens until given some.
  const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as { _setPreopens: (p: Record<string, string>) => void };
  _setPreopens({ '/': '/' });
  const jco = (await import('@bytecodealliance/jco')) as unknown as {
    parse(wat: string): Promise<Uint8Array>;
    componentEmbed(opts: { binary: Uint8Array; witPath: string; world: string }): Promise<Uint8Array>;
    componentNew(binary: Uint8Array, adapters: unknown[]): Promise<Uint8Array>;
  };
  const usesExit = name === 'exit';
  const wat = `(module
    ${usesExit ? '(import "wasi:cli/exit@0.2.12" "exit" (func $exit (param i32)))' : ''}
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)
    ${name === 'started' ? '(func $init (i32.store (i32.const 50000) (i32.add (i32.load (i32.const 50000)) (i32.const 1)))) (start $init)' : ''}
    ${name === 'dirty-data' ? `(data (i32.const 8192) "${'Z'.repeat(8192)}") (data (i32.const 16416) "${'Y'.repeat(16)}")` : ''}
    (func (export "wasi:http/incoming-handler@0.2.12#handle") (param i32 i32) ${WAT_HANDLERS[name]}))`;
  const core = await jco.parse(wat);
  const embedded = await jco.componentEmbed({ binary: core, witPath: witDir, world: usesExit ? 'handler-exit' : 'handler' });
  const component = await jco.componentNew(embedded, []);
  await mkdir(outDir, { recursive: true });
  await writeFile(`${file}.${process.pid}`, component);
  await rename(`${file}.${process.pid}`, file);
  return file;
}

/** A component with no exports at all (not an HTTP handler). */
export async function exportlessComponent(): Promise<string> {
  const file = path.join(outDir, 'exportless.wasm');
  const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as { _setPreopens: (p: Record<string, string>) => void };
  _setPreopens({ '/': '/' });
  const jco = (await import('@bytecodealliance/jco')) as unknown as {
    parse(wat: string): Promise<Uint8Array>;
    componentNew(binary: Uint8Array, adapters: unknown[]): Promise<Uint8Array>;
  };
  const component = await jco.componentNew(await jco.parse('(module (func (export "x")))'), []);
  await mkdir(outDir, { recursive: true });
  await writeFile(file, component);
  return file;
}
