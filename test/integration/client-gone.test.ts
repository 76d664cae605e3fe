/**
 * A client that goes away before its response is not a guest failure: whether its request was
 * running, posted to a busy worker to run next, or waiting in the queue, the gateway logs it once at
 * info, counts it as 499 (not the 200 a closed response defaults to), never runs a request nobody
 * waits for, and still reports a guest that ran past its deadline as failed.
 */
import t from 'tap';
import http from 'node:http';
import path from 'node:path';
import { appDir, testGateway, sharedWasm } from '../helpers/gateway.js';
import { watComponent } from '../helpers/wat-components.js';
import { metricSample as sample } from '../helpers/metrics.js';

const DEADLINE_MS = 800;

/** Sends GET `url` and returns a function that drops the connection (no response is awaited). */
function leaveLater(url: string): { drop: () => void; sent: Promise<void> } {
  const req = http.get(url);
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  const sent = new Promise<void>((resolve) => req.on('finish', () => resolve()));
  return { drop: () => req.destroy(), sent };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('clients that leave: running, posted ahead, queued', async (t) => {
  const loop = await watComponent('loop');
  const dir = t.testdir({
    'spin.toml': `spin_manifest_version = 2
[application]
name = "leavers"
[[trigger.http]]
route = "/loop"
component = "loop"
[[trigger.http]]
route = "/hello"
component = "hello"
[component.loop]
source = ${JSON.stringify(loop)}
[component.hello]
source = ${JSON.stringify(sharedWasm('hello_wasi_http.wasm'))}
`,
  });
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_WORKERS: '1', SPINET_DEADLINE_MS: String(DEADLINE_MS) }, logs);
  t.teardown(() => gw.close());
  const base = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });

  // One worker: the first request runs (a guest that loops until its deadline), the second is
  // posted to that worker to run next, the third waits in the queue.
  const running = leaveLater(`${base}/loop`);
  await running.sent;
  while (gw.executor.load.running === 0) await sleep(10);
  // Its run message is posted once the worker has the component (loaded when the app was activated).
  await sleep(200);
  const ahead = leaveLater(`${base}/loop`);
  await ahead.sent;
  await sleep(50);
  const queued = leaveLater(`${base}/loop`);
  await queued.sent;
  await sleep(100);
  t.same(gw.executor.load, { running: 1, queued: 2, workers: 1 }, 'one running, one posted ahead and one queued');
  queued.drop();
  ahead.drop();
  running.drop();
  await sleep(100);
  t.equal(gw.executor.load.queued, 1, 'the queued request left the queue at once; the one posted ahead stays with its busy worker');

  // The running guest meets its deadline and its worker is replaced; the request that was posted
  // ahead to it must not run on the replacement, since its client is gone. If it did, it would loop
  // for a second deadline.
  await sleep(DEADLINE_MS * 2.5);
  t.same(gw.executor.load, { running: 0, queued: 0, workers: 1 }, 'nothing runs for clients that left');
  const deadlines = logs.filter((l) => l.msg === 'guest ran past its deadline; stopping its worker');
  t.equal(deadlines.length, 1, 'only the running request reached a deadline');

  const failed = logs.filter((l) => l.msg === 'guest request failed');
  t.same(failed, [], 'no request is reported as failed by its guest because its client left');
  const waited = logs.filter((l) => l.msg === 'client went away while its request waited for a worker; it did not run');
  t.equal(waited.length, 2, 'the posted-ahead and the queued request are each logged once, at info');
  for (const l of waited) t.equal(l.level, 30);
  const runaway = logs.filter((l) => l.msg === 'guest failed');
  t.equal(runaway.length, 1, 'the guest that ran past its deadline is still reported as failed');
  t.match(runaway[0], { level: 40, outcome: 'deadline', clientGone: true });

  // The gateway serves on, and the metrics say what happened.
  const ok = await fetch(`${base}/hello`);
  t.equal(ok.status, 200);
  await ok.text();
  const text = await (await fetch(`${base}/metrics`)).text();
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'leavers', route: '/loop', status_class: '4xx' }), 3, 'the three requests count as 499s');
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'leavers', route: '/loop', status_class: '2xx' }), undefined, 'none counts as a 200');
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'leavers', route: '/hello', status_class: '2xx' }), 1);
  t.equal(sample(text, 'spinet_guest_failures_total', { component: 'loop', reason: 'deadline' }), 1, 'the runaway guest is one failure');
});

t.test('a request posted ahead whose client left never streams for nobody', async (t) => {
  const dir = t.testdir({
    'spin.toml': `spin_manifest_version = 2
[application]
name = "drippers"
[[trigger.http]]
route = "/..."
component = "evil"
[component.evil]
source = ${JSON.stringify(path.join(appDir('components', 'evil'), 'dist', 'evil.wasm'))}
`,
  });
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_WORKERS: '1', SPINET_DEADLINE_MS: '10000' }, logs);
  t.teardown(() => gw.close());
  const base = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });

  // The first client reads a response that drips a byte every 100 ms, forever.
  const first = http.get(`${base}/slow-response`);
  first.on('error', () => {});
  await new Promise<void>((resolve) => first.on('response', (res) => res.once('data', () => resolve())));
  // The second is posted to the same (busy) worker to run next, and its client leaves at once. Its
  // cancel reaches the worker while the first guest runs.
  const second = leaveLater(`${base}/slow-response`);
  await second.sent;
  await sleep(100);
  t.same(gw.executor.load, { running: 1, queued: 1, workers: 1 }, 'the second request waits on the busy worker');
  second.drop();
  await sleep(300);
  // The first client leaves too: its guest's next write fails and it ends; the second then starts.
  first.destroy();
  const until = Date.now() + 3000;
  while (gw.executor.load.running > 0 && Date.now() < until) await sleep(20);
  t.same(gw.executor.load, { running: 0, queued: 0, workers: 1 }, 'the second guest stopped at its first write instead of dripping to its deadline');
  t.same(logs.filter((l) => l.msg === 'guest request failed' || l.msg === 'guest ran past its deadline; stopping its worker'), []);
  const res = await fetch(`${base}/ok`);
  t.equal(res.status, 200, 'the worker serves the next request');
  t.equal(await res.text(), 'ok\n');
});
