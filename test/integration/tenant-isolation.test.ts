/**
 * Tenants are isolated on a real `spinet serve` port: one app's host or prefix never reaches another
 * app's routes (ports, trailing dots, case, absolute-form targets, empty and dot segments, encoded
 * slashes), nor its files, key-value data (both use the label "default", embedded or one shared
 * Redis), variables or metrics label; and one app flooding the port with looping requests does not
 * starve another.
 */
import t from 'tap';
import net from 'node:net';
import path from 'node:path';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { create as createTar } from 'tar';
import { request } from 'undici';
import autocannon from 'autocannon';
import { serve } from '../../server/cli/serve.js';
import { Redis } from 'ioredis';
import { PrivateRedis, freePort } from '../helpers/private-redis.js';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';
import { repoRoot } from '../helpers/gateway.js';

const FILESERVER = 'source = { url = "https://github.com/fermyon/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:' + 'ab'.repeat(32) + '" }';
const TENANTS = ['alpha', 'beta'] as const;

/** A bundle of the capabilities guest at /x/... (key-value, a secret variable from the bundle's .env) and a file server at /static/... */
async function tenantBundle(root: string, name: string): Promise<Buffer> {
  const dir = path.join(root, name);
  await mkdir(path.join(dir, 'site'), { recursive: true });
  await copyFile(builtWasm('capabilities'), path.join(dir, 'app.wasm'));
  await writeFile(path.join(dir, 'site', 'who.txt'), `${name} files`);
  await writeFile(path.join(dir, '.env'), `SPIN_VARIABLE_SECRET=${name}-secret\n`);
  await writeFile(
    path.join(dir, 'spin.toml'),
    `spin_manifest_version = 2
[application]
name = "${name}"
[variables]
secret = { required = true, secret = true }
[[trigger.http]]
route = "/x/..."
component = "caps"
[[trigger.http]]
route = "/static/..."
component = "files"
[component.caps]
source = "app.wasm"
key_value_stores = ["default"]
variables = { secret = "{{ secret }}" }
[component.files]
${FILESERVER}
files = [{ source = "site", destination = "/" }]
`,
  );
  const chunks: Buffer[] = [];
  for await (const c of createTar({ gzip: true, cwd: dir, portable: true }, ['spin.toml', 'app.wasm', '.env', 'site/who.txt'])) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Sends `head` as written (request line and headers) and returns the status and the raw rest. */
function raw(port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`${head}\r\nconnection: close\r\n\r\n`));
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', reject);
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

