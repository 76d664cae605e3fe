/**
 * spinet's own component linker (component-plan.ts + component-runtime.ts): canonical-ABI layouts
 * checked against hand-written core code that uses the spec's byte offsets, host calls with
 * resources and results in both of jco's conventions, traps for forged handles, fresh state per
 * instance, the jco fallback for constructs the plan does not cover, and the same responses as jco's
 * glue for real guests.
 */
import t from 'tap';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { planComponent, UnsupportedComponent } from '../../server/wasm/component-plan.js';
import { linkPlan, testCodec, CanonicalAbiError } from '../../server/wasm/component-runtime.js';
import { prepareComponent, digestOf } from '../../server/wasm/component-loader.js';
import type { PreparedComponent } from '../../server/wasm/component-loader.js';
import { buildHostImports, activateInstance } from '../../server/host/host-imports.js';
import { IncomingRequest, ResponseOutparam } from '../../server/host/wasi-http.js';
import { EMPTY_SOURCE } from '../../server/host/wasi-io.js';
import type { ByteSink } from '../../server/host/wasi-io.js';
import { repoRoot } from '../helpers/gateway.js';

async function parseWat(wat: string): Promise<Uint8Array> {
  const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as { _setPreopens: (p: Record<string, string>) => void };
  _setPreopens({ '/': '/' });
  const jco = (await import('@bytecodealliance/jco')) as unknown as { parse(wat: string): Promise<Uint8Array> };
  return jco.parse(wat);
}

const ABI_COMPONENT = `(component
  (import "test:abi/host@1.0.0" (instance $host
    (export "thing" (type $thing (sub resource)))
    (export "make" (func (param "n" u32) (result (own $thing))))
    (export "[method]thing.get" (func (param "self" (borrow $thing)) (result (result u32 (error string)))))
  ))
  (alias export $host "thing" (type $thing))
  (alias export $host "make" (func $make))
  (alias export $host "[method]thing.get" (func $get))
  (core module $libc
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))
  (core func $make-lowered (canon lower (func $make)))
  (core func $get-lowered (canon lower (func $get) (memory $mem) (realloc $realloc)))
  (core func $drop (canon resource.drop $thing))
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "host" "make" (func $make (param i32) (result i32)))
    (import "host" "get" (func $get (param i32 i32)))
    (import "host" "drop" (func $drop (param i32)))
    (global $calls (mut i32) (i32.const 0))
    ;; record { a: u8, b-text: string, c: list<u16> }: a at 0, b at 4 (ptr, len), c at 12; size 20
    (func (export "echo-record") (param i32 i32 i32 i32 i32) (result i32)
      (i32.store8 (i32.const 1024) (local.get 0))
      (i32.store (i32.const 1028) (local.get 1))
      (i32.store (i32.const 1032) (local.get 2))
      (i32.store (i32.const 1036) (local.get 3))
      (i32.store (i32.const 1040) (local.get 4))
      (i32.const 1024))
    ;; variant { a(f32), b(u64), c }: flat [i32, i64]; discriminant u8 at 0, payload at 8; size 16
    (func (export "echo-variant") (param i32 i64) (result i32)
      (i32.store8 (i32.const 1104) (local.get 0))
      (i64.store (i32.const 1112) (local.get 1))
      (i32.const 1104))
    ;; option<char>: discriminant u8 at 0, char at 4
    (func (export "echo-option-char") (param i32 i32) (result i32)
      (i32.store8 (i32.const 1300) (local.get 0))
      (i32.store (i32.const 1304) (local.get 1))
      (i32.const 1300))
    (func (export "use-thing") (param i32) (result i32) (local $h i32)
      (local.set $h (call $make (local.get 0)))
      (call $get (local.get $h) (i32.const 1200))
      (call $drop (local.get $h))
      (i32.const 1200))
    (func (export "forged-handle") (result i32)
      (call $get (i32.const 99) (i32.const 1200))
      (i32.load (i32.const 1204)))
    (func (export "use-after-drop") (result i32) (local $h i32)
      (local.set $h (call $make (i32.const 1)))
      (call $drop (local.get $h))
      (call $get (local.get $h) (i32.const 1200))
      (i32.const 0))
    ;; module state: 1 on a fresh instance, and the memory a fresh instance sees is zero
    (func (export "calls") (result i32)
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (i32.store (i32.const 60000) (i32.add (i32.load (i32.const 60000)) (i32.const 1)))
      (i32.add (global.get $calls) (i32.mul (i32.load (i32.const 60000)) (i32.const 100)))))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance (export "make" (func $make-lowered)) (export "get" (func $get-lowered)) (export "drop" (func $drop))))))
  (type $rec' (record (field "a" u8) (field "b-text" string) (field "c" (list u16))))
  (export $rec "rec" (type $rec'))
  (type $var' (variant (case "a" f32) (case "b" u64) (case "c")))
  (export $var "var" (type $var'))
  (func (export "echo-record") (param "r" $rec) (result $rec) (canon lift (core func $main "echo-record") (memory $mem) (realloc $realloc)))
  (func (export "echo-variant") (param "v" $var) (result $var) (canon lift (core func $main "echo-variant") (memory $mem)))
  (func (export "echo-option-char") (param "c" (option char)) (result (option char)) (canon lift (core func $main "echo-option-char") (memory $mem)))
  (func (export "use-thing") (param "n" u32) (result (result u32 (error string))) (canon lift (core func $main "use-thing") (memory $mem) (realloc $realloc)))
  (func (export "forged-handle") (result u32) (canon lift (core func $main "forged-handle")))
  (func (export "use-after-drop") (result u32) (canon lift (core func $main "use-after-drop")))
  (func (export "calls") (result u32) (canon lift (core func $main "calls")))
)`;

