/**
 * Rewrites a core module that defines its linear memory into one that imports it (as
 * `spinet.memory`), so the executor can hand each fresh instance a recycled, zeroed memory instead
 * of a newly mapped one. A new mapping costs a page fault per 4 KiB page the guest's data segments
 * and heap touch (≈17 ms for a 12 MB StarlingMonkey module on this VM); zeroing a mapped one costs a
 * memset. The same rewrite is where a per-instance memory cap belongs.
 *
 * Only the simple, common shape is rewritten: exactly one 32-bit, unshared memory defined in the
 * module and none imported. Anything else (or anything this parser does not understand) is left
 * alone and instantiated as before.
 */

import { WasmReader, leb, nameBytes, sectionIds } from './wasm-reader.js';

/** What the rewritten module's memory import expects. */
export interface ImportedMemory {
  /** Initial size in 64 KiB pages. */
  readonly initial: number;
  /** Maximum size in pages, if the module declared one (or a cap was compiled in). */
  readonly maximum?: number;
  /**
   * The gateway's default cap in pages, applied when the instance's memory is created (a run's own
   * cap, from its app or component settings, replaces it). Kept out of the compiled import so one
   * compiled module serves apps with different caps.
   */
  readonly capPages?: number;
  /**
   * Byte ranges [start, end) that active data segments with constant offsets write at every
   * instantiation, sorted and merged; undefined when some segment's offset is not a constant. A
   * recycled memory need not be zeroed there: instantiation overwrites them.
   */
  readonly dataRanges?: ReadonlyArray<readonly [number, number]>;
}

/** Import module and field name of the rewritten memory. */
export const MEMORY_IMPORT = { module: 'spinet', name: 'memory' } as const;

class Unsupported extends Error {}

/** Memory/table limits: flags, minimum and (with flag 1) maximum; shared or 64-bit limits are not handled. */
function limits(r: WasmReader): { flags: number; min: number; max?: number } {
  const flags = r.byte();
  if (flags > 1) throw new Unsupported('shared or 64-bit limits');
  const min = r.u32();
  return flags === 1 ? { flags, min, max: r.u32() } : { flags, min };
}

/** The concatenation of byte runs (no array spreads: an import section can hold kilobytes). */
function concat(parts: ReadonlyArray<Uint8Array | readonly number[]>): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Skips one value type (numeric, vector, or reference types including typed references). */
function skipValType(r: WasmReader): void {
  const t = r.byte();
  if (t === 0x63 || t === 0x64) {
    // (ref null? heaptype): heaptype is an abstract type byte or a type index (s33 LEB).
    const h = r.byte();
    if (h & 0x80) r.u32();
    return;
  }
  if ([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x71, 0x72, 0x73, 0x74].includes(t)) return;
  throw new Unsupported(`value type 0x${t.toString(16)}`);
}

/** Counts memory imports in an import section body; throws Unsupported on descriptors it cannot skip. */
function memoryImports(body: Uint8Array): number {
  const r = new WasmReader(body);
  let memories = 0;
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.byte();
    switch (kind) {
      case 0x00: // function
        r.u32();
        break;
      case 0x01: // table
        skipValType(r);
        limits(r);
        break;
      case 0x02: // memory
        memories++;
        limits(r);
        break;
      case 0x03: // global
        skipValType(r);
        r.byte();
        break;
      case 0x04: // tag
        r.byte();
        r.u32();
        break;
      default:
        throw new Unsupported(`import kind 0x${kind.toString(16)}`);
    }
  }
  return memories;
}

/**
 * The ranges active data segments write into memory 0, sorted and merged, or undefined if an offset
 * is not an `i32.const` (then the whole memory must be zeroed on reuse). A malformed section throws
 * RangeError, as WasmReader would.
 *
 * componentize-js modules have 10 000 segments, which a fresh process decodes before V8 has
 * optimised anything. Nearly all have the form `0x00 i32.const <offset> end <length>` with an offset
 * of at most 4 LEB128 bytes and a length of at most 3: that form is decoded with straight-line code
 * (no inner loops, no method calls; an unoptimised loop back-edge per LEB128 byte cost ~1 µs per
 * segment here, this costs ~30 ns). Any other segment, or one too close to the end of the section, is
 * decoded by `segment()`, WasmReader's `u32`/`s32` written out. Segments usually come in address
 * order; then they are merged as they come and nothing is sorted.
 */
