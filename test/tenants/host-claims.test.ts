/**
 * Host claims across replicas sharing one app store. Two replicas (two gateways, each with its own
 * AppService, on one store directory) deploying two different apps that claim one new host at the
 * same instant: exactly one gets it, every time, and the other is refused with the conflict. A
 * rollback to a version whose host another replica's app has taken is refused too. A claims lock
 * left by a replica that crashed does not stop deploys; a live one is waited for.
 */
import { adminStatusOf } from '../../server/plugins/admin-api.js';
import t from 'tap';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { AppService } from '../../server/tenants/app-service.js';
import type { TenantHost } from '../../server/tenants/app-service.js';
import { AppStore } from '../../server/tenants/app-store.js';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import type { Gateway } from '../../server/app.js';
import type { Logger } from '../../server/observability/logger.js';
import { repoRoot } from '../helpers/gateway.js';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';

const HELLO = 'Hello from spinet!\n';

async function bundleOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packBundle(await loadManifest(dir))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Lets the deploys of one round go on from "compiled" only once both got there: the instant at which
 * both check the claims and make their version current, where the race is decided. A deploy refused
 * before compiling does not hold the other up for more than a second.
 */
class Rendezvous {
  #waiting: Array<() => void> = [];
  arrive(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#waiting.length >= 2) for (const go of this.#waiting.splice(0)) go();
      else setTimeout(resolve, 1000).unref();
    });
  }
}

/** A replica: a real multi-tenant gateway and its app service on the shared store. */
async function replica(
  storeDir: string,
  rendezvous: Rendezvous | undefined,
  storeOpts: ConstructorParameters<typeof AppStore>[1] = {},
  onGateway?: Gateway,
): Promise<{ gw: Gateway; service: AppService }> {
  const gw = onGateway ?? (await multiTenantGateway(await tempDir()));
  const host: TenantHost = {
    tenants: gw.tenants,
    prepareApp: async (manifest, opts) => {
      const loaded = await gw.prepareApp(manifest, opts);
      await rendezvous?.arrive();
      return loaded;
    },
    activateApp: (app, claims) => gw.activateApp(app, claims),
    removeApp: (name) => gw.removeApp(name),
  };
  const store = new AppStore(storeDir, storeOpts);
  const service = new AppService({ store, host, logger: gw.fastify.log as unknown as Logger });
  await service.loadAll();
  return { gw, service };
}

t.test('two replicas deploying two apps that claim one new host at the same instant: exactly one gets it, every time', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  const rendezvous = new Rendezvous();
  const [a, b] = [await replica(storeDir, rendezvous), await replica(storeDir, rendezvous)];
  t.teardown(() => Promise.all([a.gw.close(), b.gw.close()]));
  const hello = await bundleOf(await writeApp(root, { name: 'hello', wasm: builtWasm('hello') }));
  const store = new AppStore(storeDir);

  const ROUNDS = 25;
  const winners = { a: 0, b: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    const host = `shop-${i}.example.com`;
    const [left, right] = [`left-${i}`, `right-${i}`];
    const results = await Promise.allSettled([
      a.service.deploy(left, Readable.from([hello]), { hosts: [host] }),
      b.service.deploy(right, Readable.from([hello]), { hosts: [host] }),
    ]);
    const won = results.findIndex((r) => r.status === 'fulfilled');
    const lost = results.findIndex((r) => r.status === 'rejected');
    if (won === -1 || lost === -1) {
      t.fail(`round ${i}: exactly one deploy must win, got ${results.map((r) => r.status).join(' and ')}`);
      break;
    }
    const [winner, loser] = won === 0 ? [left, right] : [right, left];
    winners[won === 0 ? 'a' : 'b']++;
    const err = (results[lost] as PromiseRejectedResult).reason as { code?: string; message?: string };
    if (err.code !== 'SPINET_ERR_TENANT_CONFLICT' || !err.message?.includes(`host "${host}" is already claimed by app "${winner}"`)) {
      t.fail(`round ${i}: the loser must get the conflict naming the winner, got ${err.code}: ${err.message}`);
      break;
    }
    const claimants = (await store.list()).filter((r) => r.current.hosts.includes(host)).map((r) => r.app);
    if (claimants.length !== 1 || claimants[0] !== winner) {
      t.fail(`round ${i}: the store must have ${winner} alone on ${host}, has ${claimants.join(', ')}`);
      break;
    }
    if ((await store.get(loser)) !== undefined || (await store.versions(loser)).length !== 0) {
      t.fail(`round ${i}: the losing app ${loser} must leave nothing in the store`);
      break;
    }
  }
  t.equal(winners.a + winners.b, ROUNDS, `each of the ${ROUNDS} rounds had exactly one winner and a conflict for the other`);
  t.equal((await store.list()).length, ROUNDS, 'one app per round in the store');
  const lastWinner = winners.a + winners.b === ROUNDS ? (await store.list()).find((r) => r.current.hosts.includes(`shop-${ROUNDS - 1}.example.com`))!.app : '';
  const gw = lastWinner.startsWith('left') ? a.gw : b.gw;
  const res = await gw.fastify.inject({ url: '/', headers: { host: `shop-${ROUNDS - 1}.example.com` } });
  t.equal(res.body, HELLO, 'the winner serves its host');
  t.same(await import('node:fs/promises').then((fs) => fs.readdir(storeDir)).then((e) => e.filter((n) => n.includes('lock'))), [], 'no claims lock is left behind');
});