/** The test host: `thing` resources, with two ways of reporting an error. */
function abiHost(log: string[]): Record<string, Record<string, unknown>> {
  class Thing {
    constructor(readonly n: number) {}
    get(): unknown {
      if (this.n >= 1000) throw Object.assign(new Error('boom'), { payload: `${this.n} is far too big` });
      if (this.n >= 100) return { tag: 'err', val: `${this.n} is too big` };
      return this.n * 2;
    }
    [Symbol.dispose](): void {
      log.push(`dispose ${this.n}`);
    }
  }
  return { 'test:abi/host': { Thing, make: (n: number) => new Thing(n) } };
}

type Fn = (...a: unknown[]) => unknown;

async function abiInstance(log: string[]): Promise<() => Record<string, Fn>> {
  const bytes = await parseWat(ABI_COMPONENT);
  const { plan, files } = planComponent(bytes);
  const modules = new Map<string, WebAssembly.Module>();
  for (const [name, b] of files) modules.set(name, await WebAssembly.compile(b));
  const host = abiHost(log);
  const instantiate = linkPlan(plan, host);
  return () => instantiate((n) => modules.get(n)!, host) as unknown as Record<string, Fn>;
}

t.test('canonical ABI layouts match the spec (hand-written core code reads and writes the bytes)', async (t) => {
  const fresh = await abiInstance([]);
  const x = fresh();
  t.same(x.echoRecord!({ a: 200, bText: 'héllo, wörld', c: new Uint16Array([1, 65535, 7]) }), { a: 200, bText: 'héllo, wörld', c: new Uint16Array([1, 65535, 7]) }, 'record with u8, string, list<u16>');
  t.same(x.echoRecord!({ a: 0, bText: '', c: new Uint16Array(0) }), { a: 0, bText: '', c: new Uint16Array(0) }, 'empty string and list');
  t.same(x.echoVariant!({ tag: 'a', val: 1.5 }), { tag: 'a', val: 1.5 }, 'f32 case travels in the joined i64 slot');
  t.same(x.echoVariant!({ tag: 'b', val: 2n ** 64n - 1n }), { tag: 'b', val: 2n ** 64n - 1n }, 'u64 case keeps all 64 bits');
  t.same(x.echoVariant!({ tag: 'c' }), { tag: 'c' }, 'payload-less case');
  t.equal(x.echoOptionChar!('🐈'), '🐈', 'option<char> some (astral code point)');
  t.equal(x.echoOptionChar!(undefined), undefined, 'option<char> none');
  t.throws(() => x.echoVariant!({ tag: 'nope' }), /invalid variant value/, 'unknown tag is refused');
});

