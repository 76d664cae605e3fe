/**
 * One failing guest never hurts the others: traps and missing responses become 500 with an empty body,
 * an endless loop is stopped at its deadline with 504 while healthy requests keep flowing, and the
 * gateway keeps serving afterwards.
 */
import t from 'tap';
import type { Test } from 'tap';
import path from 'node:path';
import { fire, testGateway, sharedWasm } from '../helpers/gateway.js';
import { watComponent } from '../helpers/wat-components.js';

const HELLO = 'Hello, this is your first wasi:http/proxy world!\n';

async function mixedApp(t: Test): Promise<string> {
  const [loop, trap, noResponse, exit] = await Promise.all([watComponent('loop'), watComponent('trap'), watComponent('no-response'), watComponent('exit')]);
  const dir = t.testdir({
    'spin.toml': `spin_manifest_version = 2
[application]
name = "mixed"
[[trigger.http]]
route = "/loop"
component = "looper"
[[trigger.http]]
route = "/trap"
component = "trapper"
[[trigger.http]]
route = "/silent"
component = "silent"
[[trigger.http]]
route = "/exit"
component = "quitter"
[[trigger.http]]
route = "/..."
component = "hello"
[component.quitter]
source = ${JSON.stringify(exit)}
[component.looper]
source = ${JSON.stringify(loop)}
[component.trapper]
source = ${JSON.stringify(trap)}
[component.silent]
source = ${JSON.stringify(noResponse)}
[component.hello]
source = ${JSON.stringify(sharedWasm('hello_wasi_http.wasm'))}
`,
  });
  return path.join(dir, 'spin.toml');
}

t.test('guest failures map to Spin statuses and the gateway keeps serving', async (t) => {
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(await mixedApp(t), { SPINET_DEADLINE_MS: '1500' }, logs);
  t.teardown(() => gw.close());

  t.test('a guest that traps gets 500 with an empty body, logged with app and component', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/trap' });
    t.equal(r.statusCode, 500);
    t.equal(r.body, '');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = logs.find((l) => l.msg === 'guest failed' && l.component === 'trapper');
    t.ok(line, 'a log line names the failing component');
    t.equal(line?.app, 'mixed');
    t.equal(line?.outcome, 'trap');
    t.match(String(line?.guestError), /unreachable|trap/i);
    t.ok(line?.reqId, 'the log line carries the request id');
  });

  t.test('a guest that returns without responding gets 500 with an empty body', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/silent' });
    t.equal(r.statusCode, 500);
    t.equal(r.body, '');
  });

  t.test('a guest calling wasi:cli/exit ends only its own instance: 500, and the gateway serves on', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/exit' });
    t.equal(r.statusCode, 500);
    t.equal(r.body, '');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = logs.find((l) => l.msg === 'guest failed' && l.component === 'quitter');
    t.equal(line?.outcome, 'exit');
    t.match(String(line?.guestError), /wasi:cli\/exit with status 1/);
    const after = await gw.fastify.inject({ method: 'GET', url: '/still-here' });
    t.equal(after.statusCode, 200, 'the process did not exit');
  });

  t.test('an endless loop is stopped at the deadline with 504 while healthy requests flow', async (t) => {
    const started = Date.now();
    const looping = fire(gw, { method: 'GET', url: '/loop' });
    // The loop holds one of the two workers; the other keeps serving.
    const healthy: Array<{ status: number; ms: number }> = [];
    while (Date.now() - started < 1000) {
      const t0 = Date.now();
      const r = await gw.fastify.inject({ method: 'GET', url: '/hello' });
      healthy.push({ status: r.statusCode, ms: Date.now() - t0 });
      t.equal(r.body, HELLO);
    }
    const r = await looping;
    const elapsed = Date.now() - started;
    t.equal(r.statusCode, 504);
    t.equal(r.body, '');
    t.ok(elapsed >= 1400, `the loop ran until its deadline (${elapsed} ms)`);
    // At least one, not a rate: on a loaded machine a single request may take most of the window.
    t.ok(healthy.length >= 1, `healthy requests kept completing while the loop ran (${healthy.length})`);
    t.ok(healthy.every((h) => h.status === 200), 'every healthy request succeeded');
  });

  t.test('after a worker was stopped, the pool is whole again and serves in parallel', async (t) => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => gw.fastify.inject({ method: 'GET', url: '/after' })));
    t.same(new Set(rs.map((r) => r.statusCode)), new Set([200]));
    t.equal(gw.executor.load.workers, 2);
  });

  t.test('two endless loops at once do not starve the pool forever', async (t) => {
    const loops = [fire(gw, { method: 'GET', url: '/loop' }), fire(gw, { method: 'GET', url: '/loop' })];
    await new Promise((r) => setTimeout(r, 200)); // both loops own both workers
    const queued = fire(gw, { method: 'GET', url: '/queued' });
    const [a, b] = (await Promise.all(loops)) as [Awaited<(typeof loops)[0]>, Awaited<(typeof loops)[1]>];
    t.equal(a.statusCode, 504);
    t.equal(b.statusCode, 504);
    const q = await queued;
    t.equal(q.statusCode, 200, 'the request queued behind two loops runs once they are stopped');
  });
});
