/**
 * Replicas sharing one app store, as real `spinet serve` processes: a deploy, redeploy, rollback or
 * delete on one is served by the other without a restart (Redis pub/sub), concurrent deploys of one
 * app from both get distinct versions and both replicas settle on the store's current one, a
 * restarted replica comes back with every app, and without Redis the periodic re-sync catches up.
 * Two apps claiming one new host on both replicas at once: one gets it, the other a 409.
 */
import t from 'tap';
import path from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { request } from 'undici';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import { runSpinet } from '../helpers/spinet-process.js';
import { PrivateRedis, freePort, waitFor } from '../helpers/private-redis.js';
import { builtWasm, tempDir, writeApp } from '../helpers/tenant-apps.js';

const TOKEN = 'fleet-token-77';
const HELLO = 'Hello from spinet!\n';

interface Replica {
  readonly port: number;
  readonly admin: number;
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
}

async function startReplica(store: string, env: Record<string, string>): Promise<Replica> {
  const [port, admin] = [await freePort(), await freePort()];
  const child = runSpinet(
    ['serve', '--store', store, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--base-domain', 'apps.test'],
    { SPINET_ADMIN_TOKEN: TOKEN, SPINET_WORKERS: '1', SPINET_LOG_LEVEL: 'info', SPINET_ACCESS_LOG: 'false', ...env },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (/admin API on/.test(out)) resolve();
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`spinet serve exited ${code}:\n${out}`)));
  });
  return { port, admin, child, output: () => out };
}

async function stopReplica(r: Replica): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill('SIGTERM');
  await exited;
}

async function bundleOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packBundle(await loadManifest(dir))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function admin(r: Replica, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`http://127.0.0.1:${r.admin}${url}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/gzip' } : {}) },
    ...(body ? { body } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function get(r: Replica, host: string): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${r.port}/`, { headers: { host } });
  return { status: res.statusCode, body: await res.body.text() };
}

/** Waits until `r` answers `host` with `check` true. */
function serves(r: Replica, host: string, check: (res: { status: number; body: string }) => boolean, what: string): Promise<true> {
  return waitFor(what, async () => (check(await get(r, host)) ? true : undefined), 10_000);
}

const isHello = (res: { status: number; body: string }): boolean => res.status === 200 && res.body === HELLO;
const isHeaders = (res: { status: number; body: string }): boolean => res.status === 200 && res.body.includes('spin-full-url');

