/**
 * Turns a link plan (component-plan.ts) into an `instantiate` function with the same shape as jco's,
 * so the executor worker can use either. Built once per component per worker: a codec (lift, lower,
 * load, store) per canonical-ABI type, one trampoline per lowered host function, and the core import
 * objects made only of trampolines. Per instance, only the core instances, a handle table and a
 * small context object are created.
 *
 * Isolation: every instance has its own core instances, memories and handle table. Trampolines are
 * shared by a component's instances and read the running instance's context from `current`, which
 * each entry point sets (instantiation and every export call), so they always act on the instance
 * that called them. One instance runs at a time on a worker thread.
 *
 * Host conventions follow jco's (spinet's host was written for them): resources are class instances;
 * `[method]` calls the object's camelCase method, `[static]` the class's, `[constructor]` `new`;
 * records are objects with camelCase fields; variants `{ tag, val }`; enums strings; options the value
 * or undefined; nested results `{ tag: 'ok' | 'err', val }`; a host function whose WIT result is a
 * `result` may return `{ tag }`, return the ok value, or throw (the error payload: `e.payload` if it
 * has one, else a non-Error value; a plain Error is a trap); list<u8> and other numeric lists are
 * typed arrays; 64-bit integers are bigints.
 */
import type { CanonOpts, CoreRef, FuncType, LinkPlan, ValType } from './component-plan.js';

type Flat = 'i32' | 'i64' | 'f32' | 'f64';
type Host = Record<string, Record<string, unknown>>;
type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Host,
  instantiateCore?: (m: WebAssembly.Module, i?: WebAssembly.Imports) => WebAssembly.Instance,
) => Record<string, Record<string, (...args: unknown[]) => unknown>>;

const MAX_FLAT_PARAMS = 16;
const MAX_FLAT_RESULTS = 1;

/** A guest broke the canonical ABI (bad handle, pointer out of bounds, invalid char...): a trap. */
export class CanonicalAbiError extends WebAssembly.RuntimeError {
  override name = 'CanonicalAbiError';
}

function trap(message: string): never {
  throw new CanonicalAbiError(message);
}

// ───────────────────────── per-instance state ─────────────────────────

/** One handle-table entry: the host object, its resource type and whether the guest owns it. */
interface HandleEntry {
  rep: unknown;
  rt: number;
  own: boolean;
}

export class Ctx {
  /** Namespaces of the core instances created so far (`instance.exports` or inline objects). */
  readonly ns: Array<Record<string, unknown>> = [];
  readonly handles: Array<HandleEntry | undefined> = [undefined];
  readonly free: number[] = [];
  mem: WebAssembly.Memory | undefined;
  #buf: ArrayBuffer | undefined;
  #dv: DataView | undefined;
  #u8: Uint8Array | undefined;
  realloc: ((a: number, b: number, c: number, d: number) => number) | undefined;
  /** Borrowed handles lent to the guest for the current export call. */
  lent: number[] = [];
  /** Lazy core instances not created yet, by namespace number. */
  deferred: Map<number, () => Record<string, unknown>> | undefined;

  constructor(readonly trampolines: readonly unknown[]) {}

  ref(r: CoreRef): unknown {
    if ('tramp' in r) return this.trampolines[r.tramp];
    if ('late' in r) trap('late core reference outside an inline instance');
    const ns = this.ns[r.ns];
    if (!ns) trap('core item used before its instance was created');
    return ns[r.name];
  }

  /** A lazy core instance's exports, creating it on first use. */
  materialize(i: number): Record<string, unknown> {
    const create = this.deferred?.get(i) ?? trap('core function called before its instance was created');
    this.deferred!.delete(i);
    const ns = create();
    this.ns[i] = ns;
    return ns;
  }

  use(mem: WebAssembly.Memory | undefined, realloc: unknown): void {
    this.mem = mem;
    this.realloc = realloc as Ctx['realloc'];
  }

  /** Points the codecs at a canonical function's memory and realloc (this instance's). */
  useOpts(opts: CanonOpts): void {
    this.use(opts.memory ? (this.ref(opts.memory) as WebAssembly.Memory) : undefined, opts.realloc ? this.ref(opts.realloc) : undefined);
  }

  dv(): DataView {
    const mem = this.mem ?? trap('canonical ABI needs a memory but the function has none');
    if (mem.buffer !== this.#buf) {
      this.#buf = mem.buffer as ArrayBuffer;
      this.#dv = new DataView(this.#buf);
      this.#u8 = new Uint8Array(this.#buf);
    }
    return this.#dv!;
  }

  u8(): Uint8Array {
    this.dv();
    return this.#u8!;
  }

  check(ptr: number, len: number): void {
    if (ptr + len > this.u8().length) trap(`pointer ${ptr}+${len} is outside linear memory`);
  }

