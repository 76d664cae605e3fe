/**
 * A bounded reader of the WebAssembly binary format's basic encodings (bytes, LEB128, names,
 * vectors), shared by the core-module rewriter (memory-import.ts), the component planner
 * (component-plan.ts) and the shim recogniser (shim-elision.ts). Reading past `end` or an over-long LEB128 throws RangeError; callers decide
 * what a malformed binary means for them.
 */
export class WasmReader {
  pos: number;
  readonly end: number;

  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    end = bytes.length,
  ) {
    this.pos = pos;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new RangeError('unexpected end of the binary');
    return this.bytes[this.pos++]!;
  }

  peek(): number {
    if (this.pos >= this.end) throw new RangeError('unexpected end of the binary');
    return this.bytes[this.pos]!;
  }

  /** Unsigned LEB128 (up to 32 bits of payload). */
  u32(): number {
    // Most counts and indices fit one byte: no loop, no call (planning runs unoptimised in a fresh process).
    const pos = this.pos;
    if (pos < this.end) {
      const b = this.bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new RangeError('LEB128 integer too long');
    }
  }

  /** Signed LEB128 (32-bit payload). */
  s32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
      if (shift > 35) throw new RangeError('LEB128 integer too long');
    } while (b & 0x80);
    return shift < 32 && b & 0x40 ? result | (-1 << shift) : result;
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new RangeError('unexpected end of the binary');
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name. */
  str(): string {
    const n = this.u32();
    if (this.pos + n > this.end) throw new RangeError('name past the end of its section');
    // A Buffer decodes its own range without a new Buffer object per name (the planner reads thousands).
    const b = this.bytes;
    const s = b instanceof Buffer ? b.toString('utf8', this.pos, this.pos + n) : Buffer.from(b.buffer, b.byteOffset + this.pos, n).toString('utf8');
    this.pos += n;
    return s;
  }

  /** Skips a length-prefixed name. */
  name(): void {
    this.skip(this.u32());
  }

  /** A vector: its count, then `f` once per element. */
  vec<T>(f: () => T): T[] {
    const out: T[] = [];
    for (let n = this.u32(); n > 0; n--) out.push(f());
    return out;
  }

  /** Like `vec`, for elements read only for their effect. */
  each(f: () => void): void {
    for (let n = this.u32(); n > 0; n--) f();
  }
}

/**
 * The ids of a core module's sections (after its 8-byte header). Throws RangeError if the module is
 * malformed; callers decide what that means for them.
 */
export function sectionIds(bytes: Uint8Array): Set<number> {
  const ids = new Set<number>();
  const r = new WasmReader(bytes, 8);
  while (!r.done) {
    ids.add(r.byte());
    r.skip(r.u32());
  }
  return ids;
}

/** Unsigned LEB128 of a u32: the length and index encoding of the binary format. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** A name as the binary format writes it: its UTF-8 length, then its bytes. */
export function nameBytes(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return leb(b.length).concat(b);
}
