/**
 * Rewriting a core module to import its memory: the result is valid, imports exactly one memory with
 * the original limits (or a cap), keeps every export; modules it cannot handle are left alone. And
 * through the executor: a recycled memory is zeroed before the next instance sees it.
 */
import t from 'tap';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { importMemory, MEMORY_IMPORT, withImportedMemory } from '../../server/wasm/memory-import.js';
import { planComponent } from '../../server/wasm/component-plan.js';
import { digestOf } from '../../server/wasm/component-loader.js';
import { repoRoot, sharedWasm, testGateway } from '../helpers/gateway.js';
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

// ───────── the rewrite on real components, against a reference encoding written out plainly ─────────

/** An unsigned LEB128 reader over `b` from `at`: [value, next position]. */
function uleb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  for (let shift = 0; ; shift += 7) {
    const x = b[at++]!;
    v += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return [v, at];
  }
}
function sleb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  let x: number;
  do {
    x = b[at++]!;
    v |= (x & 0x7f) << shift;
    shift += 7;
  } while (x & 0x80);
  return [shift < 32 && x & 0x40 ? v | (-1 << shift) : v, at];
}
function enc(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/** What importMemory must produce for a module with one defined memory, built the obvious way. */
function reference(m: Uint8Array): { bytes: Buffer; initial: number; maximum?: number; dataRanges: Array<[number, number]> } {
  const sections: Array<{ id: number; start: number; body: number; end: number }> = [];
  for (let at = 8; at < m.length; ) {
    const [size, body] = uleb(m, at + 1);
    sections.push({ id: m[at]!, start: at, body, end: body + size });
    at = body + size;
  }
  const mem = sections.find((s) => s.id === 5)!;
  const flags = m[uleb(m, mem.body)[1]]!;
  const [initial, afterMin] = uleb(m, uleb(m, mem.body)[1] + 1);
  const maximum = flags === 1 ? uleb(m, afterMin)[0] : undefined;
  const name = (s: string): number[] => [...enc(s.length), ...Buffer.from(s)];
  const entry = [...name('spinet'), ...name('memory'), 0x02, ...(maximum === undefined ? [0x00, ...enc(initial)] : [0x01, ...enc(initial), ...enc(maximum)])];
  const imp = sections.find((s) => s.id === 2);
  const body = imp ? (() => {
    const [count, rest] = uleb(m, imp.body);
    return [...enc(count + 1), ...m.subarray(rest, imp.end), ...entry];
  })() : [1, ...entry];
  const importSection = Buffer.from([0x02, ...enc(body.length), ...body]);
  const parts: Buffer[] = [Buffer.from(m.subarray(0, 8))];
  let placed = false;
  for (const s of sections) {
    if (s.id === 5) continue;
    if (s.id === 2 || (!placed && s.id !== 0 && s.id !== 1)) {
      parts.push(importSection);
      placed = true;
      if (s.id === 2) continue;
    }
    parts.push(Buffer.from(m.subarray(s.start, s.end)));
  }
  if (!placed) parts.push(importSection);
  const ranges: Array<[number, number]> = [];
  const data = sections.find((s) => s.id === 11);
  if (data) {
    let [n, at] = uleb(m, data.body);
    for (; n > 0; n--) {
      let f: number;
      [f, at] = uleb(m, at);
      let offset = 0;
      if (f !== 1) {
        if (f === 2) at = uleb(m, at)[1];
        [offset, at] = sleb(m, at + 1);
        at++;
      }
      let len: number;
      [len, at] = uleb(m, at);
      at += len;
      if (f !== 1 && len > 0) ranges.push([offset >>> 0, (offset >>> 0) + len]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const dataRanges: Array<[number, number]> = [];
  for (const [a, b] of ranges) {
    const last = dataRanges[dataRanges.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else dataRanges.push([a, b]);
  }
  return { bytes: Buffer.concat(parts), initial, ...(maximum === undefined ? {} : { maximum }), dataRanges };
}

const realComponents = [
  path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm'),
  path.join(repoRoot, 'test', 'fixtures', 'spin-js-sdk', 'dist', 'spin-kv-guest.wasm'),
  sharedWasm('hello_wasi_http.wasm'),
];

t.test('on real components the rewrite is the reference encoding, copied or in place, and the component is left as it was', async (t) => {
  for (const file of realComponents) {
    const component = await readFile(file);
    const before = digestOf(component);
    let rewritten = 0;
    for (const [name, core] of planComponent(component).files) {
      const label = `${path.basename(file)} ${name}`;
      const copied = importMemory(core);
      let seen: Buffer | undefined;
      const inPlace = withImportedMemory(core, component, undefined, (b) => {
        seen = Buffer.from(b);
        return b.buffer === component.buffer;
      });
      if (!copied) {
        t.equal(inPlace, undefined, `${label}: kept by both`);
        continue;
      }
      rewritten++;
      const ref = reference(core);
      t.ok(Buffer.from(copied.bytes).equals(ref.bytes), `${label}: importMemory gives the reference bytes`);
      t.ok(seen?.equals(ref.bytes), `${label}: withImportedMemory hands over the same bytes`);
      t.ok(inPlace?.result, `${label}: without copying the module (a view into the component)`);
      t.same(copied.memory, { initial: ref.initial, ...(ref.maximum === undefined ? {} : { maximum: ref.maximum }), dataRanges: ref.dataRanges }, `${label}: limits and data ranges`);
      t.same(inPlace?.memory, copied.memory);
    }
    t.ok(rewritten > 0, `${path.basename(file)}: some module was rewritten`);
    t.equal(digestOf(component), before, `${path.basename(file)}: the component bytes are unchanged`);
  }
});

t.test('the borrowed bytes are put back when the callback throws, and a module without room before it is copied', async (t) => {
  const component = await readFile(realComponents[2]!);
  const before = digestOf(component);
  const [, core] = [...planComponent(component).files].find(([, c]) => importMemory(c))!;
  t.throws(() => withImportedMemory(core, component, undefined, () => {
    throw new Error('boom');
  }), /boom/);
  t.equal(digestOf(component), before, 'unchanged after a throw');
  const alone = Buffer.from(core); // its own buffer: nothing before it to borrow
  const r = withImportedMemory(alone, alone, 7, (b) => Buffer.from(b));
  t.ok(r?.result.equals(Buffer.from(importMemory(alone, 7)!.bytes)), 'the same bytes, from a copy');
  t.equal(r?.memory.maximum, importMemory(alone, 7)!.memory.maximum, 'and the cap applies');
});

t.test('WebAssembly.compile copies its argument before returning (withImportedMemory relies on it)', async (t) => {
  const bytes = Buffer.from(await wat('(module (func (export "answer") (result i32) i32.const 42))'));
  const compiling = WebAssembly.compile(bytes);
  bytes.fill(0xff);
  const m = await compiling;
  t.equal((new WebAssembly.Instance(m).exports.answer as () => number)(), 42);
});