  alloc(align: number, size: number): number {
    const realloc = this.realloc ?? trap('canonical ABI needs realloc but the function has none');
    const ptr = realloc(0, 0, align, size) >>> 0;
    if (ptr % align !== 0) trap(`realloc returned unaligned pointer ${ptr}`);
    this.check(ptr, size);
    return ptr;
  }

  addHandle(rep: unknown, rt: number, own: boolean): number {
    const e = { rep, rt, own };
    const h = this.free.pop();
    if (h !== undefined) {
      this.handles[h] = e;
      return h;
    }
    return this.handles.push(e) - 1;
  }

  getHandle(h: number, rt: number): HandleEntry {
    const e = this.handles[h];
    if (!e || e.rt !== rt) trap(`unknown handle ${h} for this resource type`);
    return e;
  }

  removeHandle(h: number, rt: number): HandleEntry {
    const e = this.getHandle(h, rt);
    this.handles[h] = undefined;
    this.free.push(h);
    return e;
  }
}

/** For tests: the codec of a type, and a context over a given memory and realloc. */
export function testCodec(type: ValType): { codec: Codec; context(memory: WebAssembly.Memory, realloc: (a: number, b: number, c: number, d: number) => number): Ctx } {
  return {
    codec: new Codecs([], []).of(type),
    context: (memory, realloc) => {
      const c = new Ctx([]);
      c.use(memory, realloc);
      return c;
    },
  };
}

/** The instance whose code is running on this thread; trampolines act on it. */
let current: Ctx | undefined;

function ctx(): Ctx {
  return current ?? trap('host function called with no component instance running');
}

// ───────────────────────── codecs ─────────────────────────

export interface Codec {
  readonly size: number;
  readonly align: number;
  readonly flat: readonly Flat[];
  load(c: Ctx, ptr: number): unknown;
  store(c: Ctx, v: unknown, ptr: number): void;
  /** Reads from `vals` starting at `it.i`, advancing it. */
  lift(c: Ctx, vals: readonly unknown[], it: { i: number }): unknown;
  lower(c: Ctx, v: unknown, out: unknown[]): void;
}

const alignTo = (n: number, a: number): number => Math.ceil(n / a) * a;

function num(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TypeError(`expected a number for ${what}, got ${typeof v}`);
}

function intCodec(size: 1 | 2 | 4, signed: boolean): Codec {
  const norm =
    size === 4
      ? signed
        ? (x: number) => x | 0
        : (x: number) => x >>> 0
      : size === 2
        ? signed
          ? (x: number) => (x << 16) >> 16
          : (x: number) => x & 0xffff
        : signed
          ? (x: number) => (x << 24) >> 24
          : (x: number) => x & 0xff;
  return {
    size,
    align: size,
    flat: ['i32'],
    load: (c, p) => {
      const dv = c.dv();
      return size === 4 ? (signed ? dv.getInt32(p, true) : dv.getUint32(p, true)) : size === 2 ? (signed ? dv.getInt16(p, true) : dv.getUint16(p, true)) : signed ? dv.getInt8(p) : dv.getUint8(p);
    },
    store: (c, v, p) => {
      const dv = c.dv();
      const x = num(v, 'an integer');
      if (size === 4) dv.setInt32(p, x | 0, true);
      else if (size === 2) dv.setInt16(p, x, true);
      else dv.setInt8(p, x);
    },
    lift: (_c, vals, it) => norm(vals[it.i++] as number),
    lower: (_c, v, out) => void out.push(num(v, 'an integer') | 0),
  };
}

const BOOL: Codec = {
  size: 1,
  align: 1,
  flat: ['i32'],
  load: (c, p) => c.dv().getUint8(p) !== 0,
  store: (c, v, p) => c.dv().setUint8(p, v ? 1 : 0),
  lift: (_c, vals, it) => (vals[it.i++] as number) !== 0,
  lower: (_c, v, out) => void out.push(v ? 1 : 0),
};

function i64Codec(signed: boolean): Codec {
  const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(num(v, 'a 64-bit integer')));
  return {
    size: 8,
    align: 8,
    flat: ['i64'],
    load: (c, p) => (signed ? c.dv().getBigInt64(p, true) : c.dv().getBigUint64(p, true)),
    store: (c, v, p) => c.dv().setBigInt64(p, BigInt.asIntN(64, big(v)), true),
    lift: (_c, vals, it) => {
      const x = vals[it.i++] as bigint;
      return signed ? BigInt.asIntN(64, x) : BigInt.asUintN(64, x);
    },
    lower: (_c, v, out) => void out.push(BigInt.asIntN(64, big(v))),
  };
}

