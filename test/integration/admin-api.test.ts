/**
 * The admin API deploys, lists, shows, rolls back and deletes apps on a running gateway; refuses
 * hostile bundles with a 4xx and the reason while the running version and the store stay as they
 * were; and the store brings every app back after a restart.
 */
import t from 'tap';
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Response as InjectResponse } from 'light-my-request';
import { buildAdminApi } from '../../server/plugins/admin-api.js';
import { AppService } from '../../server/tenants/app-service.js';
import { AppStore } from '../../server/tenants/app-store.js';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import type { Gateway } from '../../server/app.js';
import type { Logger } from '../../server/observability/logger.js';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';
import { rawTarGz } from '../helpers/raw-tar.js';

const TOKEN = 'test-token-3f9a';
const auth = { authorization: `Bearer ${TOKEN}` };
const HELLO = 'Hello from spinet!\n';

async function bundleOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packBundle(await loadManifest(dir))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function fleetMember(storeDir: string, stateDir: string): Promise<{ gw: Gateway; admin: FastifyInstance; service: AppService }> {
  const gw = await multiTenantGateway(stateDir);
  const service = new AppService({ store: new AppStore(storeDir), host: gw, logger: gw.fastify.log as unknown as Logger });
  await service.loadAll();
  const admin = await buildAdminApi({ service, token: TOKEN });
  return { gw, admin, service };
}

const deploy = (admin: FastifyInstance, name: string, payload: Buffer, query = ''): Promise<InjectResponse> =>
  admin.inject({ method: 'PUT', url: `/v1/apps/${name}${query}`, headers: { ...auth, 'content-type': 'application/gzip' }, payload });

t.test('deploy, update, roll back and delete an app through the admin API', async (t) => {
  const root = await tempDir();
  const { gw, admin } = await fleetMember(path.join(root, 'store'), root);
  t.teardown(async () => {
    await admin.close();
    await gw.close();
  });
  const v1 = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('hello') }, 'v1'));
  const v2 = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('spin-headers'), routes: ['/h/...'] }, 'v2'));
  const get = (host: string, url = '/'): Promise<InjectResponse> => gw.fastify.inject({ url, headers: { host } });

  let res = await deploy(admin, 'shop', v1, '?host=shop.example.com');
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { name: 'shop', state: 'serving', version: 1, hosts: ['shop.example.com'], history: [1], routes: [{ route: '/...', component: 'app' }], digest: /^[0-9a-f]{64}$/ });
  t.equal((await get('shop.apps.test')).body, HELLO, 'v1 serves on its base-domain host');
  t.equal((await get('shop.example.com')).body, HELLO, 'and on its custom host');

  res = await deploy(admin, 'shop', v2, '?host=shop.example.com');
  t.match(res.json(), { version: 2, history: [1, 2], routes: [{ route: '/h/...' }] });
  t.equal((await get('shop.apps.test', '/h/x')).json()['spin-base-path'], '/', 'v2 serves after the update');

  res = await admin.inject({ method: 'GET', url: '/v1/apps', headers: auth });
  t.match(res.json(), { apps: [{ name: 'shop', version: 2, state: 'serving' }] });
  res = await admin.inject({ method: 'GET', url: '/v1/apps/shop', headers: auth });
  t.match(res.json(), { name: 'shop', version: 2, manifestName: 'shop' });

  res = await admin.inject({ method: 'POST', url: '/v1/apps/shop/rollback', headers: auth });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { version: 1, history: [1], state: 'serving' });
  t.equal((await get('shop.apps.test')).body, HELLO, 'the rollback serves v1 again');
  res = await admin.inject({ method: 'POST', url: '/v1/apps/shop/rollback', headers: auth });
  t.match(res, { statusCode: 404 });
  t.match(res.json(), { code: 'SPINET_ERR_APP_NOT_FOUND', message: /no earlier version/ });

  res = await admin.inject({ method: 'DELETE', url: '/v1/apps/shop', headers: auth });
  t.equal(res.statusCode, 204);
  t.equal((await get('shop.apps.test')).statusCode, 404, 'a deleted app is not served');
  t.equal((await admin.inject({ method: 'GET', url: '/v1/apps/shop', headers: auth })).statusCode, 404);
  t.equal((await admin.inject({ method: 'DELETE', url: '/v1/apps/shop', headers: auth })).statusCode, 404);
  t.same((await admin.inject({ method: 'GET', url: '/v1/apps', headers: auth })).json(), { apps: [] });
});

