/**
 * Loading an app fails early and clearly: components that are not components, that do not serve
 * HTTP, or that come from places spinet does not fetch are refused when the gateway is built, before
 * any port is opened. Guest output reaches the log tagged with app and component.
 */
import t from 'tap';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { appDir, sharedWasm, testGateway } from '../helpers/gateway.js';
import { exportlessComponent } from '../helpers/wat-components.js';

function manifest(source: string): string {
  return `spin_manifest_version = 2\n[application]\nname = "app"\n[[trigger.http]]\nroute = "/..."\ncomponent = "web"\n[component.web]\nsource = ${source}\n`;
}

t.test('a component that does not export wasi:http/incoming-handler is refused at load', async (t) => {
  const dir = t.testdir({ 'spin.toml': manifest(JSON.stringify(await exportlessComponent())) });
  await t.rejects(testGateway(dir), { code: 'SPINET_ERR_WASM_EXPORT', message: /component\.web .*does not export wasi:http\/incoming-handler@0\.2\.x/ });
});

t.test('a core module as a source is refused with how to make it a component', async (t) => {
  const dir = t.testdir({ 'spin.toml': manifest('"core.wasm"') });
  await writeFile(path.join(dir, 'core.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  await t.rejects(testGateway(dir), { code: 'SPINET_ERR_MANIFEST_SOURCE', message: /core\.wasm.*core .*module.*component/i });
});

t.test('a corrupt component (valid header, broken body) is refused with the transpiler error', async (t) => {
  const dir = t.testdir({ 'spin.toml': manifest('"broken.wasm"') });
  await writeFile(path.join(dir, 'broken.wasm'), Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), Buffer.from('garbage garbage garbage')]));
  await t.rejects(testGateway(dir), { code: 'SPINET_ERR_WASM_COMPILE', message: /broken\.wasm.*could not transpile/ });
});

t.test('a URL source is refused with how to use it offline', async (t) => {
  const digest = 'a'.repeat(64);
  const dir = t.testdir({ 'spin.toml': manifest(`{ url = "https://example.com/x.wasm", digest = "sha256:${digest}" }`) });
  await t.rejects(testGateway(dir), { code: 'SPINET_ERR_MANIFEST_SOURCE', message: /URL sources .* are not fetched.*download the file/ });
});

t.test("a guest's stderr reaches the log tagged with request, app and component", async (t) => {
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(appDir('components', 'trap'), {}, logs);
  t.teardown(() => gw.close());
  await gw.fastify.inject({ method: 'GET', url: '/throw' });
  const line = logs.find((l) => l.stream === 'stderr' && /guest exploded on purpose/.test(String(l.msg)));
  t.ok(line, 'the exception text the guest printed is logged');
  t.equal(line?.app, 'trap');
  t.equal(line?.component, 'trap');
  t.ok(line?.reqId, 'with the request id');
});

t.test('a source that is a directory is refused at load, naming it', async (t) => {
  const dir = t.testdir({ 'spin.toml': manifest('"web.wasm"'), 'web.wasm': { 'not-a-component': 'x' } });
  await t.rejects(testGateway(dir), { code: 'SPINET_ERR_MANIFEST_SOURCE', message: /web\.wasm/ });
});

t.test('a component replaced on disk after loading is refused at its next compile, not run', async (t) => {
  // A 1 MiB cache keeps no 13 MB component: each request to it reads the file again and must find
  // the bytes the app was loaded with.
  const dir = t.testdir({ 'spin.toml': manifest('"web.wasm"') });
  const file = path.join(dir, 'web.wasm');
  const original = await readFile(path.join(appDir('components', 'hello'), 'dist', 'hello.wasm'));
  await writeFile(file, original);
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(path.join(dir, 'spin.toml'), { SPINET_CACHE_MAX_BYTES: String(1024 * 1024) }, logs);
  t.teardown(() => gw.close());
  t.equal((await gw.fastify.inject({ url: '/' })).statusCode, 200, 'served from the bytes it was loaded with');
  await writeFile(file, await readFile(sharedWasm('hello_wasi_http.wasm')));
  const changed = await gw.fastify.inject({ url: '/' });
  t.equal(changed.statusCode, 500, 'other bytes under the same name are not run');
  t.notMatch(changed.body, /Hello, this is your first wasi:http/, 'the replacement never answered');
  const err = logs.find((l) => l.msg === 'component could not be loaded') as { err?: { message?: string } } | undefined;
  t.match(err?.err?.message, /web\.wasm changed on disk since the app was loaded \(digest mismatch\); redeploy or restart/);
  await writeFile(file, original);
  t.equal((await gw.fastify.inject({ url: '/' })).statusCode, 200, 'the original bytes are served again');
});