const F32: Codec = {
  size: 4,
  align: 4,
  flat: ['f32'],
  load: (c, p) => c.dv().getFloat32(p, true),
  store: (c, v, p) => c.dv().setFloat32(p, num(v, 'f32'), true),
  lift: (_c, vals, it) => vals[it.i++] as number,
  lower: (_c, v, out) => void out.push(num(v, 'f32')),
};

const F64: Codec = {
  size: 8,
  align: 8,
  flat: ['f64'],
  load: (c, p) => c.dv().getFloat64(p, true),
  store: (c, v, p) => c.dv().setFloat64(p, num(v, 'f64'), true),
  lift: (_c, vals, it) => vals[it.i++] as number,
  lower: (_c, v, out) => void out.push(num(v, 'f64')),
};

function charOf(cp: number): string {
  if (cp >= 0x110000 || (cp >= 0xd800 && cp <= 0xdfff)) trap(`invalid char code point ${cp}`);
  return String.fromCodePoint(cp);
}
function codePoint(v: unknown): number {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError('expected a one-character string for char');
  return v.codePointAt(0)!;
}

const CHAR: Codec = {
  size: 4,
  align: 4,
  flat: ['i32'],
  load: (c, p) => charOf(c.dv().getUint32(p, true)),
  store: (c, v, p) => c.dv().setUint32(p, codePoint(v), true),
  lift: (_c, vals, it) => charOf((vals[it.i++] as number) >>> 0),
  lower: (_c, v, out) => void out.push(codePoint(v)),
};

const decoder = new TextDecoder('utf-8', { fatal: true });

function liftString(c: Ctx, ptr: number, len: number): string {
  c.check(ptr, len);
  try {
    return decoder.decode(c.u8().subarray(ptr, ptr + len));
  } catch {
    return trap('string is not valid UTF-8');
  }
}

function lowerString(c: Ctx, v: unknown): [number, number] {
  if (typeof v !== 'string') throw new TypeError(`expected a string, got ${typeof v}`);
  const bytes = Buffer.from(v, 'utf8');
  if (bytes.length === 0) return [1, 0];
  const ptr = c.alloc(1, bytes.length);
  c.u8().set(bytes, ptr);
  return [ptr, bytes.length];
}

/** A (pointer, length) pair: strings and lists, flat as two i32s and 8 bytes in memory. */
function spanCodec(liftSpan: (c: Ctx, ptr: number, len: number) => unknown, lowerSpan: (c: Ctx, v: unknown) => [number, number]): Codec {
  return {
    size: 8,
    align: 4,
    flat: ['i32', 'i32'],
    load: (c, p) => {
      const dv = c.dv();
      return liftSpan(c, dv.getUint32(p, true), dv.getUint32(p + 4, true));
    },
    store: (c, v, p) => {
      const [ptr, len] = lowerSpan(c, v);
      const dv = c.dv();
      dv.setUint32(p, ptr, true);
      dv.setUint32(p + 4, len, true);
    },
    lift: (c, vals, it) => {
      const ptr = (vals[it.i++] as number) >>> 0;
      return liftSpan(c, ptr, (vals[it.i++] as number) >>> 0);
    },
    lower: (c, v, out) => void out.push(...lowerSpan(c, v)),
  };
}

const STRING: Codec = spanCodec(liftString, lowerString);

const TYPED: Partial<Record<ValType['k'], { new (b: ArrayBuffer): ArrayBufferView; BYTES_PER_ELEMENT: number }>> = {
  u8: Uint8Array,
  s8: Int8Array,
  u16: Uint16Array,
  s16: Int16Array,
  u32: Uint32Array,
  s32: Int32Array,
  u64: BigUint64Array,
  s64: BigInt64Array,
  f32: Float32Array,
  f64: Float64Array,
};

function listCodec(of: ValType, codecOf: (t: ValType) => Codec): Codec {
  const Typed = TYPED[of.k];
  const el = codecOf(of);
  const liftList = (c: Ctx, ptr: number, len: number): unknown => {
    const bytes = len * el.size;
    if (ptr % el.align !== 0) trap(`list pointer ${ptr} is not aligned to ${el.align}`);
    c.check(ptr, bytes);
    if (Typed) return new Typed(c.u8().slice(ptr, ptr + bytes).buffer);
    const out = new Array<unknown>(len);
    for (let i = 0; i < len; i++) out[i] = el.load(c, ptr + i * el.size);
    return out;
  };
  const lowerList = (c: Ctx, v: unknown): [number, number] => {
    if (Typed) {
      let bytes: Uint8Array;
      if (ArrayBuffer.isView(v)) bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      else if (v instanceof ArrayBuffer) bytes = new Uint8Array(v);
      else if (Array.isArray(v)) bytes = new Uint8Array((Typed as unknown as { from(a: unknown[]): ArrayBufferView }).from(v).buffer);
      else throw new TypeError(`expected a typed array for list<${of.k}>`);
      const len = bytes.length / el.size;
      if (len === 0) return [el.align, 0];
      const ptr = c.alloc(el.align, bytes.length);
      c.u8().set(bytes, ptr);
      return [ptr, len];
    }
    if (!Array.isArray(v)) throw new TypeError('expected an array for a list');
    if (v.length === 0) return [el.align, 0];
    const ptr = c.alloc(el.align, v.length * el.size);
    for (let i = 0; i < v.length; i++) el.store(c, v[i], ptr + i * el.size);
    return [ptr, v.length];
  };
  return spanCodec(liftList, lowerList);
}

