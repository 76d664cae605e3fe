/**
 * The operator routes: the status document counts what the gateway served, and with
 * SPINET_METRICS_LISTEN set, /metrics and the status page leave the gateway port (where an app's
 * catch-all route then gets those paths) for the operator listener.
 */
import t from 'tap';
import { appDir, testGateway } from '../helpers/gateway.js';

interface Status {
  requests: number;
  instancesStarted: number;
  executor: { workers: number };
  cache: { entries: number; hits: number; misses: number };
  apps: Array<{ name: string; requests: number; routes: Array<{ route: string; kind: string; component: string | null; requests: Record<string, number> }>; components: Array<{ id: string; instancesStarted: number; cached: boolean }> }>;
}

t.test('the status document counts requests by app and route, from the same counters as /metrics', async (t) => {
  const gw = await testGateway(appDir('fixtures', 'rust-hello'));
  t.teardown(() => gw.close());
  for (let i = 0; i < 5; i++) t.equal((await gw.fastify.inject({ url: `/hello/${i}` })).statusCode, 200);
  t.equal((await gw.fastify.inject({ url: '/moved' })).statusCode, 301);
  // Instances are counted when their run reports back, just after the response.
  let doc: Status | undefined;
  for (let i = 0; i < 100; i++) {
    doc = (await gw.fastify.inject({ url: '/.well-known/spinet/status.json' })).json<Status>();
    if (doc.instancesStarted >= 5) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(doc!.requests, 6);
  t.equal(doc!.instancesStarted, 5);
  t.equal(doc!.executor.workers, 2);
  const app = doc!.apps[0]!;
  t.equal(app.name, 'rust-hello');
  t.equal(app.requests, 6);
  t.same(
    app.routes.map((r) => [r.route, r.kind, r.component, r.requests]),
    [
      ['/...', 'component', 'hello', { '2xx': 5 }],
      ['/moved', 'static-response', null, { '3xx': 1 }],
    ],
  );
  t.match(app.components, [{ id: 'hello', instancesStarted: 5, cached: true }]);
  const page = await gw.fastify.inject({ url: '/.well-known/spinet/status' });
  t.equal(page.statusCode, 302);
  t.equal((await gw.fastify.inject({ url: '/.well-known/spinet/status/%2e%2e%2f%2e%2e%2fpackage.json' })).statusCode, 404, 'only the page files');
});

t.test('SPINET_METRICS_LISTEN moves /metrics and the status page to the operator listener', async (t) => {
  const gw = await testGateway(appDir('fixtures', 'rust-hello'), { SPINET_METRICS_LISTEN: '127.0.0.1:0' });
  t.teardown(() => gw.close());
  t.ok(gw.operator, 'an operator listener is built');
  await gw.fastify.inject({ url: '/hello' });
  const metrics = await gw.operator!.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.body, /spinet_http_requests_total\{app="rust-hello",component="hello",route="\/\.\.\.",status_class="2xx"\} 1/);
  t.equal((await gw.operator!.inject({ url: '/.well-known/spinet/status.json' })).json<Status>().requests, 1);
  const onGateway = await gw.fastify.inject({ url: '/metrics' });
  t.notMatch(onGateway.body, /spinet_http_requests_total/, 'the gateway port no longer serves metrics (the app gets the path)');
  const status = await gw.fastify.inject({ url: '/.well-known/spinet/status.json' });
  t.notMatch(status.body, /"apps"/, 'nor the status document with every app and route');
});

t.test('a bad SPINET_METRICS_LISTEN is a config error', async (t) => {
  await t.rejects(testGateway(appDir('fixtures', 'rust-hello'), { SPINET_METRICS_LISTEN: 'nowhere' }), { code: 'SPINET_ERR_CONFIG_INVALID', message: /SPINET_METRICS_LISTEN/ });
});
