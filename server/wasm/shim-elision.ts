/**
 * Removes wit-component's indirection modules from a link plan.
 *
 * A component's main core module imports functions that can only exist after it does: host functions
 * lowered with the main module's own memory and realloc, and the preview1 adapter's functions (the
 * adapter imports the main module's memory). wit-component breaks that cycle with two tiny core
 * modules: a "shim" instantiated first, whose exported functions `call_indirect` through a table it
 * exports as `$imports`, and a "fixup" instantiated last, whose element segment fills that table
 * with the real functions. Each is a `new WebAssembly.Instance` per request, ~13-25 µs apiece in V8
 * (bench/RESULTS.md), for a Rust hello world a third of the instantiation time.
 *
 * spinet needs neither: its trampolines find their memory and realloc through the running instance's
 * context, so the main module can import them directly; a function of a core instance created later
 * (the adapter's `fd_write`) is reached through a forwarder that looks it up in the running
 * instance's namespaces when called (a `late` reference). A forwarder crosses into JavaScript, so it
 * is used only for integer signatures, which round-trip through JS exactly; a float passing through
 * JS could lose a NaN's payload bits.
 *
 * Only the exact shapes wit-component emits are recognised (checked instruction by instruction);
 * anything else leaves the plan as it was, which links and behaves the same, only slower.
 */

import type { CoreInstancePlan, CoreRef, LinkPlan } from './component-plan.js';
import { WasmReader, sectionIds } from './wasm-reader.js';

class NotAShim extends Error {}

interface Sig {
  readonly params: readonly number[];
  readonly results: readonly number[];
}

const I32 = 0x7f;
const I64 = 0x7e;
const NUMERIC = new Set([I32, I64, 0x7d, 0x7c]);

function sameSig(a: Sig, b: Sig): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length && a.params.every((t, i) => t === b.params[i]) && a.results.every((t, i) => t === b.results[i]);
}

/** A funcref table type (element type and limits); anything else is not a shim's. */
function funcrefTable(s: WasmReader): void {
  if (s.byte() !== 0x70) throw new NotAShim('table of non-funcref');
  const flags = s.byte();
  s.u32();
  if (flags === 1) s.u32();
  else if (flags !== 0) throw new NotAShim('table limits');
}

/** The sections of a core module this file reads; any other non-custom section means "not a shim". */
interface Sections {
  types: Sig[];
  imports: Array<{ module: string; name: string; kind: number; type?: number }>;
  funcs: number[];
  tables: number;
  exports: Array<{ name: string; kind: number; index: number }>;
  elems: Array<{ table: number; offset: number; funcs: number[] }>;
  bodies: Array<{ start: number; end: number }>;
  bytes: Uint8Array;
}

/** Section ids `sections` reads (custom, type, import, function, table, export, element, code). */
const READ_SECTIONS = new Set([0, 1, 2, 3, 4, 7, 9, 10]);

/**
 * What a module must not have to be a shim (`shim`) or a fixup (`fixup`): judged from section ids and
 * element counts alone, before `sections` parses anything. The guest's main module (13 MB, thousands
 * of functions) and the preview1 adapter are candidates too, and parsing their import, function and
 * element sections only to reject them at their memory section cost more than the rest of planning
 * in a fresh process. A rejection here is one `sections` and the shape checks would make anyway: the
 * counts are those of the section `sections` keeps (the last of its kind, or the sum for tables and
 * code), and a count that cannot be read is a RangeError, as it would be there.
 */
function precheck(bytes: Uint8Array, shape: 'shim' | 'fixup'): void {
  const last = new Map<number, number>();
  let tables = 0;
  let bodies = 0;
  const r = new WasmReader(bytes, 8);
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    if (!READ_SECTIONS.has(id)) throw new NotAShim(`section ${id}`);
    const start = r.pos;
    r.skip(size);
    if (id === 0 || id === 1) continue;
    const count = new WasmReader(bytes, start, start + size).u32();
    if (id === 4) tables += count;
    else if (id === 10) bodies += count;
    else last.set(id, count);
  }
  const has = (id: number): boolean => (last.get(id) ?? 0) > 0;
  if (shape === 'fixup' ? has(3) || tables > 0 || has(7) || bodies > 0 : has(2) || has(9) || tables !== 1) throw new NotAShim('shape');
}