/** Fields laid out one after another (records, tuples); `get`/`make` map to and from JS. */
function sequenceCodec(codecs: readonly Codec[], get: (v: unknown, i: number) => unknown, make: (vals: unknown[]) => unknown): Codec {
  let size = 0;
  let align = 1;
  const offsets: number[] = [];
  for (const f of codecs) {
    size = alignTo(size, f.align);
    offsets.push(size);
    size += f.size;
    align = Math.max(align, f.align);
  }
  size = alignTo(size, align);
  return {
    size,
    align,
    flat: codecs.flatMap((f) => f.flat),
    load: (c, p) => make(codecs.map((f, i) => f.load(c, p + offsets[i]!))),
    store: (c, v, p) => codecs.forEach((f, i) => f.store(c, get(v, i), p + offsets[i]!)),
    lift: (c, vals, it) => make(codecs.map((f) => f.lift(c, vals, it))),
    lower: (c, v, out) => codecs.forEach((f, i) => f.lower(c, get(v, i), out)),
  };
}

function join(a: Flat, b: Flat): Flat {
  if (a === b) return a;
  if ((a === 'i32' && b === 'f32') || (a === 'f32' && b === 'i32')) return 'i32';
  return 'i64';
}

const f32Bits = new DataView(new ArrayBuffer(8));

/** Converts a flat value of the joined type back to the case's own flat type. */
function narrow(x: unknown, have: Flat, want: Flat): unknown {
  if (have === want) return x;
  if (want === 'i32') return Number(BigInt.asIntN(32, x as bigint));
  if (want === 'f32') {
    const bits = have === 'i64' ? Number(BigInt.asIntN(32, x as bigint)) : (x as number);
    f32Bits.setInt32(0, bits, true);
    return f32Bits.getFloat32(0, true);
  }
  // f64 from i64
  f32Bits.setBigInt64(0, x as bigint, true);
  return f32Bits.getFloat64(0, true);
}

/** Converts a case's own flat value to the joined type. */
function widen(x: unknown, have: Flat, want: Flat): unknown {
  if (have === want) return x;
  if (have === 'f32') {
    f32Bits.setFloat32(0, x as number, true);
    const bits = f32Bits.getInt32(0, true);
    return want === 'i32' ? bits : BigInt(bits >>> 0);
  }
  if (have === 'i32') return BigInt((x as number) >>> 0);
  f32Bits.setFloat64(0, x as number, true);
  return f32Bits.getBigInt64(0, true);
}

const ZERO: Record<Flat, unknown> = { i32: 0, i64: 0n, f32: 0, f64: 0 };

/**
 * A tagged union. `toCase` maps a JS value to [case index, payload]; `fromCase` the reverse. Options,
 * results, enums and variants are all this with different JS shapes.
 */
