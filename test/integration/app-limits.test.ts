/**
 * Limits per app, overridable per component, from `[application.tool.spinet]` and
 * `[component.<id>.tool.spinet]` (tables Spin ignores): deadline → 504, request body → 413, response
 * body → cut off, instance memory → the guest fails (500), and a per-app request rate → 429 with
 * Retry-After. Bad values are manifest errors.
 */
import t from 'tap';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { appDir, testGateway } from '../helpers/gateway.js';

const echo = JSON.stringify(path.join(appDir('components', 'echo'), 'dist', 'echo.wasm'));
const loop = JSON.stringify(path.join(appDir('components', 'loop'), 'dist', 'loop.wasm'));
const evil = JSON.stringify(path.join(appDir('components', 'evil'), 'dist', 'evil.wasm'));
const MiB = 1024 * 1024;

async function app(dir: string, toml: string): Promise<string> {
  const file = path.join(dir, 'spin.toml');
  await writeFile(file, `spin_manifest_version = 2\n${toml}`);
  return file;
}

t.test('body and response limits come from the app, a component may raise them', async (t) => {
  // echo streams /body/... back and answers a JSON summary (with bodyLength) elsewhere.
  const manifest = await app(
    t.testdir({}),
    `[application]
name = "limited"
[application.tool.spinet]
max_body_bytes = 1000
max_response_bytes = 800
[[trigger.http]]
route = "/body/..."
component = "small"
[[trigger.http]]
route = "/echo/..."
component = "big"
[component.small]
source = ${echo}
[component.big]
source = ${echo}
[component.big.tool.spinet]
max_body_bytes = 100000
`,
  );
  const gw = await testGateway(manifest);
  t.teardown(() => gw.close());
  const post = (url: string, n: number) => gw.fastify.inject({ method: 'POST', url, payload: Buffer.alloc(n, 97), headers: { 'content-type': 'text/plain' } });
  t.equal((await post('/body/x', 1500)).statusCode, 413, "the app's 1000-byte body limit");
  const fits = await post('/body/x', 700);
  t.equal(fits.statusCode, 200);
  t.equal(fits.body.length, 700);
  t.equal((await post('/body/x', 900)).statusCode, 500, "a 900-byte echo breaks the app's 800-byte response limit");
  const big = await post('/echo/x', 5000);
  t.equal(big.statusCode, 200, 'the component raised its own body limit');
  t.equal(big.json<{ bodyLength: number }>().bodyLength, 5000);
});

t.test('a component deadline overrides the gateway default', async (t) => {
  const manifest = await app(
    t.testdir({}),
    `[application]
name = "deadlines"
[[trigger.http]]
route = "/..."
component = "loop"
[component.loop]
source = ${loop}
[component.loop.tool.spinet]
deadline_ms = 300
`,
  );
  const gw = await testGateway(manifest, { SPINET_DEADLINE_MS: '60000' });
  t.teardown(() => gw.close());
  const started = Date.now();
  const res = await gw.fastify.inject({ url: '/loop' });
  t.equal(res.statusCode, 504);
  t.ok(Date.now() - started < 20_000, `stopped by the component's 300 ms deadline, not the gateway's 60 s (${Date.now() - started} ms)`);
  t.equal((await gw.fastify.inject({ url: '/fine' })).statusCode, 200, 'and the next request is served');
});

t.test('an app rate limit answers 429 with Retry-After, for that app only', async (t) => {
  const manifest = await app(
    t.testdir({}),
    `[application]
name = "rated"
[application.tool.spinet]
rate_limit = { requests = 3, per_seconds = 60 }
[[trigger.http]]
route = "/..."
component = "echo"
[component.echo]
source = ${echo}
`,
  );
  const gw = await testGateway(manifest);
  t.teardown(() => gw.close());
  for (let i = 0; i < 3; i++) t.equal((await gw.fastify.inject({ url: `/echo/${i}` })).statusCode, 200);
  const limited = await gw.fastify.inject({ url: '/echo/4' });
  t.equal(limited.statusCode, 429);
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60, `Retry-After: ${limited.headers['retry-after']}`);
  t.equal((await gw.fastify.inject({ url: '/.well-known/spin/health' })).statusCode, 200, 'the health check is not rate limited');
});