function sections(bytes: Uint8Array, shape: 'shim' | 'fixup'): Sections {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d || bytes[4] !== 1) throw new NotAShim('not a core module');
  precheck(bytes, shape);
  const out: Sections = { types: [], imports: [], funcs: [], tables: 0, exports: [], elems: [], bodies: [], bytes };
  const r = new WasmReader(bytes, 8);
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const s = new WasmReader(bytes, r.pos, r.pos + size);
    r.skip(size);
    switch (id) {
      case 0:
        break;
      case 1:
        out.types = s.vec(() => {
          if (s.byte() !== 0x60) throw new NotAShim('non-function type');
          const vt = (): number => {
            const t = s.byte();
            if (!NUMERIC.has(t)) throw new NotAShim('non-numeric value type');
            return t;
          };
          return { params: s.vec(vt), results: s.vec(vt) };
        });
        break;
      case 2:
        out.imports = s.vec(() => {
          const module = s.str();
          const name = s.str();
          const kind = s.byte();
          if (kind === 0x00) return { module, name, kind, type: s.u32() };
          if (kind === 0x01) {
            funcrefTable(s);
            return { module, name, kind };
          }
          throw new NotAShim('import of a memory or global');
        });
        break;
      case 3:
        out.funcs = s.vec(() => s.u32());
        break;
      case 4:
        s.each(() => {
          funcrefTable(s);
          out.tables++;
        });
        break;
      case 7:
        out.exports = s.vec(() => ({ name: s.str(), kind: s.byte(), index: s.u32() }));
        break;
      case 9:
        out.elems = s.vec(() => {
          const flags = s.u32();
          let table = 0;
          if (flags === 2) table = s.u32();
          else if (flags !== 0) throw new NotAShim(`element segment form ${flags}`);
          if (s.byte() !== 0x41) throw new NotAShim('element offset is not i32.const');
          const offset = s.s32();
          if (s.byte() !== 0x0b) throw new NotAShim('element offset is not a constant');
          if (flags === 2 && s.byte() !== 0x00) throw new NotAShim('element kind');
          return { table, offset, funcs: s.vec(() => s.u32()) };
        });
        break;
      case 10:
        s.each(() => {
          const n = s.u32();
          out.bodies.push({ start: s.pos, end: s.pos + n });
          s.skip(n);
        });
        break;
      default:
        throw new NotAShim(`section ${id}`);
    }
  }
  return out;
}

function typeAt(m: Sections, i: number | undefined): Sig {
  const t = i === undefined ? undefined : m.types[i];
  if (!t) throw new NotAShim('type index out of range');
  return t;
}

/**
 * A shim: no imports, one table exported as `$imports`, and functions each of which is exactly
 * `local.get 0 … local.get n-1; i32.const k; call_indirect (its own type) 0; end`.
 * Returns export name → table slot and signature.
 */
function readShim(bytes: Uint8Array): Map<string, { slot: number; sig: Sig }> {
  const m = sections(bytes, 'shim');
  if (m.imports.length > 0 || m.tables !== 1 || m.elems.length > 0 || m.bodies.length !== m.funcs.length) throw new NotAShim('shape');
  const slots = m.funcs.map((typeIdx, f) => {
    const sig = typeAt(m, typeIdx);
    const body = m.bodies[f]!;
    const r = new WasmReader(bytes, body.start, body.end);
    if (r.u32() !== 0) throw new NotAShim('locals');
    for (let p = 0; p < sig.params.length; p++) if (r.byte() !== 0x20 || r.u32() !== p) throw new NotAShim('not a parameter forward');
    if (r.byte() !== 0x41) throw new NotAShim('no slot');
    const slot = r.s32();
    if (r.byte() !== 0x11 || !sameSig(typeAt(m, r.u32()), sig) || r.byte() !== 0x00 || r.byte() !== 0x0b || !r.done) throw new NotAShim('not a call_indirect');
    return { slot, sig };
  });
  const out = new Map<string, { slot: number; sig: Sig }>();
  let table = false;
  for (const e of m.exports) {
    if (e.kind === 0x01 && e.name === '$imports' && e.index === 0) table = true;
    else if (e.kind === 0x00 && slots[e.index]) out.set(e.name, slots[e.index]!);
    else throw new NotAShim('export');
  }
  if (!table) throw new NotAShim('no $imports table');
  return out;
}

/**
 * A fixup: imports functions and one table (`$imports`), defines nothing, and has element segments
 * that put imported functions into that table. Returns where the table comes from, and table slot →
 * imported function (module and name) and its signature.
 */