function variantCodec(cases: ReadonlyArray<Codec | undefined>, toCase: (v: unknown) => [number, unknown], fromCase: (i: number, payload: unknown) => unknown): Codec {
  const n = cases.length;
  const discSize = n <= 256 ? 1 : n <= 65536 ? 2 : 4;
  let maxAlign = discSize;
  let maxSize = 0;
  const joined: Flat[] = [];
  for (const c of cases) {
    if (!c) continue;
    maxAlign = Math.max(maxAlign, c.align);
    maxSize = Math.max(maxSize, c.size);
    c.flat.forEach((f, i) => {
      joined[i] = joined[i] === undefined ? f : join(joined[i]!, f);
    });
  }
  const payloadAt = alignTo(discSize, maxAlign);
  const size = alignTo(payloadAt + maxSize, maxAlign);
  const caseOf = (d: number): Codec | undefined => {
    if (d >= n) trap(`variant discriminant ${d} out of range (${n} cases)`);
    return cases[d];
  };
  return {
    size,
    align: maxAlign,
    flat: ['i32', ...joined],
    load: (c, p) => {
      const dv = c.dv();
      const d = discSize === 1 ? dv.getUint8(p) : discSize === 2 ? dv.getUint16(p, true) : dv.getUint32(p, true);
      const k = caseOf(d);
      return fromCase(d, k ? k.load(c, p + payloadAt) : undefined);
    },
    store: (c, v, p) => {
      const [d, payload] = toCase(v);
      const dv = c.dv();
      if (discSize === 1) dv.setUint8(p, d);
      else if (discSize === 2) dv.setUint16(p, d, true);
      else dv.setUint32(p, d, true);
      cases[d]?.store(c, payload, p + payloadAt);
    },
    lift: (c, vals, it) => {
      const d = (vals[it.i++] as number) >>> 0;
      const k = caseOf(d);
      const start = it.i;
      let payload: unknown;
      if (k) {
        const own = k.flat.map((f, i) => narrow(vals[start + i], joined[i]!, f));
        payload = k.lift(c, own, { i: 0 });
      }
      it.i = start + joined.length;
      return fromCase(d, payload);
    },
    lower: (c, v, out) => {
      const [d, payload] = toCase(v);
      out.push(d);
      const k = cases[d];
      const mine: unknown[] = [];
      if (k) k.lower(c, payload, mine);
      for (let i = 0; i < joined.length; i++) out.push(i < mine.length ? widen(mine[i], k!.flat[i]!, joined[i]!) : ZERO[joined[i]!]);
    },
  };
}

function isTagged(v: unknown): v is { tag: string; val?: unknown } {
  return typeof v === 'object' && v !== null && typeof (v as { tag?: unknown }).tag === 'string';
}

/** Builds (and memoises, by type object) the codecs a component's types need. */
class Codecs {
  readonly #cache = new Map<ValType, Codec>();
  constructor(readonly classes: ReadonlyArray<(new (...a: never[]) => unknown) | undefined>, readonly resourceNames: readonly string[]) {}

  of = (t: ValType): Codec => {
    let c = this.#cache.get(t);
    if (!c) this.#cache.set(t, (c = this.#build(t)));
    return c;
  };

