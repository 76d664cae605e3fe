/**
 * `npm run bench:executor`: what the worker-thread executor costs per request, measured against the
 * same component instantiated and called on the calling thread (which could not enforce a deadline).
 * Sequential requests, so the figure is latency, not throughput. Also measures how long stopping a
 * looping guest takes and how soon the pool serves again.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareComponent, digestOf, requireHttpHandler } from '../server/wasm/component-loader.js';
import type { PreparedComponent } from '../server/wasm/component-loader.js';
import { Executor } from '../server/wasm/executor.js';
import type { GuestRequest } from '../server/wasm/executor.js';
import { buildHostImports, activateInstance } from '../server/host/host-imports.js';
import { linkPlan } from '../server/wasm/component-runtime.js';
import { IncomingRequest, ResponseOutparam } from '../server/host/wasi-http.js';
import type { ResponseTarget } from '../server/host/wasi-http.js';
import { EMPTY_SOURCE } from '../server/host/wasi-io.js';
import type { ByteSink } from '../server/host/wasi-io.js';
import { benchRequest, percentile, quietLogger } from './bench-apps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');


/** Instantiate + handle on this thread, with a minimal host that collects the response. */
function inProcess(c: PreparedComponent, handler: string): () => number {
  const imports = buildHostImports();
  type Instantiate = (...a: unknown[]) => Record<string, { handle(a: unknown, b: unknown): void }>;
  const instantiate = c.plan
    ? (linkPlan(c.plan, imports) as unknown as Instantiate)
    : (new vm.Script(`(function () {\n${c.glue}\n})`).runInThisContext() as () => Instantiate)();
  const modules = new Map(c.modules);
  const memories = new Map(c.memories);
  const names = new Map([...c.modules].map(([n, m]) => [m, n] as const));
  const sink = (): ByteSink => ({ ready: () => true, block: () => {}, capacity: () => 65536, write: () => {}, flush: () => {} });
  return () => {
    let status = 0;
    const target: ResponseTarget = { head: (s) => void (status = s), error: () => {}, body: sink(), end: () => {}, abort: () => {} };
    activateInstance({ waiter: { waitAny: () => false, prime: () => {} }, cli: { environment: [], stdout: sink(), stderr: sink() }, filesystem: undefined });
    try {
      const exports = instantiate((n: string) => modules.get(n), imports, (m: WebAssembly.Module, i: WebAssembly.Imports) => {
        // Modules rewritten to import their memory get a fresh one, as a worker without recycling would.
        const spec = memories.get(names.get(m)!);
        return new WebAssembly.Instance(m, spec ? { ...i, spinet: { memory: new WebAssembly.Memory({ initial: spec.initial, ...(spec.maximum ? { maximum: spec.maximum } : {}) }) } } : i);
      });
      exports[handler]!.handle(new IncomingRequest({ method: 'GET', pathWithQuery: '/', scheme: 'http', authority: 'bench', headers: [] }, EMPTY_SOURCE), new ResponseOutparam(target));
    } finally {
      activateInstance(undefined);
    }
    return status;
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, component: { type: 'string' } } });
  const n = Number(values.n);
  const file = values.component ?? path.resolve(root, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm');
  const bytes = await readFile(file);
  const c = await prepareComponent(bytes, digestOf(bytes), { label: file });
  const handler = requireHttpHandler(c, file);

  const local = inProcess(c, handler);
  for (let i = 0; i < 200; i++) local();
  const localMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (local() !== 200) throw new Error('in-process run did not answer 200');
    localMs.push(performance.now() - t0);
  }

  const executor = new Executor({ workers: 1, maxQueue: 16, logger: quietLogger });
  const req = benchRequest(c, file);
  for (let i = 0; i < 200; i++) await executor.run(req).response;
  const workerMs: number[] = [];
  const guestMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const h = executor.run(req);
    const r = await h.response;
    if (r.status !== 200) throw new Error('executor run did not answer 200');
    workerMs.push(performance.now() - t0);
    const rep = await h.done;
    guestMs.push((rep.instantiateUs + rep.callUs) / 1000);
  }
  await executor.close();

  const p50Local = percentile(localMs, 50);
  const p50Worker = percentile(workerMs, 50);
  const p50Guest = percentile(guestMs, 50);
  const rows = [
    '| path | p50 ms | p99 ms |',
    '|---|---|---|',
    `| instantiate + handle on the calling thread (no deadline possible) | ${p50Local.toFixed(3)} | ${percentile(localMs, 99).toFixed(3)} |`,
    `| same inside the worker (guest time the worker reports) | ${p50Guest.toFixed(3)} | ${percentile(guestMs, 99).toFixed(3)} |`,
    `| executor.run → response, worker thread (deadline enforceable) | ${p50Worker.toFixed(3)} | ${percentile(workerMs, 99).toFixed(3)} |`,
  ];
  process.stdout.write(`${rows.join('\n')}\n\nworker mechanism cost per request (p50 round trip minus p50 guest time in the worker): ${(p50Worker - p50Guest).toFixed(3)} ms; ratio executor/in-process p50: ${(p50Worker / p50Local).toFixed(2)}\n`);

  // Stopping a looping guest: how long from deadline to the 504, and to the next served request.
  const loopFile = path.join(root, 'components', 'loop', 'dist', 'loop.wasm');
  const loopBytes = await readFile(loopFile).catch(() => undefined);
  if (loopBytes) {
    const lc = await prepareComponent(loopBytes, digestOf(loopBytes), { label: loopFile });
    const ex = new Executor({ workers: 1, maxQueue: 16, logger: quietLogger });
    const loopReq = benchRequest(lc, loopFile, { configKey: 'loop', head: { ...req.head!, pathWithQuery: '/loop' }, deadlineMs: 200 });
    const okReq: GuestRequest = { ...loopReq, head: req.head, deadlineMs: 30_000 };
    await ex.run(okReq).response;
    const t0 = performance.now();
    const stuck = ex.run(loopReq);
    await stuck.response.catch(() => {});
    const t504 = performance.now() - t0;
    const t1 = performance.now();
    await ex.run(okReq).response;
    const tNext = performance.now() - t1;
    await ex.close();
    process.stdout.write(`looping TypeScript guest, 200 ms deadline: 504 after ${t504.toFixed(1)} ms; next request on the replacement worker (glue load + first instance) took ${tNext.toFixed(1)} ms\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