function activeDataRanges(bytes: Uint8Array, start: number, end: number): Array<[number, number]> | undefined {
  const r = new WasmReader(bytes, start, end);
  const starts: number[] = [];
  const ends: number[] = [];
  let sorted = true;
  let pos = start;
  // Past this point a fast-path segment header (at most 10 bytes) might cross the end.
  const fastEnd = end - 10;
  for (let n = r.u32(), pos0 = (pos = r.pos); n > 0; n--, pos0 = pos) {
    let offset = 0;
    let len = -1;
    let p = pos0 + 2;
    if (pos0 < fastEnd && bytes[pos0] === 0x00 && bytes[pos0 + 1] === 0x41) {
      // i32.const: a signed LEB128 of 1 to 4 bytes (longer ones go the slow way)
      let b = bytes[p++]!;
      offset = b & 0x7f;
      if (b & 0x80) {
        b = bytes[p++]!;
        offset |= (b & 0x7f) << 7;
        if (b & 0x80) {
          b = bytes[p++]!;
          offset |= (b & 0x7f) << 14;
          if (b & 0x80) {
            b = bytes[p++]!;
            offset |= (b & 0x7f) << 21;
            if (b & 0x80) p = -1;
            else if (b & 0x40) offset |= -1 << 28;
          } else if (b & 0x40) offset |= -1 << 21;
        } else if (b & 0x40) offset |= -1 << 14;
      } else if (b & 0x40) offset |= -1 << 7;
      // end, then the length: an unsigned LEB128 of 1 to 3 bytes
      if (p > 0 && bytes[p] === 0x0b) {
        b = bytes[p + 1]!;
        if (b < 0x80) {
          len = b;
          p += 2;
        } else if (bytes[p + 2]! < 0x80) {
          len = (b & 0x7f) | (bytes[p + 2]! << 7);
          p += 3;
        } else if (bytes[p + 3]! < 0x80) {
          len = (b & 0x7f) | ((bytes[p + 2]! & 0x7f) << 7) | (bytes[p + 3]! << 14);
          p += 4;
        }
      }
    }
    let flags = 0;
    if (len >= 0) offset >>>= 0;
    else {
      r.pos = pos0;
      const seg = segment(r);
      if (seg === undefined) return undefined;
      [flags, offset, len] = seg;
      p = r.pos;
    }
    if (p + len > end) throw new RangeError('unexpected end of the binary');
    pos = p + len;
    if (flags === 1 || len === 0) continue; // passive: written only by memory.init, into the zeroed part
    const last = starts.length - 1;
    if (last >= 0 && offset < starts[last]!) sorted = false;
    if (sorted && last >= 0 && offset <= ends[last]!) {
      if (offset + len > ends[last]!) ends[last] = offset + len;
    } else {
      starts.push(offset);
      ends.push(offset + len);
    }
  }
  if (sorted) return starts.map((a, i) => [a, ends[i]!]);
  // Out of order: sort what was collected (runs merged so far are already unions) and merge again.
  const ranges = starts.map((a, i): [number, number] => [a, ends[i]!]);
  ranges.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const [a, e] of ranges) {
    const prev = merged[merged.length - 1];
    if (prev && a <= prev[1]) prev[1] = Math.max(prev[1], e);
    else merged.push([a, e]);
  }
  return merged;
}

/**
 * One data segment's header in any form: [flags, offset (as u32), length], leaving `r` at its bytes;
 * undefined for a form whose target cannot be known (another memory, a non-constant offset).
 */
function segment(r: WasmReader): [number, number, number] | undefined {
  const flags = r.u32();
  if (flags === 1) return [1, 0, r.u32()];
  if (flags === 2 && r.u32() !== 0) return undefined;
  if (flags !== 0 && flags !== 2) return undefined;
  if (r.byte() !== 0x41) return undefined; // i32.const
  const offset = r.s32() >>> 0;
  if (r.byte() !== 0x0b) return undefined;
  return [flags, offset, r.u32()];
}

/** Whether a core module defines a linear memory of its own (a memory section). */
export function definesMemory(bytes: Uint8Array): boolean {
  try {
    return sectionIds(bytes).has(5);
  } catch {
    return false; // malformed: compile will say so
  }
}

/**
 * How to rewrite a module: its imported memory, and the rewritten module as new `head` bytes followed
 * by the original module's bytes from `tailStart` on. The head is everything up to the memory section
 * (kilobytes); the tail, the code and data (nearly all of a 13 MB module), is the original's, byte for
 * byte.
 */
interface Rewrite {
  readonly head: Uint8Array;
  readonly tailStart: number;
  readonly memory: ImportedMemory;
}