  #build(t: ValType): Codec {
    switch (t.k) {
      case 'bool':
        return BOOL;
      case 's8':
        return intCodec(1, true);
      case 'u8':
        return intCodec(1, false);
      case 's16':
        return intCodec(2, true);
      case 'u16':
        return intCodec(2, false);
      case 's32':
        return intCodec(4, true);
      case 'u32':
        return intCodec(4, false);
      case 's64':
        return i64Codec(true);
      case 'u64':
        return i64Codec(false);
      case 'f32':
        return F32;
      case 'f64':
        return F64;
      case 'char':
        return CHAR;
      case 'string':
        return STRING;
      case 'list':
        return listCodec(t.of, this.of);
      case 'record': {
        const names = t.fields.map((f) => f.js);
        return sequenceCodec(
          t.fields.map((f) => this.of(f.type)),
          (v, i) => (v as Record<string, unknown>)[names[i]!],
          (vals) => {
            const o: Record<string, unknown> = {};
            names.forEach((n, i) => (o[n] = vals[i]));
            return o;
          },
        );
      }
      case 'tuple':
        return sequenceCodec(
          t.of.map(this.of),
          (v, i) => (v as unknown[])[i],
          (vals) => vals,
        );
      case 'flags': {
        const names = t.js;
        const words = Math.ceil(names.length / 32);
        const size = names.length === 0 ? 0 : names.length <= 8 ? 1 : names.length <= 16 ? 2 : 4 * words;
        const toWords = (v: unknown): number[] => {
          const w = new Array<number>(words).fill(0);
          names.forEach((n, i) => {
            if ((v as Record<string, unknown> | undefined)?.[n]) w[i >> 5]! |= 1 << (i & 31);
          });
          return w;
        };
        const fromWords = (w: readonly number[]): Record<string, boolean> => {
          const o: Record<string, boolean> = {};
          names.forEach((n, i) => (o[n] = ((w[i >> 5]! >>> (i & 31)) & 1) === 1));
          return o;
        };
        return {
          size,
          align: Math.max(1, Math.min(size, 4)),
          flat: new Array<Flat>(words).fill('i32'),
          load: (c, p) => {
            const dv = c.dv();
            if (size === 1) return fromWords([dv.getUint8(p)]);
            if (size === 2) return fromWords([dv.getUint16(p, true)]);
            return fromWords(Array.from({ length: words }, (_, i) => dv.getUint32(p + 4 * i, true)));
          },
          store: (c, v, p) => {
            const w = toWords(v);
            const dv = c.dv();
            if (size === 1) dv.setUint8(p, w[0]!);
            else if (size === 2) dv.setUint16(p, w[0]!, true);
            else w.forEach((x, i) => dv.setUint32(p + 4 * i, x, true));
          },
          lift: (_c, vals, it) => fromWords(Array.from({ length: words }, () => vals[it.i++] as number)),
          lower: (_c, v, out) => void out.push(...toWords(v).map((x) => x | 0)),
        };
      }
      case 'enum': {
        const index = new Map(t.names.map((n, i) => [n, i]));
        return variantCodec(
          t.names.map(() => undefined),
          (v) => {
            const i = index.get(v as string);
            if (i === undefined) throw new TypeError(`"${String(v)}" is not one of the enum's values (${t.names.join(', ')})`);
            return [i, undefined];
          },
          (i) => t.names[i],
        );
      }
      case 'variant': {
        const index = new Map(t.cases.map((k, i) => [k.name, i]));
        return variantCodec(
          t.cases.map((k) => (k.type ? this.of(k.type) : undefined)),
          (v) => {
            const i = isTagged(v) ? index.get(v.tag) : undefined;
            if (i === undefined) throw new TypeError(`invalid variant value (tag ${isTagged(v) ? JSON.stringify(v.tag) : 'missing'}); expected one of ${t.cases.map((k) => k.name).join(', ')}`);
            return [i, (v as { val?: unknown }).val];
          },
          (i, val) => (t.cases[i]!.type ? { tag: t.cases[i]!.name, val } : { tag: t.cases[i]!.name }),
        );
      }
      case 'option':
        return variantCodec(
          [undefined, this.of(t.of)],
          (v) => (v === undefined || v === null ? [0, undefined] : [1, v]),
          (i, val) => (i === 0 ? undefined : val),
        );
      case 'result':
        return variantCodec(
          [t.ok ? this.of(t.ok) : undefined, t.err ? this.of(t.err) : undefined],
          (v) => {
            if (!isTagged(v) || (v.tag !== 'ok' && v.tag !== 'err')) throw new TypeError("expected a result as { tag: 'ok' | 'err', val }");
            return [v.tag === 'ok' ? 0 : 1, v.val];
          },
          (i, val) => ({ tag: i === 0 ? 'ok' : 'err', val }),
        );
      case 'own':
      case 'borrow': {
        const rt = t.rt;
        const own = t.k === 'own';
        const cls = this.classes[rt];
        const name = this.resourceNames[rt]!;
        // Guest → host: own moves the handle out of the table; borrow leaves it.
        const liftHandle = (c: Ctx, h: number): unknown => {
          if (!own) return c.getHandle(h, rt).rep;
          const e = c.getHandle(h, rt);
          if (!e.own) trap(`handle ${h} is borrowed, not owned: it cannot be passed as own<${name}>`);
          c.removeHandle(h, rt);
          return e.rep;
        };
        // Host → guest: a new handle.
        const lowerHandle = (c: Ctx, v: unknown): number => {
          if (cls && !(v instanceof cls)) throw new TypeError(`Resource error: not a valid "${name}" resource`);
          const h = c.addHandle(v, rt, own);
          if (!own) c.lent.push(h);
          return h;
        };
        return {
          size: 4,
          align: 4,
          flat: ['i32'],
          load: (c, p) => liftHandle(c, c.dv().getUint32(p, true)),
          store: (c, v, p) => c.dv().setUint32(p, lowerHandle(c, v), true),
          lift: (c, vals, it) => liftHandle(c, (vals[it.i++] as number) >>> 0),
          lower: (c, v, out) => void out.push(lowerHandle(c, v)),
        };
      }
    }
  }
}

// ───────────────────────── functions ─────────────────────────

function getErrorPayload(e: unknown): unknown {
  if (e && typeof e === 'object' && Object.prototype.hasOwnProperty.call(e, 'payload')) return (e as { payload: unknown }).payload;
  if (e instanceof Error) throw e;
  return e;
}

interface Sig {
  readonly params: readonly Codec[];
  readonly paramFlat: number;
  readonly paramTuple: Codec;
  readonly result: Codec | undefined;
  readonly resultFlat: number;
  readonly topResult: boolean;
}

function signature(type: FuncType, codecs: Codecs): Sig {
  const params = type.params.map((p) => codecs.of(p.type));
  const result = type.result ? codecs.of(type.result) : undefined;
  return {
    params,
    paramFlat: params.reduce((n, p) => n + p.flat.length, 0),
    paramTuple: sequenceCodec(params, (v, i) => (v as unknown[])[i], (v) => v),
    result,
    resultFlat: result ? result.flat.length : 0,
    topResult: type.result?.k === 'result',
  };
}

