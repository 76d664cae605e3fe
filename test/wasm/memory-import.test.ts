/**
 * Rewriting a core module to import its memory: the result is valid, imports exactly one memory with
 * the original limits (or a cap), keeps every export; modules it cannot handle are left alone. And
 * through the executor: a recycled memory is zeroed before the next instance sees it.
 */
import t from 'tap';
import path from 'node:path';
import { importMemory, MEMORY_IMPORT } from '../../server/wasm/memory-import.js';
import { testGateway } from '../helpers/gateway.js';
import { watComponent } from '../helpers/wat-components.js';

async function wat(text: string): Promise<Uint8Array> {
  const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as { _setPreopens: (p: Record<string, string>) => void };
  _setPreopens({ '/': '/' });
  const jco = (await import('@bytecodealliance/jco')) as unknown as { parse(w: string): Promise<Uint8Array> };
  return jco.parse(text);
}

t.test('a module with imports and a defined memory gets a memory import with the same limits', async (t) => {
  const bytes = await wat('(module (import "env" "f" (func $f)) (memory (export "memory") 2 10) (data (i32.const 16) "hi") (func (export "run") (call $f)))');
  const r = importMemory(bytes);
  t.ok(r, 'rewritten');
  t.same(r!.memory, { initial: 2, maximum: 10, dataRanges: [[16, 18]] });
  t.ok(WebAssembly.validate(r!.bytes), 'the result validates');
  const m = new WebAssembly.Module(r!.bytes);
  t.same(WebAssembly.Module.imports(m), [
    { module: 'env', name: 'f', kind: 'function' },
    { module: MEMORY_IMPORT.module, name: MEMORY_IMPORT.name, kind: 'memory' },
  ]);
  t.same(WebAssembly.Module.exports(m).map((e) => e.name).sort(), ['memory', 'run']);
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 10 });
  const inst = new WebAssembly.Instance(m, { env: { f: () => {} }, spinet: { memory } });
  t.equal(inst.exports.memory, memory, 'the instance uses the memory it was given');
  t.equal(Buffer.from(memory.buffer, 16, 2).toString(), 'hi', 'data segments are copied into it');
});

t.test('a module without an import section gets one, and a cap lowers the maximum', async (t) => {
  const bytes = await wat('(module (memory 1) (func (export "x")))');
  const r = importMemory(bytes, 4);
  t.same(r?.memory, { initial: 1, maximum: 4, dataRanges: [] });
  t.ok(WebAssembly.validate(r!.bytes));
  t.same(WebAssembly.Module.imports(new WebAssembly.Module(r!.bytes)), [{ module: 'spinet', name: 'memory', kind: 'memory' }]);
  t.same(importMemory(bytes, 0)?.memory, { initial: 1, maximum: 1, dataRanges: [] }, 'a cap below the initial size keeps the initial size');
});

t.test('modules it cannot rewrite are left alone', async (t) => {
  const cases: Array<[string, string]> = [
    ['no memory', '(module (func (export "x")))'],
    ['an imported memory', '(module (import "env" "memory" (memory 1)) (func (export "x")))'],
    ['a shared memory', '(module (memory 1 2 shared))'],
  ];
  for (const [name, text] of cases) {
    let bytes: Uint8Array;
    try {
      bytes = await wat(text);
    } catch {
      t.pass(`${name}: not expressible here`);
      continue;
    }
    t.equal(importMemory(bytes), undefined, name);
  }
  t.equal(importMemory(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 0xff])), undefined, 'a truncated module');
});

t.test('every instance starts with zeroed memory, although the executor recycles memories', async (t) => {
  const dirty = await watComponent('dirty-memory');
  const dir = t.testdir({ 'spin.toml': `spin_manifest_version = 2\n[application]\nname = "dirty"\n[[trigger.http]]\nroute = "/..."\ncomponent = "dirty"\n[component.dirty]\nsource = ${JSON.stringify(dirty)}\n` });
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_WORKERS: '1' }, logs);
  t.teardown(() => gw.close());
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await gw.fastify.inject({ method: 'GET', url: '/' })).statusCode);
  await new Promise((r) => setTimeout(r, 100));
  t.same(statuses, Array(10).fill(500), 'each run ends without a response, as the guest is written');
  t.equal(logs.filter((l) => l.msg === 'guest finished').length, 10, 'every run returned normally');
  t.equal(logs.filter((l) => l.msg === 'guest failed' && l.outcome === 'trap').length, 0, 'no instance found the value a previous one left behind');
});

t.test('data segments are intact in every instance: the reset skips what instantiation rewrites, and only that', async (t) => {
  const dirty = await watComponent('dirty-data');
  const core = importMemory(await wat('(module (memory 1) (data (i32.const 8192) "abc") (data (i32.const 100) "xy") (data "passive"))'));
  t.same(core?.memory.dataRanges, [[100, 102], [8192, 8195]], 'active segments with constant offsets, sorted; passive ones left out');
  const dynamic = importMemory(await wat('(module (import "env" "base" (global $b i32)) (memory 1) (data (global.get $b) "abc"))'));
  t.equal(dynamic?.memory.dataRanges, undefined, 'an offset that is not a constant: no ranges, so the whole memory is zeroed');
  const dir = t.testdir({ 'spin.toml': `spin_manifest_version = 2\n[application]\nname = "dirty"\n[[trigger.http]]\nroute = "/..."\ncomponent = "dirty"\n[component.dirty]\nsource = ${JSON.stringify(dirty)}\n` });
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_WORKERS: '1' }, logs);
  t.teardown(() => gw.close());
  for (let i = 0; i < 10; i++) await gw.fastify.inject({ method: 'GET', url: '/' });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(logs.filter((l) => l.msg === 'guest finished').length, 10, 'every run found its data segment restored and the rest zeroed');
  t.equal(logs.filter((l) => l.msg === 'guest failed').length, 0);
});

t.test('the instance memory cap is enforced: growing past it fails the guest, under it succeeds', async (t) => {
  const grow = await watComponent('grow-memory');
  const dir = t.testdir({ 'spin.toml': `spin_manifest_version = 2\n[application]\nname = "grow"\n[[trigger.http]]\nroute = "/..."\ncomponent = "grow"\n[component.grow]\nsource = ${JSON.stringify(grow)}\n` });
  const outcomes = async (cap: string): Promise<unknown[]> => {
    const logs: Array<Record<string, unknown>> = [];
    // A separate disk cache per cap is not needed: the cap is applied when core modules are compiled.
    const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_WORKERS: '1', SPINET_MAX_INSTANCE_MEMORY: cap }, logs);
    try {
      const r = await gw.fastify.inject({ method: 'GET', url: '/' });
      t.equal(r.statusCode, 500, `cap ${cap}: the guest never responds either way`);
      await new Promise((res) => setTimeout(res, 100));
      return logs.filter((l) => l.msg === 'guest failed' || l.msg === 'guest finished').map((l) => l.outcome ?? 'ok');
    } finally {
      await gw.close();
    }
  };
  t.same(await outcomes(String(64 * 1024 * 1024)), ['trap'], 'with a 64 MiB cap the 188 MiB grow is refused and the guest traps');
  t.same(await outcomes(String(1024 * 1024 * 1024)), ['ok'], 'with a 1 GiB cap the same grow succeeds');
});
