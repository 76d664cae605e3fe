/**
 * What one `new WebAssembly.Instance` costs on this engine, and what it costs per import, per
 * exported function and for mutable globals: the part of a per-request instance no host code can
 * remove (issue 8, target 1). Synthetic modules isolate each term; then every core module spinet's
 * link plan instantiates per request for a component (the Rust fixture by default) is timed with the
 * same loop, beside what the terms predict for it.
 *
 * Each figure is the median over rounds of a tight loop in one process (no HTTP, no worker hop, no
 * call), so it is a floor: under load, GC and cache misses add to it.
 *
 * Usage: node dist/bench/instance-cost.js [--component FILE.wasm] [--rounds 5] [--n 20000]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareComponent, digestOf } from '../server/wasm/component-loader.js';
import { planComponent } from '../server/wasm/component-plan.js';
import { WasmReader, leb, nameBytes } from '../server/wasm/wasm-reader.js';
import { median, root } from './bench-apps.js';

const { values } = parseArgs({ options: { component: { type: 'string' }, rounds: { type: 'string', default: '5' }, n: { type: 'string', default: '20000' } } });
const rounds = Number(values.rounds);
const n = Number(values.n);
const file = path.resolve(values.component ?? path.join(root, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm'));

/** µs per `new WebAssembly.Instance` for each case: rounds interleave the cases, each figure is its median. */
function usPerInstance(cases: ReadonlyArray<readonly [WebAssembly.Module, WebAssembly.Imports]>): number[] {
  for (const [m, i] of cases) for (let k = 0; k < 2000; k++) new WebAssembly.Instance(m, i);
  const per = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach(([m, imports], c) => {
      const t0 = performance.now();
      for (let k = 0; k < n; k++) new WebAssembly.Instance(m, imports);
      per[c]!.push(((performance.now() - t0) * 1000) / n);
    });
  }
  return per.map(median);
}