/** A guest → host call: lift the core arguments, call the host, lower the result. */
function lowerTrampoline(sig: Sig, call: (args: unknown[]) => unknown, opts: CanonOpts): (...core: unknown[]) => unknown {
  const { params, paramFlat, paramTuple, result, resultFlat, topResult } = sig;
  return function spinetHostCall(...core: unknown[]): unknown {
    const c = ctx();
    c.useOpts(opts);
    let args: unknown[];
    if (paramFlat > MAX_FLAT_PARAMS) {
      const ptr = (core[0] as number) >>> 0;
      c.check(ptr, paramTuple.size);
      args = paramTuple.load(c, ptr) as unknown[];
    } else {
      const it = { i: 0 };
      args = params.map((p) => p.lift(c, core, it));
    }
    let ret: unknown;
    if (topResult) {
      try {
        const r = call(args);
        ret = isTagged(r) && (r.tag === 'ok' || r.tag === 'err') ? r : { tag: 'ok', val: r };
      } catch (e) {
        if (e instanceof WebAssembly.RuntimeError) throw e;
        ret = { tag: 'err', val: getErrorPayload(e) };
      }
    } else {
      ret = call(args);
    }
    if (!result) return undefined;
    // Lowering may call realloc, which runs guest code: the context must be this instance's still.
    c.useOpts(opts);
    if (resultFlat > MAX_FLAT_RESULTS) {
      const retptr = (core[core.length - 1] as number) >>> 0;
      if (retptr % result.align !== 0) trap(`return pointer ${retptr} is not aligned to ${result.align}`);
      c.check(retptr, result.size);
      result.store(c, ret, retptr);
      return undefined;
    }
    const out: unknown[] = [];
    result.lower(c, ret, out);
    return out[0];
  };
}

/**
 * Names a component's WIT may not reach on host objects: everything JavaScript gives every object
 * and function (`constructor`, `toString`, `__proto__`, `call`, `bind`...). The host's own methods
 * are what jco's conventions map WIT names to; anything else is "not provided".
 */
function inherited(member: string): boolean {
  return member in Object.prototype || member in Function.prototype;
}

function hostCall(plan: Extract<LinkPlan['trampolines'][number], { k: 'lower' }>, host: Host): (args: unknown[]) => unknown {
  const h = plan.host;
  const ns = h.member !== undefined && inherited(h.member) ? undefined : Object.prototype.hasOwnProperty.call(host, h.iface) ? host[h.iface] : undefined;
  const missing = (): never => {
    throw new Error(`spinet does not provide ${h.iface}#${h.wit}, which the component called`);
  };
  if (!ns) return missing;
  switch (h.kind) {
    case 'func': {
      const f = Object.prototype.hasOwnProperty.call(ns, h.member!) ? ns[h.member!] : undefined;
      return typeof f === 'function' ? (args) => (f as (...a: unknown[]) => unknown)(...args) : missing;
    }
    case 'constructor': {
      const C = Object.prototype.hasOwnProperty.call(ns, h.cls!) ? ns[h.cls!] : undefined;
      return typeof C === 'function' ? (args) => new (C as new (...a: unknown[]) => unknown)(...args) : missing;
    }
    case 'static': {
      const C = (Object.prototype.hasOwnProperty.call(ns, h.cls!) ? ns[h.cls!] : undefined) as Record<string, unknown> | undefined;
      const f = C && Object.prototype.hasOwnProperty.call(C, h.member!) ? C[h.member!] : undefined;
      return typeof f === 'function' ? (args) => (f as (...a: unknown[]) => unknown).apply(C, args) : missing;
    }
    case 'method': {
      const member = h.member!;
      return (args) => {
        const self = args[0] as Record<string, unknown>;
        const m = self[member];
        if (typeof m !== 'function') missing();
        return (m as (...a: unknown[]) => unknown).apply(self, args.slice(1));
      };
    }
  }
}

