/** The app store keeps immutable versions, moves its current pointer atomically, and survives restarts. */
import t from 'tap';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readdir, readFile } from 'node:fs/promises';
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
  t.same(await readdir(path.join(dir, 'tmp')), [], 'a half-finished upload is gone after a restart');
  t.same(await readdir(path.join(dir, 'apps')), []);
});
