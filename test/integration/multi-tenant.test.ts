/**
 * Multi-tenant gateway: apps deployed at run time are found by host name and path prefix, see their
 * prefix in the Spin headers, keep their own metrics labels, and swap atomically while in-flight
 * requests finish on the version they started on.
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';
import { fire, testGateway, appDir } from '../helpers/gateway.js';

const HELLO = 'Hello from spinet!\n';

t.test('two apps on one gateway are reached by their hosts and prefixes, with the prefix in spin-base-path', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  await gw.deployApp(await writeApp(dir, { name: 'greeter', wasm: builtWasm('hello') }), { name: 'greeter', hosts: ['hello.example.com'] });
  await gw.deployApp(await writeApp(dir, { name: 'headers', wasm: builtWasm('spin-headers'), routes: ['/h/...', '/users/:user_id/...'] }), { name: 'headers' });

  for (const host of ['greeter.apps.test', 'hello.example.com', 'HELLO.example.com:3000']) {
    const res = await gw.fastify.inject({ url: '/anything', headers: { host } });
    t.equal(res.statusCode, 200, `${host} reaches greeter`);
    t.equal(res.body, HELLO);
  }
  const byHost = await gw.fastify.inject({ url: '/h/x', headers: { host: 'headers.apps.test' } });
  t.equal(byHost.json()['spin-base-path'], '/', 'an app found by host has base path /');

  const byPrefix = await gw.fastify.inject({ url: '/headers/users/42/more?q=1', headers: { host: '127.0.0.1:3000' } });
  t.equal(byPrefix.statusCode, 200);
  t.match(byPrefix.json(), {
    'spin-base-path': '/headers',
    'spin-matched-route': '/headers/users/:user_id/...',
    'spin-path-info': '/more',
    'spin-component-route': '/users/:user_id',
    'spin-raw-component-route': '/users/:user_id/...',
    'spin-path-match-user-id': '42',
    'spin-full-url': 'http://127.0.0.1:3000/headers/users/42/more?q=1',
  });
  const greeterByPrefix = await gw.fastify.inject({ url: '/greeter', headers: { host: 'gw.local' } });
  t.equal(greeterByPrefix.body, HELLO, '/<app> alone is the app\'s root');

  const cases: Array<[string, string, string, number]> = [
    ['an unknown host', 'nobody.apps.test', '/', 404],
    ['an unknown prefix', 'gw.local', '/nobody/x', 404],
    ['greeter\'s host with headers\' prefix stays in greeter', 'greeter.apps.test', '/headers/h/x', 200],
    ['a route the app does not have', 'headers.apps.test', '/nope', 404],
  ];
  for (const [why, host, url, status] of cases) {
    const res = await gw.fastify.inject({ url, headers: { host } });
    t.equal(res.statusCode, status, why);
    if (status === 200) t.equal(res.body, HELLO, `${why}: answered by greeter`);
  }

  const health = await gw.fastify.inject({ url: '/.well-known/spin/health', headers: { host: 'gw.local' } });
  t.equal(health.statusCode, 200, 'the gateway\'s health answers on any host');
  const info = await gw.fastify.inject({ url: '/headers/.well-known/spin/info', headers: { host: 'gw.local' } });
  t.same(info.json(), { name: 'headers' }, 'an app\'s info answers under its prefix');

  const metrics = await gw.fastify.inject({ url: '/metrics' });
  t.match(metrics.body, /spinet_http_requests_total\{[^}]*app="greeter"/, 'greeter has its own metrics label');
  t.match(metrics.body, /spinet_http_requests_total\{[^}]*app="headers"/, 'headers has its own metrics label');
});

t.test('a host claimed by one app is refused to another at deploy time, and nothing changes', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const app = await writeApp(dir, { name: 'greeter', wasm: builtWasm('hello') });
  await gw.deployApp(app, { name: 'one', hosts: ['shared.example.com'] });
  await t.rejects(gw.deployApp(app, { name: 'two', hosts: ['shared.example.com'] }), { code: 'SPINET_ERR_TENANT_CONFLICT', message: /already claimed by app "one"/ });
  await t.rejects(gw.deployApp(app, { name: 'two', hosts: ['one.apps.test'] }), { code: 'SPINET_ERR_TENANT_CONFLICT', message: /reserved for the app named "one"/ });
  t.same(gw.tenants.list().map((a) => a.name), ['one']);
  const res = await gw.fastify.inject({ url: '/', headers: { host: 'shared.example.com' } });
  t.equal(res.body, HELLO);
});

t.test('a redeploy swaps atomically: an in-flight request finishes on the old version, new ones see the new', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const v1 = await gw.deployApp(await writeApp(dir, { name: 'swap', wasm: builtWasm('evil') }, 'v1'), { name: 'swap' });
  const evilDigest = [...v1.components.values()][0]!.digest;

  // A request whose body is still arriving holds v1 until it ends.
  const body = new PassThrough();
  const slow = fire(gw, { method: 'POST', url: '/slow-body', headers: { host: 'swap.apps.test', 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, payload: body });
  body.write(Buffer.alloc(1000));
  while (gw.tenants.inFlight(v1) === 0) await new Promise((r) => setTimeout(r, 10));

  const v2 = await gw.deployApp(await writeApp(dir, { name: 'swap', wasm: builtWasm('hello') }, 'v2'), { name: 'swap' });
  t.not(v2, v1);
  const after = await gw.fastify.inject({ url: '/slow-body', headers: { host: 'swap.apps.test' } });
  t.equal(after.body, HELLO, 'a new request is served by v2');
  let settled = false;
  const released = gw.settled().then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(settled, 'v1 is not released while its request runs');
  t.ok(gw.cache.peek(evilDigest), 'v1\'s compiled component is still cached');

  body.end(Buffer.alloc(500));
  const res = await slow;
  t.equal(res.statusCode, 200);
  t.equal(res.body, 'read 1500 bytes\n', 'the in-flight request finished on v1');
  await released;
  t.equal(gw.cache.peek(evilDigest), undefined, 'v1\'s compiled component is dropped once no app uses it');
});

t.test('many requests during ten redeploys all succeed', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const dirs = [await writeApp(dir, { name: 'flip', wasm: builtWasm('hello') }, 'a'), await writeApp(dir, { name: 'flip', wasm: builtWasm('spin-headers') }, 'b')];
  await gw.deployApp(dirs[0]!, { name: 'flip' });
  let stop = false;
  const statuses = new Map<number, number>();
  const load = (async () => {
    while (!stop) {
      const batch = await Promise.all(Array.from({ length: 8 }, () => fire(gw, { url: '/x', headers: { host: 'flip.apps.test' } })));
      for (const r of batch) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
  })();
  for (let i = 1; i <= 10; i++) await gw.deployApp(dirs[i % 2]!, { name: 'flip' });
  stop = true;
  await load;
  t.same(Object.fromEntries(statuses), { 200: statuses.get(200) }, `every request answered 200 (${statuses.get(200)} requests)`);
  await gw.settled();
  t.equal(gw.tenants.list().length, 1);
});

t.test('a version whose component was released and compiled again runs (regression: workers kept it as ready)', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const a = await writeApp(dir, { name: 'x', wasm: builtWasm('hello') }, 'a');
  const b = await writeApp(dir, { name: 'x', wasm: builtWasm('spin-headers') }, 'b');
  await gw.deployApp(a, { name: 'back' });
  t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'back.apps.test' } })).body, HELLO);
  await gw.deployApp(b, { name: 'back' });
  await gw.settled();
  await gw.deployApp(a, { name: 'back' });
  for (let i = 0; i < 4; i++) t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'back.apps.test' } })).body, HELLO, `request ${i + 1} after the rollback`);
});

t.test('a removed app is no longer found, while other apps keep serving', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const app = await writeApp(dir, { name: 'greeter', wasm: builtWasm('hello') });
  await gw.deployApp(app, { name: 'stay' });
  await gw.deployApp(app, { name: 'go', hosts: ['go.example.com'] });
  t.ok(gw.removeApp('go'));
  t.notOk(gw.removeApp('go'), 'removing twice reports false');
  t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'go.apps.test' } })).statusCode, 404);
  t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'go.example.com' } })).statusCode, 404);
  t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'stay.apps.test' } })).body, HELLO);
  await gw.settled();
  t.ok(gw.cache.peek([...gw.tenants.get('stay')!.components.values()][0]!.digest), 'a component another app still uses stays cached');
});

t.test('spinet up keeps serving every host from one app, and deployApp / reload hot-swap it', async (t) => {
  const gw = await testGateway(appDir('components', 'hello'));
  t.teardown(() => gw.close());
  t.notOk(gw.tenants.multiTenant);
  t.equal((await gw.fastify.inject({ url: '/x', headers: { host: 'anything.example' } })).body, HELLO);
  const reloaded = await gw.reload();
  t.equal(reloaded.name, 'hello');
  t.equal((await gw.fastify.inject({ url: '/x' })).body, HELLO, 'reload serves the app again');
  await gw.deployApp(appDir('components', 'spin-headers'));
  const res = await gw.fastify.inject({ url: '/headers/a', headers: { host: 'whatever' } });
  t.equal(res.json()['spin-base-path'], '/', 'the swapped-in app serves every host with base path /');
  t.same(gw.tenants.list().map((a) => a.name), ['spin-headers']);
});