function readFixup(bytes: Uint8Array): { table: string; slots: Map<number, { module: string; name: string; sig: Sig }> } {
  const m = sections(bytes, 'fixup');
  if (m.funcs.length > 0 || m.tables > 0 || m.exports.length > 0 || m.bodies.length > 0) throw new NotAShim('shape');
  const funcs: Array<{ module: string; name: string; sig: Sig }> = [];
  let table: string | undefined;
  for (const i of m.imports) {
    if (i.kind === 0x00) funcs.push({ module: i.module, name: i.name, sig: typeAt(m, i.type) });
    else if (i.name === '$imports' && table === undefined) table = i.module;
    else throw new NotAShim('import');
  }
  if (table === undefined) throw new NotAShim('no $imports table');
  const slots = new Map<number, { module: string; name: string; sig: Sig }>();
  for (const e of m.elems) {
    if (e.table !== 0) throw new NotAShim('element table');
    e.funcs.forEach((f, j) => {
      const fn = funcs[f];
      if (!fn) throw new NotAShim('element function');
      slots.set(e.offset + j, fn);
    });
  }
  return { table, slots };
}

const isNs = (r: CoreRef): r is { ns: number; name: string } => 'ns' in r;

/** Every core reference a plan holds outside inline instances (canonical options, lifted cores). */
function otherRefs(plan: LinkPlan): CoreRef[] {
  const refs: CoreRef[] = [];
  const opts = (o: { memory?: CoreRef; realloc?: CoreRef; postReturn?: CoreRef }): void => {
    for (const r of [o.memory, o.realloc, o.postReturn]) if (r) refs.push(r);
  };
  for (const t of plan.trampolines) if (t.k === 'lower') opts(t);
  for (const l of plan.lifts) {
    refs.push(l.core);
    opts(l);
  }
  return refs;
}

/**
 * The plan without its shim/fixup pairs, or the plan unchanged when they are not exactly the shape
 * wit-component emits.
 */
export function elideShims(plan: LinkPlan, files: ReadonlyMap<string, Uint8Array>): LinkPlan {
  let out: LinkPlan;
  try {
    out = elide(plan, files);
  } catch (err) {
    if (err instanceof NotAShim || err instanceof RangeError) return plan;
    throw err;
  }
  return out === plan ? plan : deferLateOnly(out, files);
}

/**
 * Whether instantiating a core module has no effect outside the new instance: no start function,
 * no data or element segments (which could write an imported memory or table). Such an instance can
 * be created later than its place in the plan without any observable difference.
 */
function inert(bytes: Uint8Array): boolean {
  try {
    const ids = sectionIds(bytes);
    return !ids.has(8) && !ids.has(9) && !ids.has(11);
  } catch {
    return false;
  }
}

/**
 * Marks lazy the module instances that only forwarders reach (the preview1 adapter of a guest that
 * never prints or reads its environment): a request that never calls them never pays for them.
 */
function deferLateOnly(plan: LinkPlan, files: ReadonlyMap<string, Uint8Array>): LinkPlan {
  const late = new Set<number>();
  const direct = new Set<number>();
  for (const r of otherRefs(plan)) if (isNs(r)) direct.add(r.ns);
  for (const ci of plan.instances) {
    if (ci.k === 'module') for (const [, ns] of ci.args) direct.add(ns);
    else for (const [, r] of ci.items) if ('late' in r) late.add(r.late);
    else if (isNs(r)) direct.add(r.ns);
  }
  let changed = false;
  const instances = plan.instances.map((ci, i) => {
    if (ci.k !== 'module' || !late.has(i) || direct.has(i) || !inert(files.get(plan.modules[ci.module]!) ?? new Uint8Array())) return ci;
    changed = true;
    return { ...ci, lazy: true as const };
  });
  return changed ? { ...plan, instances } : plan;
}

