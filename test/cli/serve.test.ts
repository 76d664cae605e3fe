/**
 * spinet serve, deploy and apps end to end on real ports: a gateway with an empty store takes a deploy
 * from the CLI, serves the app by host name and prefix, lists it, rolls it back and deletes it; the
 * admin API refuses to start without a token unless explicitly local-only on loopback.
 */
import t from 'tap';
import path from 'node:path';
import { request } from 'undici';
import { serve } from '../../server/cli/serve.js';
import { deploy, apps } from '../../server/cli/deploy.js';
import { freePort } from '../../server/free-port.js';
import { builtWasm, tempDir, writeApp } from '../helpers/tenant-apps.js';
import { repoRoot } from '../helpers/gateway.js';

const HELLO = 'Hello from spinet!\n';

async function capture(fn: () => Promise<void>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

t.test('spinet serve takes spinet deploy, serves by host and prefix, and spinet apps lists, rolls back and deletes', async (t) => {
  const root = await tempDir();
  const [port, adminPort] = [await freePort(), await freePort()];
  const env = {
    SPINET_ADMIN_TOKEN: 'cli-token',
    SPINET_WORKERS: '1',
    SPINET_LOG_LEVEL: 'silent',
    SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'),
    SPINET_ADMIN_URL: `http://127.0.0.1:${adminPort}`,
  };
  const running = await serve(['--store', path.join(root, 'store'), '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--base-domain', 'apps.test'], env);
  t.teardown(() => running.stop());
  const v1 = await writeApp(root, { name: 'hello-app', wasm: builtWasm('hello') }, 'v1');
  const v2 = await writeApp(root, { name: 'hello-app', wasm: builtWasm('spin-headers') }, 'v2');
  const get = async (host: string, url = '/'): Promise<{ status: number; body: string }> => {
    const res = await request(`http://127.0.0.1:${port}${url}`, { headers: { host } });
    return { status: res.statusCode, body: await res.body.text() };
  };

  t.match(await capture(() => deploy([v1, '--no-build', '--host', 'hello.example.com'], env)), /deployed hello-app version 1 \(serving\)/);
  t.same(await get('hello-app.apps.test'), { status: 200, body: HELLO });
  t.same(await get('hello.example.com'), { status: 200, body: HELLO });
  t.same(await get('127.0.0.1', '/hello-app/x'), { status: 200, body: HELLO });
  t.match(await capture(() => deploy(['-f', path.join(v2, 'spin.toml'), '--no-build', '--host', 'hello.example.com'], env)), /version 2/);
  t.match(JSON.parse((await get('hello.example.com')).body), { 'spin-base-path': '/' });
  t.match(await capture(() => apps([], env)), /NAME\tVERSION\tSTATE\tHOSTS\tROUTES\nhello-app\tv2\tserving\thello\.example\.com\t\/\.\.\./);
  t.match(await capture(() => apps(['rollback', 'hello-app'], env)), /rolled back to version 1/);
  t.same(await get('hello-app.apps.test'), { status: 200, body: HELLO });
  t.match(await capture(() => apps(['delete', 'hello-app'], env)), /hello-app deleted/);
  t.equal((await get('hello-app.apps.test')).status, 404);
  await t.rejects(apps(['show', 'hello-app'], env), { code: 'SPINET_ERR_APP_NOT_FOUND' });
  await t.rejects(apps([], { ...env, SPINET_ADMIN_TOKEN: 'wrong' }), { code: 'SPINET_ERR_ADMIN_UNAUTHORIZED' });
});

t.test('the admin API will not start without a token unless local-only on loopback', async (t) => {
  const root = await tempDir();
  const env = { SPINET_LOG_LEVEL: 'silent', SPINET_WORKERS: '1' };
  await t.rejects(serve(['--store', root], env), { code: 'SPINET_ERR_CONFIG_INVALID', message: /needs a token: set SPINET_ADMIN_TOKEN, or pass --admin-local-only/ });
  await t.rejects(serve(['--store', root, '--admin-local-only', '--admin-listen', '0.0.0.0:3901'], env), { code: 'SPINET_ERR_CONFIG_INVALID', message: /must listen on loopback/ });
  const [port, adminPort] = [await freePort(), await freePort()];
  const running = await serve(['--store', root, '--admin-local-only', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`], env);
  t.teardown(() => running.stop());
  const res = await request(`http://127.0.0.1:${adminPort}/v1/apps`);
  t.equal(res.statusCode, 200, 'local-only needs no token');
  t.same(await res.body.json(), { apps: [] }, 'a new store has no apps');
});
