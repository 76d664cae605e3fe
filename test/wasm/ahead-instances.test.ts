/**
 * Instances made ahead of their request (Executor.warm, and a worker's next instance of the component
 * it just ran): the request that takes one pays only its call, yet every request still gets an
 * instance of its own, under its own config's memory cap, and components whose instantiation would
 * run guest code (a start function) are never instantiated outside a request.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Executor, zeroRanges } from '../../server/wasm/executor.js';
import type { GuestRequest, RunReport } from '../../server/wasm/executor.js';
import { prepareComponent, digestOf, requireHttpHandler } from '../../server/wasm/component-loader.js';
import type { PreparedComponent } from '../../server/wasm/component-loader.js';
import type { GuestConfig } from '../../server/wasm/worker-protocol.js';
import type { Logger } from '../../server/observability/logger.js';
import { repoRoot, sharedWasm } from '../helpers/gateway.js';
import { watComponent } from '../helpers/wat-components.js';

const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => quiet };

async function prepare(file: string): Promise<PreparedComponent> {
  const bytes = await readFile(file);
  return prepareComponent(bytes, digestOf(bytes), { label: file });
}

function request(component: PreparedComponent, configKey = 'k', config: Partial<GuestConfig> = {}): GuestRequest {
  return {
    component,
    handler: requireHttpHandler(component, 'test'),
    configKey,
    config: { app: 'a', component: 'c', environment: [], files: [], ...config },
    head: { method: 'GET', pathWithQuery: '/', scheme: 'http', authority: 'test', headers: [] },
    body: null,
    maxBodyBytes: 1024,
    deadlineMs: 30_000,
  };
}

/** Runs one request to its end: the response status (or the failure's code) and the report. */
async function run(executor: Executor, req: GuestRequest): Promise<{ status: number | string; report: RunReport }> {
  const h = executor.run(req);
  const status = await h.response.then(
    (r) => r.status,
    (err: { code?: string }) => err.code ?? 'error',
  );
  return { status, report: await h.done };
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('the Rust fixture and the TypeScript hello may be instantiated ahead; a start function rules it out', async (t) => {
  t.equal((await prepare(sharedWasm('hello_wasi_http.wasm'))).ahead, true, 'Rust fixture');
  t.equal((await prepare(path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm'))).ahead, true, 'componentize-js hello');
  t.equal((await prepare(await watComponent('started'))).ahead, false, 'a core module with a start function');
});

t.test('after warm, the first request takes the instance made ahead and answers from it', async (t) => {
  const executor = new Executor({ workers: 2, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  const c = await prepare(sharedWasm('hello_wasi_http.wasm'));
  const req = request(c);
  executor.warm([{ component: c, configKey: req.configKey, config: req.config }]);
  const first = await run(executor, req);
  t.equal(first.status, 200);
  t.equal(first.report.outcome, 'ok');
  t.equal(first.report.ahead, true, 'its instance was made ahead');
  t.ok(first.report.instantiateUs > 0, 'and what making it cost is still reported');
});

t.test('each request still gets its own instance: a guest that marks its memory never finds a mark', async (t) => {
  const executor = new Executor({ workers: 1, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  const c = await prepare(await watComponent('dirty-memory'));
  const req = request(c);
  executor.warm([{ component: c, configKey: req.configKey, config: req.config }]);
  const reports: RunReport[] = [];
  for (let i = 0; i < 6; i++) {
    reports.push((await run(executor, req)).report);
    // Idle time between requests, in which the worker makes the next instance.
    await pause(50);
  }
  t.same(reports.map((r) => r.outcome), Array(6).fill('ok'), 'no run trapped on a mark an earlier one left');
  t.ok(reports.filter((r) => r.ahead).length >= 4, `most ran on instances made ahead (${reports.map((r) => (r.ahead ? 'A' : '-')).join('')})`);
});

t.test('an instance made ahead under one memory cap never serves a request under another', async (t) => {
  const executor = new Executor({ workers: 1, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  // Grows by ~188 MiB: refused (a trap) under a 64 MiB cap, allowed under 1 GiB.
  const c = await prepare(await watComponent('grow-memory'));
  const small = request(c, 'small', { maxMemoryBytes: 64 * 1024 * 1024 });
  const large = request(c, 'large', { maxMemoryBytes: 1024 * 1024 * 1024 });

  executor.warm([{ component: c, configKey: large.configKey, config: large.config }]);
  const underSmall = await run(executor, small);
  t.equal(underSmall.report.outcome, 'trap', 'the 64 MiB request hit its own cap, not the 1 GiB of the instance made ahead');
  t.notOk(underSmall.report.ahead, 'so it did not take that instance');

  executor.warm([{ component: c, configKey: small.configKey, config: small.config }]);
  const underLarge = await run(executor, large);
  t.equal(underLarge.report.outcome, 'ok', 'the 1 GiB request grew');
  t.notOk(underLarge.report.ahead);

  executor.warm([{ component: c, configKey: large.configKey, config: large.config }]);
  const matching = await run(executor, large);
  t.equal(matching.report.outcome, 'ok');
  t.equal(matching.report.ahead, true, 'the same cap: the instance made ahead serves it');
});

t.test('another component arriving discards the instance made ahead; both run correctly', async (t) => {
  const executor = new Executor({ workers: 1, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  const rust = await prepare(sharedWasm('hello_wasi_http.wasm'));
  const dirty = await prepare(await watComponent('dirty-memory'));
  executor.warm([{ component: dirty, configKey: 'd', config: request(dirty, 'd').config }]);
  const other = await run(executor, request(rust, 'r'));
  t.equal(other.status, 200, 'the other component answers');
  t.notOk(other.report.ahead);
  const reports: RunReport[] = [];
  for (let i = 0; i < 3; i++) reports.push((await run(executor, request(dirty, 'd'))).report);
  t.same(reports.map((r) => r.outcome), ['ok', 'ok', 'ok'], 'every dirty-memory run found its memory zeroed');
  t.notOk(reports[0]!.ahead, 'the instance made ahead for it was discarded, not kept past the other run');
});

t.test('a component with a start function is instantiated only for its request, its start run once per instance', async (t) => {
  const executor = new Executor({ workers: 1, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  const c = await prepare(await watComponent('started'));
  const req = request(c);
  executor.warm([{ component: c, configKey: req.configKey, config: req.config }]);
  for (let i = 0; i < 4; i++) {
    const r = await run(executor, req);
    t.equal(r.report.outcome, 'ok', `run ${i + 1}: the start function ran exactly once for its instance`);
    t.notOk(r.report.ahead, 'never made ahead');
    await pause(20);
  }
});

t.test('the ranges a recycled memory zeroes cover every byte no data segment rewrites', async (t) => {
  // Against a byte map, on random segment layouts: a byte outside every segment must be zeroed; a
  // zeroed range may cover segment bytes only in a gap of under 4 KiB between two zeroed ranges.
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let round = 0; round < 200; round++) {
    const size = 1 + rand(200_000);
    const raw: Array<[number, number]> = [];
    for (let i = rand(40); i > 0; i--) {
      const a = rand(size + 1000);
      raw.push([a, a + 1 + rand(6000)]);
    }
    raw.sort((x, y) => x[0] - y[0]);
    const covered: Array<[number, number]> = [];
    for (const [a, b] of raw) {
      const last = covered[covered.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else covered.push([a, b]);
    }
    const inSegment = new Uint8Array(size);
    for (const [a, b] of covered) inSegment.fill(1, Math.min(a, size), Math.min(b, size));
    const zeroed = new Uint8Array(size);
    const ranges = zeroRanges(covered, size);
    for (const [a, b] of ranges) zeroed.fill(1, a, b);
    const missed = inSegment.findIndex((s, i) => s === 0 && zeroed[i] === 0);
    if (missed !== -1) return t.fail(`round ${round}: byte ${missed} is outside every segment but not zeroed`);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![0] - ranges[i - 1]![1] < 4096) return t.fail(`round ${round}: ranges ${i - 1} and ${i} should have been merged`);
    }
    if (ranges.some(([a, b]) => a < 0 || b > size || b <= a)) return t.fail(`round ${round}: a range outside [0, size) or empty`);
  }
  t.pass('200 random layouts');
  t.same(zeroRanges([[100, 200]], 10_000), [[0, 10_000]], 'a small segment inside the memory is zeroed over (instantiation rewrites it)');
  t.same(zeroRanges([[0, 65536]], 65536), [], 'a memory wholly rewritten by its segments needs no zeroing');
  t.same(zeroRanges([[5000, 10_000]], 20_000), [[0, 5000], [10_000, 20_000]], 'a segment of 4 KiB or more is skipped');
});

t.test('a request waiting for its component to load still runs when the component is dropped and warmed again meanwhile', async (t) => {
  const executor = new Executor({ workers: 1, maxQueue: 8, logger: quiet });
  t.teardown(() => executor.close(0));
  const c = await prepare(sharedWasm('hello_wasi_http.wasm'));
  const req = request(c);
  // The run's load is posted but not answered yet when the component is dropped and loaded again:
  // the first answer belongs to the first load, and the request must not wait on it forever.
  const h = executor.run(req);
  executor.dropComponent(c.digest);
  executor.warm([{ component: c, configKey: req.configKey, config: req.config }]);
  const timeout = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref());
  const status = await Promise.race([h.response.then((r) => r.status), timeout]);
  t.equal(status, 200, 'answered');
  t.equal((await h.done).outcome, 'ok');
  t.equal((await run(executor, req)).status, 200, 'and the next request runs too');
});