t.test('the instance memory cap comes from the app, a component may raise it past the gateway default', async (t) => {
  const manifest = await app(
    t.testdir({}),
    `[application]\nname = "caps"\n[application.tool.spinet]\nmax_instance_memory = ${16 * MiB}\n` +
      `[[trigger.http]]\nroute = "/small/..."\ncomponent = "small"\n[[trigger.http]]\nroute = "/big/..."\ncomponent = "big"\n` +
      `[component.small]\nsource = ${evil}\n[component.big]\nsource = ${evil}\n[component.big.tool.spinet]\nmax_instance_memory = ${64 * MiB}\n`,
  );
  const logs: Array<Record<string, unknown>> = [];
  const gw = await testGateway(manifest, { SPINET_MAX_INSTANCE_MEMORY: String(32 * MiB), SPINET_DEADLINE_MS: '20000' }, logs);
  t.teardown(() => gw.close());
  // The hog prints every 8 MiB it holds, until its memory cannot grow any more.
  const held = (component: string): number =>
    Math.max(0, ...logs.filter((l) => l.component === component && l.stream === 'stdout').map((l) => Number(/^memory-hog holds (\d+) MiB$/.exec(String(l.msg))?.[1] ?? 0)));
  for (const component of ['small', 'big', 'small']) {
    const res = await gw.fastify.inject({ url: `/${component}/memory-hog` });
    t.equal(res.statusCode, 500, `${component}: the hog fails with 500`);
  }
  // The runtime itself takes several MiB, so under 16 MiB the small hog may never reach its first 8.
  t.ok(held('small') < 16, `the app's 16 MiB cap stopped the small one (${held('small')} MiB held)`);
  const oom = (component: string): number => logs.filter((l) => l.component === component && l.stream === 'stderr' && /out of memory/.test(String(l.msg))).length;
  t.equal(oom('small'), 2, 'both small hogs ran out of memory');
  t.equal(oom('big'), 1, 'the big hog ran out of memory too, further on');
  t.ok(held('big') >= 40 && held('big') < 64, `the component's 64 MiB cap, above the gateway's 32 MiB, let the big one go further (${held('big')} MiB held)`);
  t.equal((await gw.fastify.inject({ url: '/small/ok' })).statusCode, 200, 'a worker that ran a hog under another cap still serves');
});

t.test('bad spinet settings are manifest errors with the key and a fix', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[application.tool.spinet]\ndeadline_ms = "5s"\n', /application\.tool\.spinet\.deadline_ms: expected an integer from 1 to 3600000, found a string/],
    ['[application.tool.spinet]\ndeadline_ms = 0\n', /deadline_ms: expected an integer from 1/],
    ['[application.tool.spinet]\ntimeout = 5\n', /unknown key "timeout" in \[application\.tool\.spinet\]/],
    ['[application.tool.spinet]\nrate_limit = { per_seconds = 1 }\n', /rate_limit is missing "requests"/],
    ['[application.tool.spinet]\nrate_limit = 10\n', /rate_limit: expected a table/],
    ['[application.tool.spinet]\nmax_instance_memory = 65536\n', /max_instance_memory: expected an integer from 1048576 to 4294967296.*max_instance_memory = 134217728/s],
  ];
  for (const [extra, message] of cases) {
    const manifest = await app(t.testdir({}), `[application]\nname = "bad"\n${extra}[[trigger.http]]\nroute = "/..."\ncomponent = "echo"\n[component.echo]\nsource = ${echo}\n`);
    await t.rejects(testGateway(manifest), { code: 'SPINET_ERR_MANIFEST_INVALID', message }, extra.trim());
  }
  const comp = await app(t.testdir({}), `[application]\nname = "bad"\n[[trigger.http]]\nroute = "/..."\ncomponent = "echo"\n[component.echo]\nsource = ${echo}\n[component.echo.tool.spinet]\nrate_limit = { requests = 1 }\n`);
  await t.rejects(testGateway(comp), { message: /unknown key "rate_limit" in \[component\.echo\.tool\.spinet\]/ }, 'rate limits are per app, not per component');
});