function planRewrite(bytes: Uint8Array, maximumPages: number | undefined): Rewrite | undefined {
  try {
    const r = new WasmReader(bytes, 8);
    if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) return undefined;
    const sections: Array<{ id: number; start: number; end: number; bodyStart: number }> = [];
    while (r.pos < bytes.length) {
      const start = r.pos;
      const id = r.byte();
      const size = r.u32();
      const bodyStart = r.pos;
      r.skip(size);
      sections.push({ id, start, end: r.pos, bodyStart });
    }
    const memorySection = sections.filter((s) => s.id === 5);
    if (memorySection.length !== 1) return undefined;
    const mem = new WasmReader(bytes, memorySection[0]!.bodyStart);
    if (mem.u32() !== 1) return undefined;
    const memLimits = limits(mem);
    const importSection = sections.find((s) => s.id === 2);
    if (importSection && memoryImports(bytes.subarray(importSection.bodyStart, importSection.end)) > 0) return undefined;

    let max = memLimits.max;
    if (maximumPages !== undefined) max = max === undefined ? Math.max(maximumPages, memLimits.min) : Math.max(memLimits.min, Math.min(max, maximumPages));
    const desc = max === undefined ? [0x02, 0x00, ...leb(memLimits.min)] : [0x02, 0x01, ...leb(memLimits.min), ...leb(max)];
    const entry = [...nameBytes(MEMORY_IMPORT.module), ...nameBytes(MEMORY_IMPORT.name), ...desc];

    let newImportSection: Uint8Array;
    if (importSection) {
      const ir = new WasmReader(bytes, importSection.bodyStart);
      const count = leb(ir.u32() + 1);
      const bodyLength = count.length + (importSection.end - ir.pos) + entry.length;
      newImportSection = concat([[0x02], leb(bodyLength), count, bytes.subarray(ir.pos, importSection.end), entry]);
    } else {
      newImportSection = concat([[0x02], leb(1 + entry.length), [1], entry]);
    }

    // Reassemble: the import section replaces the old one (or goes right after the type section),
    // the memory section is dropped, everything else is copied byte for byte.
    const parts: Uint8Array[] = [bytes.subarray(0, 8)];
    let placed = false;
    const typeSection = sections.find((s) => s.id === 1);
    // Where the original's bytes run unchanged to the end: after the last section dropped or replaced.
    let tailStart = 8;
    let tailParts = 1;
    for (const s of sections) {
      if (s.id === 5) {
        tailStart = s.end;
        tailParts = parts.length;
        continue;
      }
      if (s.id === 2) {
        parts.push(newImportSection);
        placed = true;
        tailStart = s.end;
        tailParts = parts.length;
        continue;
      }
      if (!placed && s.id !== 0 && s.id !== 1 && (!typeSection || s.start > typeSection.start)) {
        parts.push(newImportSection);
        placed = true;
        tailStart = s.start;
        tailParts = parts.length;
      }
      parts.push(bytes.subarray(s.start, s.end));
    }
    if (!placed) {
      parts.push(newImportSection);
      tailStart = bytes.length;
      tailParts = parts.length;
    }
    const dataSection = sections.find((sec) => sec.id === 11);
    const dataRanges = dataSection ? activeDataRanges(bytes, dataSection.bodyStart, dataSection.end) : [];
    return {
      head: concat(parts.slice(0, tailParts)),
      tailStart,
      memory: { initial: memLimits.min, ...(max === undefined ? {} : { maximum: max }), ...(dataRanges ? { dataRanges } : {}) },
    };
  } catch (err) {
    if (err instanceof Unsupported || err instanceof RangeError) return undefined;
    throw err;
  }
}

/**
 * The rewritten module and its memory's limits, or undefined when the module keeps its own memory.
 * `maximumPages` caps the memory (the smaller of it and the module's own maximum wins).
 */
export function importMemory(bytes: Uint8Array, maximumPages?: number): { bytes: Uint8Array; memory: ImportedMemory } | undefined {
  const rw = planRewrite(bytes, maximumPages);
  if (!rw) return undefined;
  return { bytes: concat([rw.head, bytes.subarray(rw.tailStart)]), memory: rw.memory };
}

/**
 * `importMemory` without the copy: calls `use` once, synchronously, with the rewritten module, which
 * for a module inside a larger buffer (a core module inside its component) is that buffer itself:
 * the new head is written over the bytes just before the unchanged tail, and those bytes are put
 * back before this returns. Copying a 13 MB module into fresh memory costs ~11 ms in a fresh
 * process, nearly all of it page faults (a second copy into the same memory: ~1.3 ms).
 *
 * `use` must not keep the view or let anything else run meanwhile: WebAssembly.compile(view) is the
 * intended use (it copies its argument before returning, test/wasm/memory-import.test.ts checks that
 * this engine does). `within` is a view holding `bytes` whose bytes before it may be borrowed so; it is
 * unchanged when this returns or throws. When `within` has too little room before the module, or
 * lives in a SharedArrayBuffer another thread could read, the rewritten module is a copy instead.
 */
export function withImportedMemory<T>(
  bytes: Uint8Array,
  within: Uint8Array,
  maximumPages: number | undefined,
  use: (rewritten: Uint8Array) => T,
): { result: T; memory: ImportedMemory } | undefined {
  const rw = planRewrite(bytes, maximumPages);
  if (!rw) return undefined;
  const tailAt = bytes.byteOffset + rw.tailStart;
  const from = tailAt - rw.head.length;
  const borrowable =
    bytes.buffer === within.buffer &&
    !(typeof SharedArrayBuffer === 'function' && within.buffer instanceof SharedArrayBuffer) &&
    from >= within.byteOffset &&
    bytes.byteOffset + bytes.length <= within.byteOffset + within.length;
  if (!borrowable) return { result: use(concat([rw.head, bytes.subarray(rw.tailStart)])), memory: rw.memory };
  const view = new Uint8Array(bytes.buffer, from, rw.head.length + bytes.length - rw.tailStart);
  const saved = view.slice(0, rw.head.length);
  view.set(rw.head, 0);
  try {
    return { result: use(view), memory: rw.memory };
  } finally {
    view.set(saved, 0);
  }
}