/** Builds jco's `instantiate` signature from a plan; done once per component per worker. */
export function linkPlan(plan: LinkPlan, host: Host): Instantiate {
  const classes = plan.resources.map((r) => {
    const ns = Object.prototype.hasOwnProperty.call(host, r.iface) ? host[r.iface] : undefined;
    const C = ns && Object.prototype.hasOwnProperty.call(ns, r.cls) ? ns[r.cls] : undefined;
    return typeof C === 'function' ? (C as new (...a: never[]) => unknown) : undefined;
  });
  const codecs = new Codecs(
    classes,
    plan.resources.map((r) => `${r.iface}#${r.name}`),
  );
  const trampolines: unknown[] = plan.trampolines.map((t) => {
    if (t.k === 'drop') {
      const rt = t.rt;
      return function spinetResourceDrop(h: number): void {
        const e = ctx().removeHandle(h >>> 0, rt);
        if (e.own) (e.rep as { [Symbol.dispose]?: () => void })[Symbol.dispose]?.();
      };
    }
    return lowerTrampoline(signature(t.type, codecs), hostCall(t, host), t);
  });
  // A function of a core instance created after the one importing it (shim-elision.ts): found in
  // the running instance's namespaces when called, so one forwarder serves every instance.
  const forwarders = new Map<string, unknown>();
  const forwarder = (late: number, name: string): unknown => {
    const key = `${late}\u0000${name}`;
    let f = forwarders.get(key);
    if (!f) {
      f = function spinetForward(...args: unknown[]): unknown {
        const c = ctx();
        const target = (c.ns[late] ?? c.materialize(late))[name];
        if (typeof target !== 'function') trap(`core function ${name} called before its instance was created`);
        return (target as (...a: unknown[]) => unknown)(...args);
      };
      forwarders.set(key, f);
    }
    return f;
  };
  // Inline core instances made only of trampolines and forwarders are the same for every instance.
  const constant = plan.instances.map((ci) => {
    if (ci.k !== 'inline' || !ci.items.every(([, r]) => 'tramp' in r || 'late' in r)) return undefined;
    const o: Record<string, unknown> = Object.create(null);
    for (const [name, r] of ci.items) o[name] = 'late' in r ? forwarder(r.late, r.name) : trampolines[(r as { tramp: number }).tramp];
    return o;
  });
  const lifts = plan.lifts.map((l) => ({ plan: l, sig: signature(l.type, codecs) }));

  return function instantiate(getCoreModule, _imports, instantiateCore = (m, i) => new WebAssembly.Instance(m, i)) {
    const c = new Ctx(trampolines);
    const previous = current;
    current = c;
    try {
      plan.instances.forEach((ci, i) => {
        const fixed = constant[i];
        if (fixed) {
          c.ns.push(fixed);
        } else if (ci.k === 'inline') {
          const o: Record<string, unknown> = Object.create(null);
          for (const [name, r] of ci.items) o[name] = 'late' in r ? forwarder(r.late, r.name) : c.ref(r);
          c.ns.push(o);
        } else {
          const create = (): Record<string, unknown> => {
            const imports: Record<string, Record<string, unknown>> = Object.create(null);
            for (const [name, ns] of ci.args) imports[name] = c.ns[ns]!;
            return instantiateCore(getCoreModule(plan.modules[ci.module]!), imports as WebAssembly.Imports).exports as Record<string, unknown>;
          };
          if (ci.lazy) {
            (c.deferred ??= new Map()).set(i, create);
            c.ns.push(undefined as unknown as Record<string, unknown>);
          } else c.ns.push(create());
        }
      });
    } finally {
      current = previous;
    }
    const exports: Record<string, Record<string, (...args: unknown[]) => unknown>> = {};
    for (const [name, funcs] of plan.exports) {
      const o: Record<string, (...args: unknown[]) => unknown> = {};
      for (const [js, li] of funcs) o[js] = exportFunction(c, lifts[li]!.plan, lifts[li]!.sig);
      exports[name] = o;
    }
    const top = exports as Record<string, unknown>;
    for (const [js, li] of plan.functions) top[js] = exportFunction(c, lifts[li]!.plan, lifts[li]!.sig);
    return exports;
  };
}

/** A host → guest call into one instance's export. */
function exportFunction(c: Ctx, lift: LinkPlan['lifts'][number], sig: Sig): (...args: unknown[]) => unknown {
  const core = c.ref(lift.core) as (...a: unknown[]) => unknown;
  if (typeof core !== 'function') trap('exported core function missing');
  const { params, paramFlat, paramTuple, result, resultFlat, topResult } = sig;
  return function spinetExport(...args: unknown[]): unknown {
    const previous = current;
    current = c;
    try {
      c.useOpts(lift);
      let flat: unknown[];
      if (paramFlat > MAX_FLAT_PARAMS) {
        const ptr = c.alloc(paramTuple.align, paramTuple.size);
        paramTuple.store(c, args, ptr);
        flat = [ptr];
      } else {
        flat = [];
        params.forEach((p, i) => p.lower(c, args[i], flat));
      }
      const r = core(...flat);
      let value: unknown;
      if (result) {
        c.useOpts(lift);
        if (resultFlat > MAX_FLAT_RESULTS) {
          const ptr = (r as number) >>> 0;
          c.check(ptr, result.size);
          value = result.load(c, ptr);
        } else {
          value = result.lift(c, [r], { i: 0 });
        }
      }
      if (lift.postReturn) (c.ref(lift.postReturn) as (...a: unknown[]) => void)(...(result ? [r] : []));
      for (const h of c.lent) if (c.handles[h]) c.removeHandle(h, c.handles[h]!.rt);
      c.lent.length = 0;
      if (topResult) {
        const v = value as { tag: string; val: unknown };
        if (v.tag === 'err') throw v.val;
        return v.val;
      }
      return value;
    } finally {
      current = previous;
    }
  };
}
