/** The app store keeps immutable versions, moves its current pointer atomically, and survives restarts. */
import t from 'tap';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { AppStore } from '../../server/tenants/app-store.js';
import { rawTarGz } from '../helpers/raw-tar.js';
import { tempDir } from '../helpers/tenant-apps.js';

const bundle = (text: string): Readable => Readable.from([rawTarGz([{ path: 'spin.toml', body: text }])]);

async function deploy(store: AppStore, app: string, text: string): Promise<number> {
  const staged = await store.stage(bundle(text));
  const v = await store.commit(app, staged, { hosts: [], manifestName: app });
  await store.activate(app, v.version);
  return v.version;
}

t.test('versions are numbered, kept up to the limit, and rolled back in order', async (t) => {
  const store = new AppStore(await tempDir(), { keep: 3 });
  await store.init();
  for (let i = 1; i <= 4; i++) t.equal(await deploy(store, 'shop', `v${i}`), i);
  let rec = (await store.get('shop'))!;
  t.same(rec.history, [2, 3, 4], 'only the last three versions are kept');
  t.same(await store.versions('shop'), [2, 3, 4], 'and version 1 is deleted from disk');
  t.equal(await readFile(path.join(store.versionDir('shop', 4), 'spin.toml'), 'utf8'), 'v4');
  rec = await store.rollback('shop');
  t.equal(rec.current.version, 3);
  rec = await store.rollback('shop');
  t.equal(rec.current.version, 2);
  await t.rejects(store.rollback('shop'), { code: 'SPINET_ERR_APP_NOT_FOUND', message: /no earlier version/ });
  t.equal(await deploy(store, 'shop', 'v5'), 5, 'a deploy after rollbacks takes a new number');
  t.same((await store.get('shop'))!.history, [2, 5]);
  t.same(await store.versions('shop'), [2, 5], 'rolled-back versions are pruned by the next deploy');
});

t.test('a new store on the same directory sees the same apps (a restart)', async (t) => {
  const dir = await tempDir();
  const first = new AppStore(dir);
  await first.init();
  await deploy(first, 'a', 'a1');
  await deploy(first, 'b', 'b1');
  await deploy(first, 'b', 'b2');
  const again = new AppStore(dir);
  await again.init();
  t.same((await again.list()).map((r) => [r.app, r.current.version, r.history]), [['a', 1, [1]], ['b', 2, [1, 2]]]);
  t.match((await again.get('b'))!.current, { app: 'b', version: 2, manifestName: 'b', digest: /^[0-9a-f]{64}$/ });
});

t.test('a committed version that is dropped before activation leaves the current one alone', async (t) => {
  const store = new AppStore(await tempDir());
  await store.init();
  await deploy(store, 'shop', 'good');
  const staged = await store.stage(bundle('bad'));
  const v = await store.commit('shop', staged, { hosts: [], manifestName: 'shop' });
  t.equal((await store.get('shop'))!.current.version, 1, 'a commit alone does not change the current version');
  await store.drop('shop', v.version);
  t.same(await store.versions('shop'), [1]);
  await store.drop('shop', 1);
  t.same(await store.versions('shop'), [1], 'the current version cannot be dropped');
});

t.test('concurrent commits get distinct version numbers', async (t) => {
  const store = new AppStore(await tempDir());
  await store.init();
  const staged = await Promise.all([1, 2, 3, 4].map((i) => store.stage(bundle(`v${i}`))));
  const versions = await Promise.all(staged.map((s) => store.commit('shop', s, { hosts: [], manifestName: 'shop' })));
  t.same(versions.map((v) => v.version).sort(), [1, 2, 3, 4]);
});

t.test('removing an app deletes every version; start-up clears upload debris', async (t) => {
  const dir = await tempDir();
  const store = new AppStore(dir);
  await store.init();
  await deploy(store, 'gone', 'x');
  t.ok(await store.remove('gone'));
  t.notOk(await store.remove('gone'));
  t.equal(await store.get('gone'), undefined);
  await store.stage(bundle('left behind'));
  await new AppStore(dir).init();
  t.equal((await readdir(path.join(dir, 'tmp'))).length, 1, 'a recent upload survives another replica starting (it may be in progress)');
  await new AppStore(dir, { debrisAgeMs: 0 }).init();
  t.same(await readdir(path.join(dir, 'tmp')), [], 'a half-finished upload older than the debris age is gone after a restart');
  t.same(await readdir(path.join(dir, 'apps')), []);
});

