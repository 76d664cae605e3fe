/**
 * A guest built with Spin's own JavaScript tooling from the npm registry (@spinframework/build-tools
 * 1.0.7, j2w; see test/fixtures/spin-js-sdk) that imports fermyon:spin/key-value@2.0.0 and wasi 0.2.3
 * runs on spinet unmodified, with Spin's key-value permissions.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, testGateway } from '../helpers/gateway.js';

const wasm = path.join(repoRoot, 'test', 'fixtures', 'spin-js-sdk', 'dist', 'spin-kv-guest.wasm');
await stat(wasm).catch(() => {
  throw new Error(`${wasm} is missing: npm test builds it (pretest runs node test/fixtures/spin-js-sdk/build.mjs)`);
});

const dir = await mkdtemp(path.join(tmpdir(), 'spinet-spin-sdk-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const manifest = path.join(dir, 'spin.toml');
await writeFile(
  manifest,
  `spin_manifest_version = 2
[application]
name = "spin-js-sdk-kv"
[[trigger.http]]
route = "/..."
component = "kv"
[component.kv]
source = ${JSON.stringify(wasm)}
key_value_stores = ["default"]
`,
);

t.test('a Spin JS SDK guest counts in the default store and is denied other stores', async (t) => {
  const gw = await testGateway(manifest, {}, undefined, { flags: { stateDir: path.join(dir, 'state') } });
  t.teardown(() => gw.close());
  for (const n of [1, 2, 3]) {
    const res = await gw.fastify.inject({ url: '/' });
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.body, `count=${n}`);
  }
  const denied = await gw.fastify.inject({ url: '/denied' });
  t.equal(denied.statusCode, 403, denied.body);
  t.equal(denied.body, 'access-denied', 'the guest saw error::access-denied for a store its manifest does not list');
});