t.test('two replicas on one store pick up each other’s deploys, rollbacks and deletes, and come back after a restart', async (t) => {
  const root = await tempDir();
  const store = path.join(root, 'store');
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  t.teardown(() => redis.stop());
  // A long re-sync interval: what happens here happens through Redis.
  const fleetEnv = { SPINET_FLEET_REDIS: redis.url, SPINET_FLEET_RESYNC_MS: '600000' };
  const [a, b] = await Promise.all([startReplica(store, fleetEnv), startReplica(store, fleetEnv)]);
  const replicas = [a, b];
  t.teardown(() => Promise.all(replicas.map(stopReplica)));
  const hello = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('hello') }, 'v1'));
  const headers = await bundleOf(await writeApp(root, { name: 'shop', wasm: builtWasm('spin-headers') }, 'v2'));

  t.equal((await admin(a, 'PUT', '/v1/apps/shop', hello)).status, 200, 'deploy on A');
  t.ok(await serves(b, 'shop.apps.test', isHello, 'B to serve the deploy made on A'), 'B serves what was deployed on A');
  t.match((await admin(b, 'GET', '/v1/apps/shop')).json, { version: 1, state: 'serving' });

  t.equal((await admin(b, 'PUT', '/v1/apps/shop', headers)).status, 200, 'redeploy on B');
  t.ok(await serves(a, 'shop.apps.test', isHeaders, 'A to serve the redeploy made on B'), 'A serves the redeploy made on B');
  t.equal((await admin(b, 'POST', '/v1/apps/shop/rollback')).status, 200, 'roll back on B');
  t.ok(await serves(a, 'shop.apps.test', isHello, 'A to serve the rollback made on B'), 'A serves version 1 again');

  const [fromA, fromB] = await Promise.all([admin(a, 'PUT', '/v1/apps/shop', headers), admin(b, 'PUT', '/v1/apps/shop', hello)]);
  t.same([fromA.status, fromB.status], [200, 200], 'concurrent deploys of one app on both replicas both succeed');
  t.not(fromA.json.version, fromB.json.version, 'with distinct version numbers');
  const current = await waitFor('both replicas to serve the store’s current version', async () => {
    const [sa, sb] = await Promise.all([admin(a, 'GET', '/v1/apps/shop'), admin(b, 'GET', '/v1/apps/shop')]);
    return sa.json.state === 'serving' && sb.json.state === 'serving' && sa.json.version === sb.json.version ? sa.json.version : undefined;
  });
  t.ok([fromA.json.version, fromB.json.version].includes(current), 'whichever activation came last is current on both');

  t.equal((await admin(a, 'DELETE', '/v1/apps/shop')).status, 204, 'delete on A');
  t.ok(await serves(b, 'shop.apps.test', (r) => r.status === 404, 'B to drop the app deleted on A'), 'B no longer serves the app deleted on A');

  t.equal((await admin(a, 'PUT', '/v1/apps/shop', hello)).status, 200);
  await serves(b, 'shop.apps.test', isHello, 'B to serve the new deploy');
  await stopReplica(b);
  // B comes back without Redis: it loads every app from the store, then keeps up by re-syncing.
  const b2 = await startReplica(store, { SPINET_FLEET_RESYNC_MS: '300' });
  replicas.push(b2);
  t.ok(isHello(await get(b2, 'shop.apps.test')), 'a restarted replica serves the store’s apps as soon as it listens');
  t.equal((await admin(a, 'PUT', '/v1/apps/shop', headers)).status, 200, 'a deploy on A, which B can no longer hear of');
  t.ok(await serves(b2, 'shop.apps.test', isHeaders, 'the re-sync to bring B up to date'), 'the periodic re-sync brings B up to date');
  t.match(b2.output(), /app changed elsewhere; now serving its current version/);
  t.notMatch(a.output() + b.output(), /"level":50/, 'no errors logged');
});

t.test('two replicas deploying two apps that claim one new host at once: one gets it (200), the other a 409 naming it, every round', async (t) => {
  const root = await tempDir();
  const store = path.join(root, 'store');
  // No Redis: the replicas learn of each other's apps by re-syncing.
  const env = { SPINET_FLEET_RESYNC_MS: '300' };
  const [a, b] = await Promise.all([startReplica(store, env), startReplica(store, env)]);
  t.teardown(() => Promise.all([a, b].map(stopReplica)));
  const hello = await bundleOf(await writeApp(root, { name: 'hello', wasm: builtWasm('hello') }));
  const ROUNDS = 6;
  let last = '';
  for (let i = 0; i < ROUNDS; i++) {
    const host = `race-${i}.example.com`;
    const [left, right] = await Promise.all([
      admin(a, 'PUT', `/v1/apps/left-${i}?host=${host}`, hello),
      admin(b, 'PUT', `/v1/apps/right-${i}?host=${host}`, hello),
    ]);
    const statuses = [left.status, right.status];
    t.same([...statuses].sort(), [200, 409], `round ${i}: one deploy gets ${host}, the other is refused (got ${statuses.join(', ')})`);
    const winner = left.status === 200 ? `left-${i}` : `right-${i}`;
    const refused = left.status === 200 ? right : left;
    t.match(refused.json, { code: 'SPINET_ERR_TENANT_CONFLICT', message: `host "${host}" is already claimed by app "${winner}"; remove it from that app first or choose another host` });
    last = host;
  }
  const apps = (await admin(a, 'GET', '/v1/apps')).json.apps as Array<{ name: string; hosts: string[] }>;
  t.equal(apps.length, ROUNDS, 'the store has one app per round, the losers left nothing');
  for (const r of [a, b]) t.ok(await serves(r, last, isHello, `${r.port} to serve ${last}`), 'both replicas serve the winner on the contested host');
  t.notMatch(a.output() + b.output(), /"level":50/, 'no errors logged');
});
