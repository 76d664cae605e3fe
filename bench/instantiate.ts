/**
 * `npm run bench:instantiate`: a TypeScript guest's instantiate + call inside spinet's executor,
 * against the engine's own floor for the same code: `new WebAssembly.Instance` of the component's
 * main core module as shipped (its own memory and data segments, every import a stub). Sequential
 * requests, so the figures are per-request latency with nothing else competing, plus the worker's
 * own split between instantiating and calling.
 *
 * Usage: node dist/bench/instantiate.js [--n 400] [--component path.wasm] [--rounds 3]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareComponent, digestOf } from '../server/wasm/component-loader.js';
import { planComponent } from '../server/wasm/component-plan.js';
import { Executor } from '../server/wasm/executor.js';
import { benchRequest, median, percentile, quietLogger } from './bench-apps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The largest core module of the component, as shipped, with stub imports. */
async function engineFloor(bytes: Uint8Array, n: number): Promise<{ p50: number; p99: number; moduleMiB: number }> {
  const { files } = planComponent(bytes);
  const [, main] = [...files].sort((a, b) => b[1].length - a[1].length)[0]!;
  const module = await WebAssembly.compile(main);
  const imports: Record<string, Record<string, unknown>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') throw new Error(`the main module imports a ${imp.kind} (${imp.module}.${imp.name}); this floor covers function imports only`);
    (imports[imp.module] ??= {})[imp.name] = () => {
      throw new Error('stub');
    };
  }
  for (let i = 0; i < 20; i++) new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    new WebAssembly.Instance(module, imports as WebAssembly.Imports);
    ms.push(performance.now() - t0);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), moduleMiB: main.length / 2 ** 20 };
}

async function spinetPath(bytes: Uint8Array, file: string, n: number): Promise<{ p50: number; p99: number; instantiateP50: number; callP50: number; roundTripP50: number }> {
  const c = await prepareComponent(bytes, digestOf(bytes), { label: file });
  if (c.linker !== 'spinet') throw new Error(`${file} is not served by spinet's linker`);
  const executor = new Executor({ workers: 1, maxQueue: 16, logger: quietLogger });
  const req = benchRequest(c, file);
  try {
    for (let i = 0; i < 50; i++) await (await executor.run(req)).done;
    const guest: number[] = [];
    const inst: number[] = [];
    const call: number[] = [];
    const trip: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const h = executor.run(req);
      const r = await h.response;
      trip.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`run answered ${r.status}`);
      const rep = await h.done;
      guest.push((rep.instantiateUs + rep.callUs) / 1000);
      inst.push(rep.instantiateUs / 1000);
      call.push(rep.callUs / 1000);
    }
    return { p50: percentile(guest, 50), p99: percentile(guest, 99), instantiateP50: percentile(inst, 50), callP50: percentile(call, 50), roundTripP50: percentile(trip, 50) };
  } finally {
    await executor.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '400' }, rounds: { type: 'string', default: '3' }, component: { type: 'string' } } });
  const n = Number(values.n);
  const rounds = Number(values.rounds);
  const file = values.component ?? path.join(root, 'components', 'hello', 'dist', 'hello.wasm');
  const bytes = await readFile(file);
  const floors: Array<Awaited<ReturnType<typeof engineFloor>>> = [];
  const ours: Array<Awaited<ReturnType<typeof spinetPath>>> = [];
  for (let r = 0; r < rounds; r++) {
    floors.push(await engineFloor(bytes, n));
    ours.push(await spinetPath(bytes, file, n));
    process.stderr.write(`round ${r + 1}: engine floor p50 ${floors[r]!.p50.toFixed(2)} ms; spinet instantiate + call p50 ${ours[r]!.p50.toFixed(2)} ms\n`);
  }
  const floor = median(floors.map((f) => f.p50));
  const guest = median(ours.map((o) => o.p50));
  const rows = [
    `| ${path.basename(file)} (main core module ${floors[0]!.moduleMiB.toFixed(1)} MiB), median of ${rounds} rounds × ${n} sequential requests | p50 ms | p99 ms |`,
    '|---|---|---|',
    `| engine floor: \`new WebAssembly.Instance\` of the main core module as shipped (fresh memory, data segments) | ${floor.toFixed(2)} | ${median(floors.map((f) => f.p99)).toFixed(2)} |`,
    `| spinet: instantiate (all core modules, recycled memory) + handle, in the worker | ${guest.toFixed(2)} | ${median(ours.map((o) => o.p99)).toFixed(2)} |`,
    `| of which instantiate | ${median(ours.map((o) => o.instantiateP50)).toFixed(2)} | |`,
    `| of which the handle call | ${median(ours.map((o) => o.callP50)).toFixed(2)} | |`,
    `| executor.run → response on the gateway thread | ${median(ours.map((o) => o.roundTripP50)).toFixed(2)} | |`,
  ];
  process.stdout.write(`${rows.join('\n')}\n\nspinet instantiate + call / engine floor, p50: ${(guest / floor).toFixed(2)}× (target ≤ 1.5×)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
