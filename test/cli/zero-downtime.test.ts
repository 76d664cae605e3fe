/**
 * Swaps under load lose nothing: while autocannon drives a real `spinet serve`, ten redeploys (each a
 * different component, so every swap compiles new code and releases the old) and a rollback through
 * the admin API cause no non-2xx response, no connection error and no timeout.
 */
import t from 'tap';
import path from 'node:path';
import autocannon from 'autocannon';
import { request } from 'undici';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import { runSpinet } from '../helpers/spinet-process.js';
import { freePort } from '../helpers/private-redis.js';
import { builtWasm, tempDir, writeApp } from '../helpers/tenant-apps.js';

const TOKEN = 'zero-downtime-token';

async function bundleOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packBundle(await loadManifest(dir))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

t.test('ten redeploys and a rollback under load cause zero failed requests', async (t) => {
  const root = await tempDir();
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = runSpinet(
    ['serve', '--store', path.join(root, 'store'), '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--base-domain', 'apps.test'],
    { SPINET_ADMIN_TOKEN: TOKEN, SPINET_WORKERS: '2', SPINET_LOG_LEVEL: 'warn', SPINET_ACCESS_LOG: 'false' },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  const bundles = await Promise.all(
    ['hello', 'spin-headers'].map(async (c, i) => bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm(c) }, `v${i}`))),
  );
  const admin = async (method: 'PUT' | 'POST', url: string, body?: Buffer): Promise<number> => {
    const res = await request(`http://127.0.0.1:${adminPort}${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/gzip' } : {}) },
      ...(body ? { body } : {}),
    });
    await res.body.text();
    return res.statusCode;
  };
  for (let i = 0; ; i++) {
    try {
      if ((await admin('PUT', '/v1/apps/shop', bundles[0])) === 200) break;
    } catch {
      if (i > 200) throw new Error(`spinet serve did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const statuses = new Map<number, number>();
  let stop!: () => void;
  const load = new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: `http://127.0.0.1:${port}/`, headers: { host: 'shop.apps.test' }, connections: 8, duration: 60, timeout: 10 },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on('response', (_client: unknown, status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1));
    stop = () => instance.stop();
  });
  await new Promise((r) => setTimeout(r, 500));
  const swaps: number[] = [];
  for (let i = 1; i <= 10; i++) swaps.push(await admin('PUT', '/v1/apps/shop', bundles[i % 2]));
  swaps.push(await admin('POST', '/v1/apps/shop/rollback'));
  await new Promise((r) => setTimeout(r, 500));
  stop();
  const result = await load;

  t.same(swaps, Array(11).fill(200), 'every redeploy and the rollback succeeded');
  t.ok(result.requests.total > 100, `the gateway was under load (${result.requests.total} requests)`);
  t.same([...statuses.keys()], [200], `every response was 200 (${JSON.stringify(Object.fromEntries(statuses))})`);
  t.equal(result.non2xx, 0, 'no non-2xx response');
  t.equal(result.errors, 0, 'no connection error');
  t.equal(result.timeouts, 0, 'no timeout');
  t.notMatch(out, /"level":50/, 'nothing logged as an error');
});