// ── a minimal binary encoder for the synthetic modules ──
const sleb = (x: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
// concat, not spread: a data segment of 256 KiB would overflow the stack as call arguments.
const section = (id: number, items: number[][]): number[] => {
  const body = leb(items.length).concat(...items);
  return [id].concat(leb(body.length), body);
};

/** A module of empty functions: `imports` imported, `functions` defined (`exports` of them exported), `globals` mutable i32s, a table of `elements`. */
function synthetic(shape: { imports?: number; functions?: number; exports?: number; globals?: number; elements?: number; segments?: number; segmentBytes?: number }): WebAssembly.Module {
  const { imports = 0, exports = 0, globals = 0, elements = 0, segments = 0, segmentBytes = 0 } = shape;
  const functions = Math.max(shape.functions ?? 0, exports, elements > 0 ? 1 : 0);
  const parts: number[][] = [[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0], section(1, [[0x60, 0, 0]])]; // type 0: [] -> []
  // Data segments go into an imported memory (as in every module spinet rewrites), 4 pages.
  const importItems = Array.from({ length: imports }, (_, i) => [...nameBytes('m'), ...nameBytes(`f${i}`), 0x00, 0]);
  if (segments) importItems.push([...nameBytes('m'), ...nameBytes('memory'), 0x02, 0x00, 4]);
  if (importItems.length) parts.push(section(2, importItems));
  if (functions) parts.push(section(3, Array.from({ length: functions }, () => [0])));
  if (elements) parts.push(section(4, [[0x70, 0, ...leb(elements)]]));
  if (globals) parts.push(section(6, Array.from({ length: globals }, () => [0x7f, 1, 0x41, 0, 0x0b])));
  if (exports) parts.push(section(7, Array.from({ length: exports }, (_, i) => [...nameBytes(`e${i}`), 0x00, ...leb(imports + i)])));
  // One active segment filling the table with the module's own functions, in turn.
  if (elements) parts.push(section(9, [[0, 0x41, 0, 0x0b, ...leb(elements), ...Array.from({ length: elements }, (_, i) => leb(imports + (i % functions))).flat()]]));
  if (functions) parts.push(section(10, Array.from({ length: functions }, () => [2, 0, 0x0b])));
  // Back to back from address 0, each segmentBytes long.
  if (segments) parts.push(section(11, Array.from({ length: segments }, (_, i) => [0, 0x41].concat(sleb(i * segmentBytes), [0x0b], leb(segmentBytes), new Array<number>(segmentBytes).fill(0x5a)))));
  return new WebAssembly.Module(new Uint8Array(([] as number[]).concat(...parts)));
}

function importsFor(module: WebAssembly.Module, memory?: WebAssembly.Memory): WebAssembly.Imports {
  const noop = (): void => {};
  const o: Record<string, Record<string, unknown>> = {};
  for (const i of WebAssembly.Module.imports(module)) {
    o[i.module] ??= {};
    if (i.kind === 'function') o[i.module]![i.name] = noop;
    else if (i.kind === 'memory') o[i.module]![i.name] = memory ?? new WebAssembly.Memory({ initial: 4 });
    else throw new Error(`instance-cost: cannot stub a ${i.kind} import ${i.module}.${i.name}`);
  }
  return o as WebAssembly.Imports;
}

const K = 64;
const shapes = [
  {},
  { imports: K },
  { functions: K },
  { functions: K, exports: K },
  { functions: K, elements: K },
  { globals: 1 },
  { globals: K + 1 },
  { segments: 1, segmentBytes: 16 },
  { segments: K, segmentBytes: 16 },
  { segments: 1, segmentBytes: 4 * 65536 - 16 },
];
const [base, imp, fns, exp, elem, g1, gK, d1, dK, dBig] = usPerInstance(
  shapes.map((shape) => {
    const m = synthetic(shape);
    return [m, importsFor(m)] as const;
  }),
) as [number, number, number, number, number, number, number, number, number, number];
const perImport = (imp - base) / K;
const perFunction = (fns - base) / K;
const perExport = (exp - fns) / K;
const perElement = (elem - fns) / K;
const globalsBuffer = g1 - base;
const perGlobal = (gK - g1) / K;
const perSegment = (dK - d1) / (K - 1);
const perKiB = (dBig - d1) / ((4 * 65536 - 32) / 1024);

console.log(`Node ${process.version}, V8 ${process.versions.v8}; median of ${rounds} rounds × ${n} instances`);
console.log('');
console.log('| term | µs |');
console.log('|---|---|');
console.log(`| an empty module | ${base.toFixed(2)} |`);
console.log(`| per function import | ${perImport.toFixed(2)} |`);
console.log(`| per defined function | ${perFunction.toFixed(2)} |`);
console.log(`| per exported function | ${perExport.toFixed(2)} |`);
console.log(`| per table element (an active element segment) | ${perElement.toFixed(2)} |`);
console.log(`| mutable globals: the first / each further | ${globalsBuffer.toFixed(2)} / ${perGlobal.toFixed(2)} |`);
console.log(`| per active data segment | ${perSegment.toFixed(2)} |`);
console.log(`| per KiB of active data | ${perKiB.toFixed(3)} |`);

const bytes = await readFile(file);
const c = await prepareComponent(bytes, digestOf(bytes), { label: file });
if (!c.plan) throw new Error(`${file} is not served by spinet's linker`);
const compiled = new Map(c.modules);
const specs = new Map(c.memories);
const planned = planComponent(bytes).files;
console.log('');
console.log(`${path.basename(file)}: the core modules its link plan instantiates per request`);
console.log('');
console.log('| module | function imports | functions | exported functions | table elements | mutable globals | data segments (KiB) | µs per instance | sum of the terms above |');
console.log('|---|---|---|---|---|---|---|---|---|');
let total = 0;
for (const ci of c.plan.instances) {
  if (ci.k !== 'module') continue;
  const modName = c.plan.modules[ci.module]!;
  const module = compiled.get(modName)!;
  const spec = specs.get(modName);
  const memory = spec ? new WebAssembly.Memory({ initial: spec.initial, ...(spec.maximum !== undefined ? { maximum: spec.maximum } : {}) }) : undefined;
  const [us] = usPerInstance([[module, importsFor(module, memory)]]) as [number];
  total += us;
  const imports = WebAssembly.Module.imports(module).filter((i) => i.kind === 'function').length;
  const exportsFn = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').length;
  const shape = shapeOf(planned.get(modName)!);
  const predicted =
    base +
    imports * perImport +
    shape.functions * perFunction +
    exportsFn * perExport +
    shape.tableElements * perElement +
    (shape.mutableGlobals > 0 ? globalsBuffer + (shape.mutableGlobals - 1) * perGlobal : 0) +
    shape.dataSegments * perSegment +
    (shape.dataBytes / 1024) * perKiB;
  const data = `${shape.dataSegments} (${(shape.dataBytes / 1024).toFixed(0)})`;
  console.log(`| ${modName} | ${imports} | ${shape.functions} | ${exportsFn} | ${shape.tableElements} | ${shape.mutableGlobals} | ${data} | ${us.toFixed(1)} | ${predicted.toFixed(1)} |`);
}
console.log('');
console.log(`All core instances of one request: **${total.toFixed(1)} µs** of CPU on the thread that creates them.`);
console.log('What the terms leave out (signatures, functions of many types in one table, zeroing under segments) is the rest of each row.');

interface Shape {
  /** Functions the module defines (its function section). */
  functions: number;
  mutableGlobals: number;
  /** Entries its active element segments put into tables at instantiation. */
  tableElements: number;
  /** Active data segments, and their bytes. */
  dataSegments: number;
  dataBytes: number;
}

/** Skips one constant expression (a global's init, a segment's offset or element) up to its `end`. */
function skipConstExpr(r: WasmReader): void {
  for (let op = r.byte(); op !== 0x0b; op = r.byte()) {
    if (op === 0x41 || op === 0x42) while (r.byte() & 0x80); // i32/i64.const: a LEB128 of any width
    else if (op === 0x43) r.skip(4);
    else if (op === 0x44) r.skip(8);
    else if (op === 0x23 || op === 0xd2) r.u32();
    else if (op === 0xd0) r.s32();
    else if (op < 0x6a || op > 0x7e) throw new Error(`instance-cost: unexpected opcode 0x${op.toString(16)} in a constant expression`);
  }
}

/** What a module's bytes (as planned) say about the terms above. */
function shapeOf(bytes: Uint8Array): Shape {
  const shape: Shape = { functions: 0, mutableGlobals: 0, tableElements: 0, dataSegments: 0, dataBytes: 0 };
  const r = new WasmReader(bytes, 8);
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    if (id === 3) {
      const end = r.pos + size;
      shape.functions = r.u32();
      r.skip(end - r.pos);
    } else if (id === 6) {
      r.each(() => {
        const type = r.byte();
        if (type === 0x63 || type === 0x64) r.s32(); // (ref null? ht)
        if (r.byte() === 1) shape.mutableGlobals++;
        skipConstExpr(r);
      });
    } else if (id === 9) {
      r.each(() => {
        const flags = r.u32();
        const active = (flags & 1) === 0;
        if (flags === 2 || flags === 6) r.u32(); // table index
        if (active) skipConstExpr(r); // offset
        if (flags & 3) r.byte(); // elemkind or reftype
        const count = r.u32();
        for (let i = 0; i < count; i++) {
          if (flags & 4) skipConstExpr(r);
          else r.u32();
        }
        if (active) shape.tableElements += count;
      });
    } else if (id === 11) {
      r.each(() => {
        const flags = r.u32();
        if (flags === 2) r.u32(); // memory index
        if (flags !== 1) skipConstExpr(r);
        const len = r.u32();
        r.skip(len);
        if (flags !== 1) {
          shape.dataSegments++;
          shape.dataBytes += len;
        }
      });
    } else {
      r.skip(size);
    }
  }
  return shape;
}