t.test('host calls: resources, borrows, drops and results in both error conventions', async (t) => {
  const log: string[] = [];
  const fresh = await abiInstance(log);
  const x = fresh();
  t.equal(x.useThing!(21), 42, 'own handle from the host, borrowed back, ok result lifted from the retptr');
  t.same(log, ['dispose 21'], 'resource.drop disposes the host object');
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return 'nothing thrown';
  };
  t.equal(thrown(() => x.useThing!(150)), '150 is too big', 'host returned { tag: err }: the export throws the payload');
  t.equal(thrown(() => x.useThing!(5000)), '5000 is far too big', 'host threw an error with a payload: same');
  t.same(log, ['dispose 21', 'dispose 150', 'dispose 5000']);
});

t.test('WIT names cannot reach what JavaScript gives every object', async (t) => {
  const bytes = await parseWat(`(component
    (import "test:abi/host@1.0.0" (instance $host
      (export "thing" (type $thing (sub resource)))
      (export "make" (func (param "n" u32) (result (own $thing))))
      (export "[method]thing.to-string" (func (param "self" (borrow $thing)) (result string)))
      (export "constructor" (func (result u32)))))
    (alias export $host "make" (func $make))
    (alias export $host "[method]thing.to-string" (func $str))
    (alias export $host "constructor" (func $ctor))
    (core module $libc (memory (export "memory") 1) (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 64))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "memory" (core memory $mem))
    (alias core export $libc "realloc" (core func $realloc))
    (core func $make-lowered (canon lower (func $make)))
    (core func $str-lowered (canon lower (func $str) (memory $mem) (realloc $realloc)))
    (core func $ctor-lowered (canon lower (func $ctor)))
    (core module $main
      (import "host" "make" (func $make (param i32) (result i32)))
      (import "host" "str" (func $str (param i32 i32)))
      (import "host" "ctor" (func $ctor (result i32)))
      (func (export "to-string") (call $str (call $make (i32.const 1)) (i32.const 128)))
      (func (export "ctor") (drop (call $ctor))))
    (core instance $main (instantiate $main (with "host" (instance (export "make" (func $make-lowered)) (export "str" (func $str-lowered)) (export "ctor" (func $ctor-lowered))))))
    (func (export "to-string") (canon lift (core func $main "to-string")))
    (func (export "ctor") (canon lift (core func $main "ctor"))))`);
  const { plan, files } = planComponent(bytes);
  const modules = new Map<string, WebAssembly.Module>();
  for (const [name, b] of files) modules.set(name, await WebAssembly.compile(b));
  const host = abiHost([]);
  const x = linkPlan(plan, host)((n) => modules.get(n)!, host) as unknown as Record<string, Fn>;
  t.throws(() => x.toString!(), /does not provide test:abi\/host#\[method\]thing.to-string/, 'Object.prototype.toString is not a host method');
  t.throws(() => x.ctor!(), /does not provide test:abi\/host#constructor/, 'nor is the namespace object\'s constructor');
});

t.test('a guest cannot forge or reuse handles: it traps', async (t) => {
  const fresh = await abiInstance([]);
  t.throws(() => fresh().forgedHandle!(), CanonicalAbiError, 'a handle number the guest never received');
  t.throws(() => fresh().useAfterDrop!(), /unknown handle/, 'a handle after its resource was dropped');
});

t.test('every instance starts fresh: globals and memory', async (t) => {
  const fresh = await abiInstance([]);
  const a = fresh();
  t.equal(a.calls!(), 101, 'first call on a new instance');
  t.equal(a.calls!(), 202, 'the same instance keeps its state');
  t.equal(fresh().calls!(), 101, 'a new instance does not see the old one');
});

t.test('constructs outside the plan fall back to jco glue, which still serves them', async (t) => {
  const guestResource = await parseWat(`(component
    (type $r (resource (rep i32)))
    (core module $m (func (export "f") (result i32) i32.const 7))
    (core instance $i (instantiate $m))
    (func (export "f") (result u32) (canon lift (core func $i "f"))))`);
  t.throws(() => planComponent(guestResource), UnsupportedComponent);
  const prepared = await prepareComponent(guestResource, digestOf(guestResource), { label: 'guest-resource' });
  t.equal(prepared.linker, 'jco');
  t.ok(prepared.glue.length > 0, 'jco glue is there instead');
});

/** Calls a wasi:http component's handler once, in process, and returns status, headers and body. */
function callHandler(c: PreparedComponent): { status: number; headers: string[]; body: string } {
  const host = buildHostImports();
  const modules = new Map(c.modules);
  const memories = new Map(c.memories);
  const instantiate = c.plan
    ? linkPlan(c.plan, host)
    : ((new Function(c.glue) as () => (...a: unknown[]) => Record<string, Record<string, Fn>>)() as unknown as ReturnType<typeof linkPlan>);
  const chunks: Buffer[] = [];
  const sink = (keep: boolean): ByteSink => ({ ready: () => true, block: () => {}, capacity: () => 65536, write: (b) => void (keep && chunks.push(Buffer.from(b))), flush: () => {} });
  let status = 0;
  let headers: string[] = [];
  activateInstance({ waiter: { waitAny: () => false, prime: () => {} }, cli: { environment: [], stdout: sink(false), stderr: sink(false) }, filesystem: undefined });
  try {
    const exports = instantiate(
      (n) => modules.get(n)!,
      host,
      (m, i) => {
        const name = [...modules].find(([, mm]) => mm === m)![0];
        const spec = memories.get(name);
        return new WebAssembly.Instance(m, spec ? { ...i, spinet: { memory: new WebAssembly.Memory({ initial: spec.initial, ...(spec.maximum ? { maximum: spec.maximum } : {}) }) } } : i);
      },
    );
    const handler = Object.keys(exports).find((k) => k.startsWith('wasi:http/incoming-handler'))!;
    exports[handler]!.handle!(
      new IncomingRequest({ method: 'GET', pathWithQuery: '/hello?x=1', scheme: 'http', authority: 'test', headers: ['x-test', 'yes'] }, EMPTY_SOURCE),
      new ResponseOutparam({ head: (s, h) => ((status = s), (headers = h)), error: () => {}, body: sink(true), end: () => {}, abort: () => {} }),
    );
  } finally {
    activateInstance(undefined);
  }
  return { status, headers, body: Buffer.concat(chunks).toString('utf8') };
}

t.test('real guests answer the same through spinet’s linker as through jco’s glue', async (t) => {
  const files = [path.resolve(repoRoot, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm'), path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm'), path.join(repoRoot, 'components', 'spin-headers', 'dist', 'spin-headers.wasm')];
  for (const file of files) {
    const bytes = await readFile(file);
    const ours = await prepareComponent(bytes, digestOf(bytes), { label: file });
    t.equal(ours.linker, 'spinet', `${path.basename(file)} is served by spinet's linker`);
    const previous = process.env.SPINET_LINKER;
    process.env.SPINET_LINKER = 'jco';
    let theirs: PreparedComponent;
    try {
      theirs = await prepareComponent(bytes, digestOf(bytes), { label: file });
    } finally {
      if (previous === undefined) delete process.env.SPINET_LINKER;
      else process.env.SPINET_LINKER = previous;
    }
    t.equal(theirs.linker, 'jco');
    const a = callHandler(ours);
    const b = callHandler(theirs);
    t.equal(a.status, 200, `${path.basename(file)} answers 200`);
    t.ok(a.body.length > 0, 'with a body');
    t.same(a, b, `${path.basename(file)}: identical status, headers and body`);
  }
});

t.test('SPINET_LINKER rejects unknown values with a clear error', async (t) => {
  const bytes = await readFile(path.resolve(repoRoot, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm'));
  process.env.SPINET_LINKER = 'fast';
  try {
    await t.rejects(prepareComponent(bytes, digestOf(bytes), { label: 'x' }), /SPINET_LINKER="fast".*"spinet".*"jco"/);
  } finally {
    delete process.env.SPINET_LINKER;
  }
});

t.test('codec sizes and alignments follow the canonical ABI', async (t) => {
  const u8 = { k: 'u8' } as const;
  const u64 = { k: 'u64' } as const;
  const str = { k: 'string' } as const;
  t.match(testCodec({ k: 'record', fields: [{ js: 'a', type: u8 }, { js: 'b', type: u64 }] }).codec, { size: 16, align: 8, flat: ['i32', 'i64'] });
  t.match(testCodec({ k: 'option', of: str }).codec, { size: 12, align: 4, flat: ['i32', 'i32', 'i32'] });
  t.match(testCodec({ k: 'flags', js: Array.from({ length: 9 }, (_, i) => `f${i}`) }).codec, { size: 2, align: 2, flat: ['i32'] });
  t.match(testCodec({ k: 'flags', js: Array.from({ length: 40 }, (_, i) => `f${i}`) }).codec, { size: 8, align: 4, flat: ['i32', 'i32'] });
  t.match(testCodec({ k: 'variant', cases: [{ name: 'a', type: { k: 'f32' } }, { name: 'b', type: { k: 's32' } }] }).codec, { size: 8, align: 4, flat: ['i32', 'i32'] });
  t.match(testCodec({ k: 'result', ok: { k: 'f64' } }).codec, { size: 16, align: 8, flat: ['i32', 'f64'] });
  // flags round-trip through memory
  const flags = testCodec({ k: 'flags', js: Array.from({ length: 40 }, (_, i) => `f${i}`) });
  const memory = new WebAssembly.Memory({ initial: 1 });
  const c = flags.context(memory, () => 0);
  const v = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i % 3 === 0]));
  flags.codec.store(c, v, 64);
  t.same(flags.codec.load(c, 64), v);
  t.equal(new DataView(memory.buffer).getUint32(64, true), 0b01001001001001001001001001001001, 'bit i is flag i');
});

/**
 * wit-component's shape for the cycle between a main module and the functions it imports that need
 * its memory: a shim module calling through a table, an adapter created after main, and a fixup
 * filling the table. `$T` is the adapter function's value type, `$EXTRA` an instruction added to a
 * shim body (both vary the shape the elision must recognise or refuse), `$ADAPTER` more adapter fields.
 */
const SHIM_COMPONENT = `(component
  (import "test:abi/host@1.0.0" (instance $host (export "echo" (func (param "s" string) (result string)))))
  (alias export $host "echo" (func $echo))
  (core module $shim
    (table (export "$imports") 2 2 funcref)
    (func (export "0") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 $EXTRA i32.const 0 call_indirect (param i32 i32 i32))
    (func (export "1") (param $T) (result $T) local.get 0 i32.const 1 call_indirect (param $T) (result $T)))
  (core instance $shim (instantiate $shim))
  (alias core export $shim "0" (core func $s0))
  (alias core export $shim "1" (core func $s1))
  (alias core export $shim "$imports" (core table $tbl))
  (core module $main
    (import "host" "echo" (func $echo (param i32 i32 i32)))
    (import "adapter" "twice" (func $twice (param $T) (result $T)))
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (local.get $p) (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
      (local.get $p))
    (func (export "run-twice") (param $T) (result $T) (call $twice (local.get 0)))
    (func (export "run-echo") (param i32 i32) (result i32) (call $echo (local.get 0) (local.get 1) (i32.const 2000)) (i32.const 2000)))
  (core instance $main (instantiate $main
    (with "host" (instance (export "echo" (func $s0))))
    (with "adapter" (instance (export "twice" (func $s1))))))
  (alias core export $main "memory" (core memory $mem))
  (alias core export $main "realloc" (core func $realloc))
  (core func $echo-lowered (canon lower (func $echo) (memory $mem) (realloc $realloc)))
  (core module $adapter
    (import "env" "memory" (memory 1))
    (func (export "twice") (param $T) ($RESULT $T) (local.get 0) (local.get 0) ($T.add))
    $ADAPTER)
  (core instance $adapter (instantiate $adapter (with "env" (instance (export "memory" (memory $mem))))))
  (alias core export $adapter "twice" (core func $twice))
  (core module $fixup
    (import "" "0" (func (param i32 i32 i32)))
    (import "" "1" (func (param $T) (result $T)))
    (import "" "$imports" (table 2 2 funcref))
    (elem (i32.const 0) func 0 1))
  (core instance (instantiate $fixup (with "" (instance (export "$imports" (table $tbl)) (export "0" (func $echo-lowered)) (export "1" (func $twice))))))
  (func (export "run-twice") (param "n" $W) (result $W) (canon lift (core func $main "run-twice")))
  (func (export "run-echo") (param "s" string) (result string) (canon lift (core func $main "run-echo") (memory $mem) (realloc $realloc)))
)`;

async function shimComponent(type: 'i64' | 'f64', extra = '', adapter = ''): Promise<{ modules: number; created: { count: number }; run: () => Record<string, Fn> }> {
  const wat = SHIM_COMPONENT.replaceAll('$EXTRA', extra)
    .replaceAll('$ADAPTER', adapter)
    .replaceAll('($RESULT $T)', '(result $T)')
    .replaceAll('($T.add)', `${type}.add`)
    .replaceAll('$W', type === 'i64' ? 's64' : 'f64')
    .replaceAll('$T', type);
  const { plan, files } = planComponent(await parseWat(wat));
  const modules = new Map<string, WebAssembly.Module>();
  for (const [name, b] of files) modules.set(name, await WebAssembly.compile(b));
  const host = { 'test:abi/host': { echo: (s: string) => `${s}!` } };
  const instantiate = linkPlan(plan, host);
  const created = { count: 0 };
  const run = (): Record<string, Fn> =>
    instantiate((n) => modules.get(n)!, host, (m, i) => {
      created.count++;
      return new WebAssembly.Instance(m, i);
    }) as unknown as Record<string, Fn>;
  return { modules: plan.instances.filter((i) => i.k === 'module').length, created, run };
}

t.test('wit-component’s shim and fixup modules are not instantiated; calls still reach their targets', async (t) => {
  const elided = await shimComponent('i64');
  t.equal(elided.modules, 2, 'only main and adapter are instantiated per request (not shim and fixup)');
  const a = elided.run();
  t.equal(elided.created.count, 1, 'the adapter, reached only through forwarders and inert, is not created with the instance');
  t.equal(a['runEcho']!('héllo'), 'héllo!', 'a lowered host function the main module imported through the shim');
  t.equal(elided.created.count, 1, 'nor by calls that do not need it');
  t.equal(a['runTwice']!(4611686018427387903n), 9223372036854775806n, 'an adapter function created after main, through a forwarder: i64 exact');
  t.equal(elided.created.count, 2, 'its first call creates it');
  t.equal(a['runTwice']!(3n), 6n, 'once');
  t.equal(elided.created.count, 2, 'once only');
  t.equal(elided.run()['runTwice']!(-5n), -10n, 'a second instance reaches its own adapter');
  t.equal(elided.created.count, 4, 'which is its own');

  // An adapter whose instantiation writes the shared memory must be created in its place.
  const writes = await shimComponent('i64', '', '(data (i32.const 3000) "x")');
  t.equal(writes.modules, 2, 'its shim and fixup are skipped too');
  writes.run();
  t.equal(writes.created.count, 2, 'but an adapter with a data segment is created with the instance');

  // A float crossing JavaScript could lose NaN payload bits: that shape keeps its shim.
  const floats = await shimComponent('f64');
  t.equal(floats.modules, 4, 'a float-typed forward slot keeps shim and fixup');
  t.equal(floats.run()['runTwice']!(1.25), 2.5, 'and still works through them');

  // Anything but the exact instruction sequence is not recognised as a shim.
  const odd = await shimComponent('i64', 'nop');
  t.equal(odd.modules, 4, 'a shim body with an extra instruction is left alone');
  t.equal(odd.run()['runEcho']!('x'), 'x!', 'and still works');

  for (const file of [path.resolve(repoRoot, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm'), path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm')]) {
    const { plan } = planComponent(await readFile(file));
    t.equal(plan.instances.filter((i) => i.k === 'module').length, 2, `${path.basename(file)}: main module and adapter only`);
  }
});