t.test('the admin API needs the bearer token, and describes itself in OpenAPI', async (t) => {
  const root = await tempDir();
  const { gw, admin } = await fleetMember(path.join(root, 'store'), root);
  t.teardown(async () => {
    await admin.close();
    await gw.close();
  });
  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer nope' }],
    ['the token with another scheme', { authorization: `Basic ${TOKEN}` }],
    ['a token that only starts right', { authorization: `Bearer ${TOKEN}x` }],
  ];
  for (const [why, headers] of cases) {
    const res = await admin.inject({ method: 'GET', url: '/v1/apps', headers });
    t.equal(res.statusCode, 401, why);
    t.equal(res.json().code, 'SPINET_ERR_ADMIN_UNAUTHORIZED', why);
  }
  const doc = (await admin.inject({ url: '/openapi.json' })).json();
  t.equal(doc.openapi, '3.0.3');
  t.same(Object.keys(doc.paths).sort(), ['/v1/apps', '/v1/apps/{name}', '/v1/apps/{name}/rollback']);
  t.same(Object.keys(doc.paths['/v1/apps/{name}']).sort(), ['delete', 'get', 'put']);
  t.ok(doc.paths['/v1/apps/{name}'].put.requestBody.content['application/gzip'], 'the deploy body is documented as a gzip bundle');
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
    for (const [method, op] of Object.entries(ops)) t.ok(op.responses['401'], `${method} ${p} documents 401`);
  }
});