t.test('two replicas deploying one app at once never share a version number nor lose a pointer update', async (t) => {
  const dir = await tempDir();
  const [a, b] = [new AppStore(dir, { keep: 50 }), new AppStore(dir, { keep: 50 })];
  await Promise.all([a.init(), b.init()]);
  const versions = await Promise.all(Array.from({ length: 16 }, (_, i) => deploy(i % 2 === 0 ? a : b, 'shop', `v${i}`)));
  t.same([...versions].sort((x, y) => x - y), Array.from({ length: 16 }, (_, i) => i + 1), 'every deploy got its own number');
  const history = (await a.get('shop'))!.history;
  t.same([...history].sort((x, y) => x - y), Array.from({ length: 16 }, (_, i) => i + 1), 'and every activation is in the history');
  t.same(await readdir(path.join(dir, 'apps', 'shop')).then((e) => e.filter((n) => n.endsWith('.lock') || n.endsWith('.tmp'))), [], 'no lock or temporary pointer is left behind');
  const rolled = await Promise.all([a.rollback('shop'), b.rollback('shop')]);
  t.same(rolled.map((r) => r.history.length).sort(), [14, 15], 'two concurrent rollbacks step back twice, one after the other');
});

t.test('a pointer lock left by a writer that died is taken over; a live one makes the other writer wait', async (t) => {
  const dir = await tempDir();
  const store = new AppStore(dir, { lockWaitMs: 200, lockStaleMs: 500 });
  await store.init();
  await deploy(store, 'shop', 'v1');
  const lock = path.join(dir, 'apps', 'shop', 'current.lock');
  await writeFile(lock, '12345\n');
  const staged = await store.stage(bundle('v2'));
  const v2 = await store.commit('shop', staged, { hosts: [], manifestName: 'shop' });
  await t.rejects(store.activate('shop', v2.version), { code: 'SPINET_ERR_APP_STORE_BUSY', message: /held for 200 ms by another writer/ });
  // Nobody refreshes it: once this replica has watched it for the stale time, it is taken over.
  await new Promise((r) => setTimeout(r, 400));
  t.equal((await store.activate('shop', v2.version)).current.version, 2, 'a stale lock does not block for ever');
});

t.test('replicas sharing a store share its id', async (t) => {
  const dir = await tempDir();
  const ids = await Promise.all([new AppStore(dir).id(), new AppStore(dir).id(), new AppStore(dir).id()]);
  t.match(ids[0], /^[0-9a-f]{16}$/);
  t.same(new Set(ids).size, 1);
  t.not(await new AppStore(await tempDir()).id(), ids[0], 'another store has another id');
});

t.test('an uploaded .env is kept for the gateway’s user only, whatever mode it came with', async (t) => {
  const store = new AppStore(await tempDir());
  await store.init();
  // rawTarGz writes every file 0644.
  const staged = await store.stage(Readable.from([rawTarGz([{ path: 'spin.toml', body: 'x' }, { path: '.env', body: 'SPIN_VARIABLE_TOKEN=s3cret\n' }])]));
  t.equal((await stat(path.join(staged.dir, '.env'))).mode & 0o777, 0o600);
  t.equal((await stat(path.join(staged.dir, 'spin.toml'))).mode & 0o077, 0o044 & ~process.umask(), 'other files keep their usual mode');
  const odd = await store.stage(Readable.from([rawTarGz([{ path: 'spin.toml', body: 'x' }, { path: '.env', type: 'Directory' }, { path: '.env/x', body: 'y' }])]));
  await store.discard(odd.dir);
  t.same(await readdir(path.join(store.root, 'tmp')).then((e) => e.filter((n) => n === path.basename(odd.dir))), [], 'a .env directory is left alone, and goes away with its upload');
});