t.test('tenant isolation on a real port', async (t) => {
  const root = await tempDir();
  const [port, adminPort] = [await freePort(), await freePort()];
  const leaked = process.env.SPIN_VARIABLE_SECRET;
  // The gateway's own environment must not reach any tenant.
  process.env.SPIN_VARIABLE_SECRET = 'process-secret';
  t.teardown(() => {
    if (leaked === undefined) delete process.env.SPIN_VARIABLE_SECRET;
    else process.env.SPIN_VARIABLE_SECRET = leaked;
  });
  const running = await serve(
    ['--store', path.join(root, 'store'), '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--admin-local-only', '--base-domain', 'apps.test'],
    { SPINET_WORKERS: '2', SPINET_LOG_LEVEL: 'silent', SPINET_DEADLINE_MS: '2000', SPINET_MAX_QUEUE: '8', SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_FLEET_RESYNC_MS: '0', SPIN_VARIABLE_SECRET: 'process-secret' },
  );
  t.teardown(() => running.stop());
  for (const name of TENANTS) {
    const res = await request(`http://127.0.0.1:${adminPort}/v1/apps/${name}?host=${name}.example.com`, { method: 'PUT', body: await tenantBundle(root, name), headers: { 'content-type': 'application/gzip' } });
    t.equal(res.statusCode, 200, `${name} deployed: ${await res.body.text()}`);
  }
  const loopDir = path.join(root, 'greedy');
  await mkdir(loopDir);
  await copyFile(builtWasm('loop'), path.join(loopDir, 'app.wasm'));
  await writeFile(path.join(loopDir, 'spin.toml'), 'spin_manifest_version = 2\n[application]\nname = "greedy"\n[[trigger.http]]\nroute = "/..."\ncomponent = "app"\n[component.app]\nsource = "app.wasm"\n');
  const loopTar: Buffer[] = [];
  for await (const c of createTar({ gzip: true, cwd: loopDir, portable: true }, ['spin.toml', 'app.wasm'])) loopTar.push(c as Buffer);
  t.equal((await request(`http://127.0.0.1:${adminPort}/v1/apps/greedy`, { method: 'PUT', body: Buffer.concat(loopTar), headers: { 'content-type': 'application/gzip' } })).statusCode, 200, 'greedy deployed');

  /** The guest answers {"ok": true, "value": ...}: the value, or undefined for anything else. */
  const value = async (host: string, url: string): Promise<unknown> => {
    const res = await get(host, url);
    try {
      const v = JSON.parse(res.body) as { ok?: boolean; value?: unknown };
      return res.status === 200 && v.ok === true ? v.value : undefined;
    } catch {
      return undefined;
    }
  };
  const get = async (host: string, url: string, init: { method?: 'GET' | 'PUT'; body?: string } = {}): Promise<{ status: number; body: string }> => {
    const res = await request(`http://127.0.0.1:${port}${url}`, { method: init.method ?? 'GET', headers: { host }, ...(init.body !== undefined ? { body: init.body } : {}) });
    return { status: res.statusCode, body: await res.body.text() };
  };

  await t.test('a host or prefix trick never reaches the other tenant’s routes', async (t) => {
    t.equal(await value('alpha.apps.test', '/x/var/secret'), 'alpha-secret', 'alpha answers on its host');
    t.equal((await get('127.0.0.1', '/beta/static/who.txt')).body, 'beta files', 'beta answers under its prefix on a neutral host');
    // [why, request line + host header, whose answer: alpha's, any but beta's, or none]
    // Host tricks ask alpha's /x/var/secret; prefix tricks ask /<app>/static/who.txt (the guest drops the
    // first path segment, so under a prefix only the file server shows whose app answered).
    const cases: Array<[string, string, 'alpha' | 'not beta' | undefined]> = [
      ['a port on alpha’s host', 'GET /x/var/secret HTTP/1.1\r\nhost: alpha.apps.test:8080', 'alpha'],
      ['a trailing dot on alpha’s host', 'GET /x/var/secret HTTP/1.1\r\nhost: alpha.apps.test.', 'alpha'],
      ['upper case in alpha’s host', 'GET /x/var/secret HTTP/1.1\r\nhost: ALPHA.Apps.TEST', 'alpha'],
      ['alpha’s custom host in upper case with a port', 'GET /x/var/secret HTTP/1.1\r\nhost: Alpha.Example.Com:443', 'alpha'],
      ['beta’s prefix on alpha’s host', 'GET /beta/static/who.txt HTTP/1.1\r\nhost: alpha.apps.test', undefined],
      ['an absolute-form target naming beta’s host, with alpha’s host', 'GET http://beta.apps.test/x/var/secret HTTP/1.1\r\nhost: alpha.apps.test', 'alpha'],
      ['an absolute-form target naming beta’s prefix, with alpha’s host', 'GET http://127.0.0.1/beta/static/who.txt HTTP/1.1\r\nhost: alpha.apps.test', undefined],
      ['an empty first segment before beta', 'GET //beta/static/who.txt HTTP/1.1\r\nhost: 127.0.0.1', undefined],
      ['a dot-dot from alpha’s prefix into beta’s', 'GET /alpha/../beta/static/who.txt HTTP/1.1\r\nhost: 127.0.0.1', 'not beta'],
      ['a dot segment before beta’s prefix', 'GET /./beta/static/who.txt HTTP/1.1\r\nhost: 127.0.0.1', undefined],
      ['a dot-dot on alpha’s host', 'GET /static/../../beta/static/who.txt HTTP/1.1\r\nhost: alpha.apps.test', 'not beta'],
      ['an encoded slash after alpha’s prefix', 'GET /alpha%2F..%2Fbeta/static/who.txt HTTP/1.1\r\nhost: 127.0.0.1', undefined],
      ['an encoded slash inside beta’s prefix', 'GET /beta%2Fstatic/who.txt HTTP/1.1\r\nhost: 127.0.0.1', undefined],
      ['an encoded prefix', 'GET /%62eta/static/who.txt HTTP/1.1\r\nhost: 127.0.0.1', undefined],
      ['an encoded dot-dot on alpha’s host', 'GET /static/%2E%2E/%2E%2E/beta/static/who.txt HTTP/1.1\r\nhost: alpha.apps.test', 'not beta'],
      ['beta’s host as user info before alpha’s', 'GET /x/var/secret HTTP/1.1\r\nhost: beta.apps.test@alpha.apps.test', undefined],
      ['beta’s name as a label above alpha’s host', 'GET /x/var/secret HTTP/1.1\r\nhost: beta.alpha.apps.test', undefined],
    ];
    for (const [why, head, allowed] of cases) {
      const res = await raw(port, head);
      t.notMatch(res.text, /beta-secret|beta files/, `${why}: never beta’s answer (${res.status})`);
      if (allowed === undefined) t.notMatch(res.text, /-secret|files/, `${why}: no tenant’s answer`);
      if (allowed === 'alpha') t.match(res.text, /alpha-secret/, `${why}: alpha’s answer`);
    }
  });

  await t.test('each tenant sees only its own files', async (t) => {
    t.equal((await get('alpha.apps.test', '/static/who.txt')).body, 'alpha files');
    t.equal((await get('beta.apps.test', '/static/who.txt')).body, 'beta files');
    const tricks = [
      '/static/../../beta/v1/site/who.txt',
      '/static/..%2F..%2F..%2Fbeta%2Fv1%2Fsite%2Fwho.txt',
      '/static/%2e%2e/%2e%2e/%2e%2e/beta/v1/site/who.txt',
      '/static/....//....//beta/v1/site/who.txt',
      '/static/..%5C..%5C..%5Cbeta%5Cv1%5Csite%5Cwho.txt',
    ];
    for (const url of tricks) {
      const res = await raw(port, `GET ${url} HTTP/1.1\r\nhost: alpha.apps.test`);
      t.notMatch(res.text, /beta files/, `${url} on alpha: not beta’s file (${res.status})`);
    }
  });

  await t.test('both tenants’ "default" key-value stores hold separate data', async (t) => {
    t.equal((await get('alpha.apps.test', '/x/kv/set/shared', { method: 'PUT', body: 'from alpha' })).status, 200);
    t.equal((await get('beta.apps.test', '/x/kv/set/shared', { method: 'PUT', body: 'from beta' })).status, 200);
    t.equal((await get('beta.apps.test', '/x/kv/set/only-beta', { method: 'PUT', body: 'b' })).status, 200);
    t.equal(await value('alpha.apps.test', '/x/kv/get/shared'), 'from alpha', 'alpha reads its own value of a key both wrote');
    t.equal(await value('beta.apps.test', '/x/kv/get/shared'), 'from beta', 'beta reads its own');
    t.equal(await value('alpha.apps.test', '/x/kv/exists/only-beta'), false, 'alpha does not see a key only beta wrote');
    t.equal(await value('beta.apps.test', '/x/kv/exists/only-beta'), true, 'while beta does');
    t.same(await value('alpha.apps.test', '/x/kv/keys'), ['shared'], 'alpha lists only its own keys');
    t.same(await value('beta.apps.test', '/x/kv/keys'), ['only-beta', 'shared'], 'beta lists only its own keys');
  });

  await t.test('each tenant gets its own variables, and none the gateway’s environment', async (t) => {
    t.equal(await value('alpha.apps.test', '/x/var/secret'), 'alpha-secret', 'alpha’s secret comes from the .env in its bundle');
    t.equal(await value('beta.apps.test', '/x/var/secret'), 'beta-secret', 'beta’s from its own, though the gateway’s environment sets SPIN_VARIABLE_SECRET');
  });

  await t.test('requests are counted under their own tenant’s metrics label only', async (t) => {
    const count = async (app: string): Promise<number> => {
      const text = (await get('127.0.0.1', '/metrics')).body;
      let n = 0;
      for (const m of text.matchAll(/^spinet_http_requests_total\{([^}]*)\} (\d+)/gm)) if (m[1]!.includes(`app="${app}"`)) n += Number(m[2]);
      return n;
    };
    const [alpha0, beta0] = [await count('alpha'), await count('beta')];
    for (let i = 0; i < 5; i++) await get('alpha.apps.test', '/x/var/secret');
    await get('127.0.0.1', '/alpha/x/var/secret');
    t.equal((await count('alpha')) - alpha0, 6, 'alpha’s six requests (host and prefix) are counted as alpha');
    t.equal(await count('beta'), beta0, 'and none as beta');
  });

  await t.test('a tenant flooding the port with looping requests does not starve another', async (t) => {
    const statuses = new Map<number, number>();
    let instance!: autocannon.Instance;
    const flood = new Promise<autocannon.Result>((resolve, reject) => {
      instance = autocannon({ url: `http://127.0.0.1:${port}/loop`, headers: { host: 'greedy.apps.test' }, connections: 16, duration: 4, timeout: 10 }, (err, r) => (err ? reject(err) : resolve(r)));
    });
    instance.on('response', (_c: unknown, status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1));
    await new Promise((r) => setTimeout(r, 500));
    let floodOver = false;
    void flood.then(() => (floodOver = true), () => (floodOver = true));
    const answers: number[] = [];
    for (let i = 0; i < 10; i++) answers.push((await get('alpha.apps.test', '/x/var/secret')).status);
    t.notOk(floodOver, 'the other tenant’s requests were all answered while the flood went on');
    const result = await flood;
    t.same(answers, Array(10).fill(200), 'every request of the other tenant was answered 200 during the flood');
    t.ok((statuses.get(503) ?? 0) > 0, `the flooding tenant was refused beyond its share of the queue (${JSON.stringify(Object.fromEntries(statuses))}, ${result.errors} errors)`);
    t.notOk(statuses.has(200), 'its loops never finished (they ran into the deadline)');
  });
});

