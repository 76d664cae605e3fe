/**
 * Fair sharing between tenants: an app whose guests loop until their deadline holds no more than its
 * share of the workers and of the queue, so another app's requests keep being answered at once.
 */
import t from 'tap';
import { builtWasm, multiTenantGateway, tempDir, writeApp } from '../helpers/tenant-apps.js';
import { fire } from '../helpers/gateway.js';

t.test('a tenant looping on every worker it can get cannot starve another tenant', async (t) => {
  const dir = await tempDir();
  const gw = await multiTenantGateway(dir, { baseDomain: 'apps.test', pathPrefix: false }, { SPINET_WORKERS: '2', SPINET_DEADLINE_MS: '3000', SPINET_MAX_QUEUE: '4' });
  t.teardown(() => gw.close());
  await gw.deployApp(await writeApp(dir, { name: 'greedy', wasm: builtWasm('loop') }), { name: 'greedy' });
  await gw.deployApp(await writeApp(dir, { name: 'healthy', wasm: builtWasm('hello') }), { name: 'healthy' });
  const healthy = { url: '/', headers: { host: 'healthy.apps.test' } };
  t.equal((await gw.fastify.inject(healthy)).statusCode, 200, 'the healthy app is in use');

  let loopsSettled = 0;
  const loops = Array.from({ length: 5 }, () =>
    fire(gw, { url: '/loop', headers: { host: 'greedy.apps.test' } }).then((r) => {
      if (r.statusCode !== 503) loopsSettled++;
      return r.statusCode;
    }),
  );
  // Give the loops time to take whatever workers they are allowed.
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 5; i++) {
    const res = await gw.fastify.inject(healthy);
    t.equal(res.statusCode, 200, `healthy request ${i + 1} answered`);
  }
  t.equal(loopsSettled, 0, 'every healthy answer came while the loops were still running');
  const statuses = (await Promise.all(loops)).sort();
  t.same(statuses, [503, 503, 504, 504, 504], 'the looping app got one worker and two places in the queue (its shares); the rest were refused with 503');
  t.equal(gw.executor.load.running + gw.executor.load.queued, 0, 'nothing left running or waiting');
});