function elide(plan: LinkPlan, files: ReadonlyMap<string, Uint8Array>): LinkPlan {
  const instances: CoreInstancePlan[] = [...plan.instances];
  const empty: CoreInstancePlan = { k: 'inline', items: [] };
  const moduleBytes = (i: number): Uint8Array => files.get(plan.modules[i]!) ?? new Uint8Array();
  const gone = new Set<number>();
  let changed = false;
  for (let f = 0; f < instances.length; f++) {
    const fixup = instances[f]!;
    if (fixup.k !== 'module' || fixup.args.length === 0) continue;
    let fixupInfo: ReturnType<typeof readFixup>;
    try {
      fixupInfo = readFixup(moduleBytes(fixup.module));
    } catch (err) {
      if (err instanceof NotAShim || err instanceof RangeError) continue;
      throw err;
    }
    const args = new Map(fixup.args);
    // The table comes from the shim itself or from an inline instance re-exporting it.
    const tableNs = args.get(fixupInfo.table);
    const tableFrom = tableNs === undefined ? undefined : instances[tableNs];
    let shimNs: number;
    if (tableFrom?.k === 'module') shimNs = tableNs!;
    else {
      const ref = tableFrom?.items.find(([name]) => name === '$imports')?.[1];
      if (!ref || !isNs(ref) || ref.name !== '$imports') continue;
      shimNs = ref.ns;
    }
    const shim = instances[shimNs];
    if (shim?.k !== 'module' || shim.args.length !== 0 || shimNs >= f) continue;
    let slots: Map<string, { slot: number; sig: Sig }>;
    try {
      slots = readShim(moduleBytes(shim.module));
    } catch (err) {
      if (err instanceof NotAShim || err instanceof RangeError) continue;
      throw err;
    }
    // The indirection: the shim, the fixup, and the inline instances only the fixup imports.
    const own = new Set<number>([shimNs, f]);
    for (const ns of args.values()) if (instances[ns]?.k === 'inline') own.add(ns);
    // Shim export → what the fixup puts in its slot, and that function's signature.
    const target = new Map<string, { ref: CoreRef; sig: Sig }>();
    // An inline instance's items by name, built once per instance rather than once per slot.
    const itemsOf = new Map<number, Map<string, CoreRef>>();
    for (const [name, { slot, sig }] of slots) {
      const fill = fixupInfo.slots.get(slot);
      const fromNs = fill && args.get(fill.module);
      const from = fromNs === undefined ? undefined : instances[fromNs];
      let items = from?.k === 'inline' ? itemsOf.get(fromNs!) : undefined;
      if (from?.k === 'inline' && !items) itemsOf.set(fromNs!, (items = new Map(from.items)));
      const ref = !fill || !from ? undefined : from.k === 'inline' ? items!.get(fill.name) : { ns: fromNs!, name: fill.name };
      if (!fill || !ref || !sameSig(fill.sig, sig)) throw new NotAShim(`slot ${slot} is not filled with a matching function`);
      if (isNs(ref) && own.has(ref.ns)) throw new NotAShim('a slot refers to the indirection itself');
      target.set(name, { ref, sig });
    }
    // Nothing but the fixup's argument may see the table, and nothing outside inline instances the shim.
    for (const r of otherRefs(plan)) if (isNs(r) && own.has(r.ns)) throw new NotAShim('the indirection is used outside imports');
    for (let i = 0; i < instances.length; i++) {
      const ci = instances[i]!;
      if (own.has(i)) continue;
      if (ci.k === 'module') {
        if (ci.args.some(([, ns]) => own.has(ns))) throw new NotAShim('an indirection instance is imported whole');
        continue;
      }
      if (!ci.items.some(([, r]) => isNs(r) && own.has(r.ns))) continue;
      instances[i] = {
        k: 'inline',
        items: ci.items.map(([name, r]) => {
          if (!isNs(r) || !own.has(r.ns)) return [name, r] as const;
          const t = r.ns === shimNs ? target.get(r.name) : undefined;
          if (!t) throw new NotAShim(`${name} is not a shim function`);
          if (!isNs(t.ref) || t.ref.ns < i) return [name, t.ref] as const;
          // Created after this instance: a forwarder, for integer signatures only.
          if (![...t.sig.params, ...t.sig.results].every((v) => v === I32 || v === I64) || t.sig.results.length > 1) throw new NotAShim(`${name} needs a forwarder but has float or multiple results`);
          return [name, { late: t.ref.ns, name: t.ref.name }] as const;
        }),
      };
    }
    for (const ns of own) {
      instances[ns] = empty;
      gone.add(ns);
    }
    changed = true;
  }
  if (!changed) return plan;
  // One pair's slot may have named another pair's shim: then keep the plan as it was.
  const dangling = (r: CoreRef): boolean => ('ns' in r && gone.has(r.ns)) || ('late' in r && gone.has(r.late));
  if (otherRefs(plan).some(dangling) || instances.some((ci) => ci.k === 'inline' && ci.items.some(([, r]) => dangling(r)))) throw new NotAShim('a slot named an elided shim');
  return { ...plan, instances };
}
