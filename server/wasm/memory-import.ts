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

import { WasmReader } from './wasm-reader.js';

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


function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function nameBytes(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...leb(b.length), ...b];
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
 * is not an `i32.const` (then the whole memory must be zeroed on reuse).
 */
function activeDataRanges(body: Uint8Array): Array<[number, number]> | undefined {
  const r = new WasmReader(body);
  const ranges: Array<[number, number]> = [];
  for (let n = r.u32(); n > 0; n--) {
    const flags = r.u32();
    if (flags === 1) {
      r.skip(r.u32()); // passive: written only by memory.init, into the zeroed part
      continue;
    }
    if (flags === 2 && r.u32() !== 0) return undefined;
    if (flags !== 0 && flags !== 2) return undefined;
    if (r.byte() !== 0x41) return undefined; // i32.const
    const offset = r.s32() >>> 0;
    if (r.byte() !== 0x0b) return undefined;
    const len = r.u32();
    r.skip(len);
    if (len > 0) ranges.push([offset, offset + len]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [a, b] of ranges) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

/** Whether a core module defines a linear memory of its own (a memory section). */
export function definesMemory(bytes: Uint8Array): boolean {
  try {
    const r = new WasmReader(bytes, 8);
    while (r.pos < bytes.length) {
      const id = r.byte();
      const size = r.u32();
      if (id === 5) return true;
      r.skip(size);
    }
  } catch {
    // malformed: compile will say so
  }
  return false;
}

/**
 * The rewritten module and its memory's limits, or undefined when the module keeps its own memory.
 * `maximumPages` caps the memory (the smaller of it and the module's own maximum wins).
 */
export function importMemory(bytes: Uint8Array, maximumPages?: number): { bytes: Uint8Array; memory: ImportedMemory } | undefined {
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

    let importBody: number[];
    if (importSection) {
      const ir = new WasmReader(bytes, importSection.bodyStart);
      const count = ir.u32();
      importBody = [...leb(count + 1), ...bytes.subarray(ir.pos, importSection.end), ...entry];
    } else {
      importBody = [...leb(1), ...entry];
    }
    const newImportSection = Uint8Array.from([0x02, ...leb(importBody.length), ...importBody]);

    // Reassemble: the import section replaces the old one (or goes right after the type section),
    // the memory section is dropped, everything else is copied byte for byte.
    const parts: Uint8Array[] = [bytes.subarray(0, 8)];
    let placed = false;
    const typeSection = sections.find((s) => s.id === 1);
    for (const s of sections) {
      if (s.id === 5) continue;
      if (s.id === 2) {
        parts.push(newImportSection);
        placed = true;
        continue;
      }
      if (!placed && s.id !== 0 && s.id !== 1 && (!typeSection || s.start > typeSection.start)) {
        parts.push(newImportSection);
        placed = true;
      }
      parts.push(bytes.subarray(s.start, s.end));
    }
    if (!placed) parts.push(newImportSection);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    const dataSection = sections.find((sec) => sec.id === 11);
    const dataRanges = dataSection ? activeDataRanges(bytes.subarray(dataSection.bodyStart, dataSection.end)) : [];
    return { bytes: out, memory: { initial: memLimits.min, ...(max === undefined ? {} : { maximum: max }), ...(dataRanges ? { dataRanges } : {}) } };
  } catch (err) {
    if (err instanceof Unsupported || err instanceof RangeError) return undefined;
    throw err;
  }
}