t.test('a rollback to a version whose host another replica’s app has taken since is refused, and nothing changes', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  const [a, b] = [await replica(storeDir, undefined), await replica(storeDir, undefined)];
  t.teardown(() => Promise.all([a.gw.close(), b.gw.close()]));
  const hello = await bundleOf(await writeApp(root, { name: 'hello', wasm: builtWasm('hello') }));
  await a.service.deploy('old', Readable.from([hello]), { hosts: ['shop.example.com'] });
  await a.service.deploy('old', Readable.from([hello]), { hosts: [] });
  await b.service.deploy('new', Readable.from([hello]), { hosts: ['shop.example.com'] });
  await t.rejects(a.service.rollback('old'), { code: 'SPINET_ERR_TENANT_CONFLICT', message: 'host "shop.example.com" is already claimed by app "new"; remove it from that app first or choose another host' });
  const store = new AppStore(storeDir);
  t.same(((await store.get('old'))!.current.version), 2, 'the app stays on its current version');
  t.same((await store.get('new'))!.current.hosts, ['shop.example.com']);
});

/** A process holding the store's claims lock until it is killed (a replica that crashes in the middle). */
async function lockHolder(storeDir: string, lockStaleMs: number): Promise<ChildProcessWithoutNullStreams> {
  const module = path.join(repoRoot, 'dist', 'server', 'tenants', 'app-store.js');
  const script = `
    import { AppStore } from ${JSON.stringify(module)};
    setInterval(() => {}, 1 << 30);
    await new AppStore(process.argv[1], { lockStaleMs: Number(process.argv[2]) }).withClaimsLock(async () => {
      process.stdout.write('held\\n');
      await new Promise(() => {});
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, storeDir, String(lockStaleMs)]);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('held')) resolve();
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`the lock holder exited ${code}: ${out}`)));
  });
  return child;
}

t.test('a live replica holding the claims lock is waited for, past the stale time; once it crashes, deploys go on', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  // The lock goes stale after 300 ms without a refresh: the holder refreshes it, so it never does.
  const { gw, service } = await replica(storeDir, undefined, { lockStaleMs: 300, lockWaitMs: 1200 });
  t.teardown(() => gw.close());
  const hello = await bundleOf(await writeApp(root, { name: 'hello', wasm: builtWasm('hello') }));
  const holder = await lockHolder(storeDir, 300);
  t.teardown(() => holder.kill('SIGKILL'));

  await t.rejects(service.deploy('shop', Readable.from([hello]), { hosts: ['shop.example.com'] }), {
    code: 'SPINET_ERR_APP_STORE_BUSY',
    message: new RegExp(`claims\\.lock has been held for 1200 ms by another writer \\(pid ${holder.pid} on host .+\\), so the host claims of the app store cannot change now; try again`),
  });
  t.equal(adminStatusOf({ code: 'SPINET_ERR_APP_STORE_BUSY' }), 503, 'the admin API answers it with 503 (and Retry-After): try again, nothing is broken');
  t.same(await new AppStore(storeDir).list(), [], 'the deploy that could not take the lock left nothing current');
  t.ok((await service.deploy('plain', Readable.from([hello]), { hosts: [] })).version === 1, 'a deploy claiming no host does not need the claims lock');

  holder.kill('SIGKILL');
  await once(holder, 'exit');
  // A replica that would wait a minute for the lock to go stale: it takes it over because its owner,
  // a process on this host, is gone, not because the lock aged.
  const patient = await replica(storeDir, undefined, { lockStaleMs: 60_000, lockWaitMs: 5_000 }, gw);
  const { version, hosts } = await patient.service.deploy('shop', Readable.from([hello]), { hosts: ['shop.example.com'] });
  t.same([version, hosts], [1, ['shop.example.com']], 'the lock of the crashed replica is taken over and the deploy goes through');
  const res = await gw.fastify.inject({ url: '/', headers: { host: 'shop.example.com' } });
  t.equal(res.body, HELLO);
});
