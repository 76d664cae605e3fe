/**
 * GET /metrics: Prometheus exposition with bounded labels (route pattern, never the raw path),
 * request/instance/failure/cache figures that move with traffic, and a clean `promtool check`.
 */
import t from 'tap';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { testGateway, sharedWasm } from '../helpers/gateway.js';
import { watComponent } from '../helpers/wat-components.js';
import { metricSample as sample } from '../helpers/metrics.js';

t.test('metrics count requests by route pattern, instances, failures and cache state', async (t) => {
  const trap = await watComponent('trap');
  const dir = t.testdir({
    'spin.toml': `spin_manifest_version = 2
[application]
name = "metered"
[[trigger.http]]
route = "/trap"
component = "trapper"
[[trigger.http]]
route = "/users/:id/..."
component = "hello"
[component.trapper]
source = ${JSON.stringify(trap)}
[component.hello]
source = ${JSON.stringify(sharedWasm('hello_wasi_http.wasm'))}
`,
  });
  const gw = await testGateway(path.join(dir, 'spin.toml'));
  t.teardown(() => gw.close());
  for (const id of ['1', '22', '333']) t.equal((await gw.fastify.inject({ method: 'GET', url: `/users/${id}/profile` })).statusCode, 200);
  t.equal((await gw.fastify.inject({ method: 'GET', url: '/trap' })).statusCode, 500);
  t.equal((await gw.fastify.inject({ method: 'GET', url: '/nowhere' })).statusCode, 404);
  await new Promise((r) => setTimeout(r, 50));

  const res = await gw.fastify.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = res.body;
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'metered', component: 'hello', route: '/users/:id/...', status_class: '2xx' }), 3);
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'metered', component: 'trapper', route: '/trap', status_class: '5xx' }), 1);
  t.equal(sample(text, 'spinet_http_requests_total', { app: 'metered', route: '', status_class: '4xx' }), 1, 'unmatched requests are counted without a route');
  t.notMatch(text, /\/users\/(1|22|333)/, 'raw paths never become labels');
  t.equal(sample(text, 'spinet_instances_started_total', { app: 'metered', component: 'hello' }), 3);
  t.equal(sample(text, 'spinet_guest_failures_total', { component: 'trapper', reason: 'trap' }), 1);
  t.equal(sample(text, 'spinet_instantiate_duration_seconds_count', { component: 'hello' }), 3);
  t.equal(sample(text, 'spinet_precompile_cache_entries', {}), 2);
  t.ok((sample(text, 'spinet_precompile_cache_bytes', {}) ?? 0) > 50_000, 'cache bytes are reported');
  t.equal(sample(text, 'spinet_precompile_cache_misses_total', {}), 2);
  t.equal(sample(text, 'spinet_instances_in_flight', {}), 0);
  t.equal(sample(text, 'spinet_component_compile_duration_seconds_count', { phase: 'plan' }), 2, "both components were planned by spinet's linker");
  t.equal(sample(text, 'spinet_component_compile_duration_seconds_count', { phase: 'compile' }), 2);
  t.equal(sample(text, 'spinet_component_compile_duration_seconds_count', { phase: 'transpile' }), undefined, 'nothing went through jco');
  t.ok(sample(text, 'process_resident_memory_bytes', {}), "Node's default metrics are included");

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error) {
    t.fail('promtool is not installed (.ci/run installs Debian prometheus)');
  } else {
    // prom-client's default Node metrics always draw three lint findings ("_total" on gauges); only
    // those may appear, and there must be no parse error.
    const findings = `${promtool.stdout}${promtool.stderr}`.split('\n').filter((l) => l.trim() !== '');
    const foreign = findings.filter((l) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix/.test(l));
    t.same(foreign, [], 'promtool finds nothing but the known prom-client lint lines');
    t.ok(promtool.status === 0 || promtool.status === 3, `promtool exit ${promtool.status} (0 clean, 3 lint only; 1 would be a parse error)`);
  }
});