t.test('tenants sharing a Redis-backed "default" store from one runtime config keep separate keys', async (t) => {
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  t.teardown(() => redis.stop());
  const dir = await tempDir();
  const rc = path.join(dir, 'runtime-config.toml');
  await writeFile(rc, `[key_value_store.default]\ntype = "redis"\nurl = "${redis.url}"\n`);
  const gw = await multiTenantGateway(dir, { baseDomain: 'apps.test', pathPrefix: false }, { SPINET_RUNTIME_CONFIG_FILE: rc });
  t.teardown(() => gw.close());
  for (const name of TENANTS) {
    await gw.deployApp(await writeApp(dir, { name, wasm: builtWasm('capabilities'), routes: ['/x/...'], componentExtra: 'key_value_stores = ["default"]' }), { name });
  }
  const kv = async (app: string, op: string, payload?: string): Promise<unknown> => {
    const res = await gw.fastify.inject({ method: payload === undefined ? 'GET' : 'PUT', url: `/x/kv/${op}`, headers: { host: `${app}.apps.test` }, ...(payload !== undefined ? { payload } : {}) });
    return (res.json() as { value?: unknown }).value;
  };
  await kv('alpha', 'set/shared', 'from alpha');
  await kv('beta', 'set/shared', 'from beta');
  await kv('beta', 'set/only-beta', 'b');
  t.equal(await kv('alpha', 'get/shared'), 'from alpha', 'alpha reads its own value of a key both wrote');
  t.equal(await kv('beta', 'get/shared'), 'from beta', 'beta reads its own');
  t.same(await kv('alpha', 'keys'), ['shared'], 'alpha lists only its own keys, without the prefix');
  t.same(await kv('beta', 'keys'), ['only-beta', 'shared'], 'beta lists only its own');
  t.equal(await kv('alpha', 'exists/only-beta'), false);
  const client = new Redis(redis.url);
  t.teardown(() => client.quit());
  t.same((await client.keys('*')).sort(), ['alpha:shared', 'beta:only-beta', 'beta:shared'], 'in Redis each key carries its app’s name');
});
