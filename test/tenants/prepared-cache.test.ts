/**
 * Compiled components of a version that is prepared but not yet activated (a deploy between
 * compiling and its switch: claims check, store update) count as in use: releasing another app
 * that shares them must not drop them from the precompile cache, or the new version's first requests
 * would compile again, after the deploy promised everything was compiled before it took traffic.
 */
import t from 'tap';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';

const HELLO = 'Hello from spinet!\n';

t.test('releasing an app keeps the compiled components a prepared, not yet active version shares with it', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const hello = await writeApp(dir, { name: 'hello', wasm: builtWasm('hello') });

  const alone = await gw.deployApp(hello, { name: 'alone' });
  const digest = [...alone.components.values()][0]!.digest;
  t.ok(gw.cache.peek(digest), 'a deployed app’s component is in the cache');
  gw.removeApp('alone');
  await gw.settled();
  t.equal(gw.cache.peek(digest), undefined, 'and leaves it with the last app that used it');

  await gw.deployApp(hello, { name: 'old' });
  const next = await gw.prepareApp(hello, { name: 'next' });
  gw.removeApp('old');
  await gw.settled();
  t.ok(gw.cache.peek(digest), 'releasing "old" keeps the component "next" was prepared with');

  const misses = gw.cache.stats.misses;
  gw.activateApp(next);
  const res = await gw.fastify.inject({ url: '/', headers: { host: 'next.apps.test' } });
  t.equal(res.body, HELLO);
  t.equal(gw.cache.stats.misses, misses, '"next" serves its first request without compiling again');

  gw.removeApp('next');
  await gw.settled();
  t.equal(gw.cache.peek(digest), undefined, 'once activated and removed, it is released as usual');
});

t.test('a prepared version whose deploy was abandoned does not keep its components once it is gone', async (t) => {
  // The gateway holds prepared versions weakly; the collector decides when an abandoned one is gone.
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir);
  t.teardown(() => gw.close());
  const hello = await writeApp(dir, { name: 'hello', wasm: builtWasm('hello') });
  const digest = [...(await gw.deployApp(hello, { name: 'old' })).components.values()][0]!.digest;
  await gw.prepareApp(hello, { name: 'abandoned' }); // a deploy that failed after compiling: never activated
  await new Promise((r) => setImmediate(r));
  gc();
  gw.removeApp('old');
  await gw.settled();
  t.equal(gw.cache.peek(digest), undefined, 'the component leaves the cache with the last app that could use it');
});