t.test('hostile and broken bundles get a 4xx with the reason; the running version and the store are untouched', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  const { gw, admin } = await fleetMember(storeDir, root);
  t.teardown(async () => {
    await admin.close();
    await gw.close();
  });
  t.equal((await deploy(admin, 'shop', await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('hello') }, 'good')))).statusCode, 200);
  t.equal((await deploy(admin, 'other', await bundleOf(await writeApp(root, { name: 'other', wasm: builtWasm('hello') }, 'other')), '?host=taken.example.com')).statusCode, 200);

  const good = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('hello') }, 'good2'));
  const plain = 'spin_manifest_version = 2\n[application]\nname = "shop"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "app.wasm"\n';
  const garbage = rawTarGz([{ path: 'spin.toml', body: plain }, { path: 'app.wasm', body: 'this is not wasm' }]);
  const coreModule = rawTarGz([{ path: 'spin.toml', body: plain }, { path: 'app.wasm', body: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) }]);
  const redisOnly = await writeApp(root, { name: 'shop', wasm: builtWasm('redis-recorder', 'recorder.wasm') }, 'redis-only');
  const badRoute = await writeApp(root, { name: 'shop', wasm: builtWasm('hello'), routes: ['/a/.../b'] }, 'bad-route');
  const manifest = 'spin_manifest_version = 2\n[application]\nname = "shop"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "../../apps/other/v1/app.wasm"\n';

  const cases: Array<[string, string, Buffer, string, number, string, RegExp]> = [
    ['a path traversal entry', 'shop', rawTarGz([{ path: 'spin.toml', body: manifest }, { path: '../../escape', body: 'x' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /climbs out/],
    ['an absolute path entry', 'shop', rawTarGz([{ path: '/tmp/spinet-admin-evil', body: 'x' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /absolute path/],
    ['a symlink', 'shop', rawTarGz([{ path: 'spin.toml', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /symbolic link/],
    ['a hard link', 'shop', rawTarGz([{ path: 'a', body: 'x' }, { path: 'spin.toml', type: 'Link', linkpath: 'a' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /hard link/],
    ['a device', 'shop', rawTarGz([{ path: 'dev', type: 'CharacterDevice' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /character device/],
    ['not gzip', 'shop', Buffer.from('plain text'), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /not a gzip/],
    ['no spin.toml', 'shop', rawTarGz([{ path: 'readme.txt', body: 'hi' }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /no spin.toml/],
    ['a component source outside the bundle', 'shop', rawTarGz([{ path: 'spin.toml', body: manifest }]), '', 400, 'SPINET_ERR_BUNDLE_INVALID', /refers outside the bundle/],
    ['a files mount outside the bundle', 'shop', rawTarGz([{ path: 'spin.toml', body: `${plain}files = [{ source = "../../../etc", destination = "/" }]\n` }, { path: 'app.wasm', body: await readFile(builtWasm('hello')) }]), '', 400, 'SPINET_ERR_', /outside|escape/i],
    ['a component that is not WebAssembly', 'shop', garbage, '', 422, 'SPINET_ERR_MANIFEST_SOURCE', /app\.wasm.*not a WebAssembly file/],
    ['a core module instead of a component', 'shop', coreModule, '', 422, 'SPINET_ERR_', /app\.wasm/],
    ['a component without the HTTP export', 'shop', await bundleOf(redisOnly), '', 422, 'SPINET_ERR_WASM_EXPORT', /incoming-handler/],
    ['a malformed route', 'shop', await bundleOf(badRoute), '', 422, 'SPINET_ERR_ROUTE_INVALID', /wildcard/],
    ['a host another app claims', 'shop', good, '?host=taken.example.com', 409, 'SPINET_ERR_TENANT_CONFLICT', /already claimed by app "other"/],
    ['a host naming another app', 'shop', good, '?host=other.apps.test', 409, 'SPINET_ERR_TENANT_CONFLICT', /reserved for the app named "other"/],
    ['an app name that is not a DNS label', 'Shop_1', good, '', 400, 'SPINET_ERR_ADMIN_REQUEST', /pattern/],
    ['a host that is not a host name', 'shop', good, '?host=http://x', 409, 'SPINET_ERR_TENANT_CONFLICT', /not a host name/],
    ['no body', 'shop', Buffer.alloc(0), '', 400, 'SPINET_ERR_', /bundle|empty|gzip/],
  ];
  const before = await readdir(path.join(storeDir, 'apps', 'shop'));
  for (const [why, name, payload, query, status, code, message] of cases) {
    const res = await deploy(admin, name, payload, query);
    t.equal(res.statusCode, status, `${why}: ${res.body}`);
    t.match(res.json(), { code: new RegExp(`^${code}`), message }, `${why}: says why`);
    t.notMatch(res.json().message, storeDir, `${why}: the message does not show the store's paths`);
  }
  const tooBig = await admin.inject({ method: 'PUT', url: '/v1/apps/shop', headers: { ...auth, 'content-type': 'application/gzip', 'content-length': String(200 * 1024 * 1024) }, payload: Buffer.alloc(10) });
  t.equal(tooBig.statusCode, 413, 'a declared size over the limit is refused before reading');

  t.same(await readdir(path.join(storeDir, 'apps', 'shop')), before, 'the store holds exactly what it held before');
  t.same(await readdir(path.join(storeDir, 'tmp')), [], 'no upload debris is left');
  t.match((await admin.inject({ url: '/v1/apps/shop', headers: auth })).json(), { version: 1, history: [1], state: 'serving' });
  t.equal((await gw.fastify.inject({ url: '/', headers: { host: 'shop.apps.test' } })).body, HELLO, 'the running version still serves');
});

t.test('apps come back as they were after a restart on the same store', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  const first = await fleetMember(storeDir, root);
  await deploy(first.admin, 'one', await bundleOf(await writeApp(root, { name: 'one', wasm: builtWasm('hello') }, 'one')), '?host=one.example.com');
  await deploy(first.admin, 'two', await bundleOf(await writeApp(root, { name: 'two', wasm: builtWasm('hello') }, 'two1')));
  await deploy(first.admin, 'two', await bundleOf(await writeApp(root, { name: 'two', wasm: builtWasm('spin-headers'), routes: ['/...'] }, 'two2')));
  await first.admin.close();
  await first.gw.close();

  const second = await fleetMember(storeDir, root);
  t.teardown(async () => {
    await second.admin.close();
    await second.gw.close();
  });
  t.match((await second.admin.inject({ url: '/v1/apps', headers: auth })).json(), {
    apps: [
      { name: 'one', version: 1, hosts: ['one.example.com'], state: 'serving' },
      { name: 'two', version: 2, history: [1, 2], state: 'serving' },
    ],
  });
  t.equal((await second.gw.fastify.inject({ url: '/', headers: { host: 'one.example.com' } })).body, HELLO);
  t.equal((await second.gw.fastify.inject({ url: '/', headers: { host: 'two.apps.test' } })).json()['spin-base-path'], '/');
  const rolled = await second.admin.inject({ method: 'POST', url: '/v1/apps/two/rollback', headers: auth });
  t.match(rolled.json(), { version: 1 }, 'the history survives too: rollback after a restart works');
});

t.test('a host claimed in the store by an app another replica deployed is refused (409), though this replica never loaded it', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  const a = await fleetMember(storeDir, path.join(root, 'a'));
  const b = await fleetMember(storeDir, path.join(root, 'b'));
  t.teardown(async () => {
    for (const m of [a, b]) {
      await m.admin.close();
      await m.gw.close();
    }
  });
  const hello = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('hello') }, 'v1'));
  t.equal((await deploy(a.admin, 'shop', hello, '?host=shop.example.com')).statusCode, 200, 'replica A deploys shop on shop.example.com');
  t.equal(b.gw.tenants.get('shop'), undefined, 'replica B has not heard of it (no fleet sync here)');
  const res = await deploy(b.admin, 'rival', hello, '?host=shop.example.com');
  t.equal(res.statusCode, 409);
  t.match(res.json(), { code: 'SPINET_ERR_TENANT_CONFLICT', message: /"shop\.example\.com" is already claimed by app "shop"/ });
  t.same((await b.service.list()).map((s) => s.name), ['shop'], 'and nothing was stored for the rival');
  t.equal((await deploy(b.admin, 'rival', hello, '?host=rival.example.com')).statusCode, 200, 'another host is fine');
});
