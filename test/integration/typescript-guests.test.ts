/**
 * The TypeScript guests in components/ (built by componentize-js) served through the gateway:
 * isolation per request, the wasi:http round trip, Spin's headers, the environment and files
 * capabilities, and failures contained.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { appDir, fire, testGateway } from '../helpers/gateway.js';

t.test('hello answers every path with its greeting', async (t) => {
  const gw = await testGateway(appDir('components', 'hello'));
  t.teardown(() => gw.close());
  for (const url of ['/', '/anything/at/all?x=1']) {
    const r = await gw.fastify.inject({ method: 'GET', url });
    t.equal(r.statusCode, 200, url);
    t.equal(r.body, 'Hello from spinet!\n', url);
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  }
});

t.test('every request gets a fresh instance: a module-level counter reads 1 every time', async (t) => {
  const gw = await testGateway(appDir('components', 'counter'));
  t.teardown(() => gw.close());
  const sequential: string[] = [];
  for (let i = 0; i < 5; i++) sequential.push((await gw.fastify.inject({ method: 'GET', url: '/' })).body);
  t.same(sequential, ['1', '1', '1', '1', '1'], 'sequential requests on the same workers');
  const concurrent = await Promise.all(Array.from({ length: 12 }, () => gw.fastify.inject({ method: 'GET', url: '/' })));
  t.same(
    concurrent.map((r) => r.body),
    Array(12).fill('1'),
    'concurrent requests',
  );
});

t.test('echo round-trips method, path, query, headers and body', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'));
  t.teardown(() => gw.close());
  const body = 'some body bytes ✓';
  const r = await gw.fastify.inject({
    method: 'PUT',
    url: '/echo/a/b?x=1&y=two',
    payload: body,
    headers: { 'content-type': 'text/plain', 'x-custom': 'custom value', 'spin-full-url': 'http://spoofed/' },
  });
  t.equal(r.statusCode, 200);
  const seen = JSON.parse(r.body) as { method: string; path: string; query: string; headers: Record<string, string>; bodyLength: number; bodySha256: string };
  t.equal(seen.method, 'PUT');
  t.equal(seen.path, '/echo/a/b');
  t.equal(seen.query, '?x=1&y=two');
  t.equal(seen.headers['x-custom'], 'custom value');
  t.equal(seen.headers['content-type'], 'text/plain');
  t.equal(seen.bodyLength, Buffer.byteLength(body));
  t.equal(seen.bodySha256, createHash('sha256').update(body).digest('hex'));
  t.not(seen.headers['spin-full-url'], 'http://spoofed/', 'a client-sent spin-* header never reaches the guest');
  t.match(seen.headers['spin-full-url'], /^http:\/\/[^/]+\/echo\/a\/b\?x=1&y=two$/);
  t.notOk('connection' in seen.headers, 'hop-by-hop headers are not forwarded');
});

t.test('echo streams a large body back unchanged over a real socket', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'));
  t.teardown(() => gw.close());
  const address = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });
  const payload = randomBytes(6 * 1024 * 1024 + 123);
  const res = await fetch(`${address}/body/upload`, { method: 'POST', body: payload, headers: { 'content-type': 'application/x-test' } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/x-test');
  const back = Buffer.from(await res.arrayBuffer());
  t.equal(back.length, payload.length, 'same length');
  t.ok(back.equals(payload), 'same bytes');
});

t.test('echo sees the manifest environment and only its mounted files', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'));
  t.teardown(() => gw.close());
  const env = await gw.fastify.inject({ method: 'GET', url: '/env' });
  t.same(JSON.parse(env.body), { GREETING: 'hello from the manifest', SPINET_APP: 'echo' }, 'exactly the manifest environment, nothing from the host');
  const file = await gw.fastify.inject({ method: 'GET', url: '/files/hello.txt' });
  t.equal(file.statusCode, 200);
  t.equal(file.body, 'mounted file\n');
  const nested = await gw.fastify.inject({ method: 'GET', url: '/files/sub/nested.txt' });
  t.equal(nested.body, 'nested\n');
  for (const hostile of ['..%2Fspin.toml', '..%2F..%2Fpackage.json', '%2Fetc%2Fpasswd', 'sub%2F..%2F..%2Fspin.toml', 'missing.txt']) {
    const r = await gw.fastify.inject({ method: 'GET', url: `/files/${hostile}` });
    t.equal(r.statusCode, 404, `${decodeURIComponent(hostile)} is not reachable`);
    t.match(JSON.parse(r.body), { error: /no-entry|not-permitted/ }, `${decodeURIComponent(hostile)} fails with a WASI error code`);
  }
});

t.test('spin-headers shows Spin headers for wildcard, parameter and exact routes', async (t) => {
  const gw = await testGateway(appDir('components', 'spin-headers'));
  t.teardown(() => gw.close());
  const get = async (url: string): Promise<Record<string, string>> => JSON.parse((await gw.fastify.inject({ method: 'GET', url, headers: { host: 'example.test', 'Spin-Path-Info': 'spoofed' } })).body) as Record<string, string>;
  const w = await get('/headers/a/b?q=1');
  t.equal(w['spin-full-url'], 'http://example.test/headers/a/b?q=1');
  t.equal(w['spin-path-info'], '/a/b');
  t.equal(w['spin-matched-route'], '/headers/...');
  t.equal(w['spin-raw-component-route'], '/headers/...');
  t.equal(w['spin-component-route'], '/headers');
  t.equal(w['spin-base-path'], '/');
  t.match(w['spin-client-addr'], /^127\.0\.0\.1:\d+$/);
  const p = await get('/users/42/profile/');
  t.equal(p['spin-path-match-user-id'], '42');
  t.equal(p['spin-path-info'], '/profile/');
  t.equal(p['spin-component-route'], '/users/:user_id');
  const e = await get('/exact');
  t.equal(e['spin-path-info'], '');
  t.equal(e['spin-matched-route'], '/exact');
  t.equal((await gw.fastify.inject({ method: 'GET', url: '/nowhere' })).statusCode, 404, 'no route: 404');
});

t.test('a guest that throws, rejects, never responds or traps gets 500 with an empty body, and the next request is fine', async (t) => {
  const gw = await testGateway(appDir('components', 'trap'));
  t.teardown(() => gw.close());
  for (const url of ['/throw', '/reject', '/no-response', '/never-settles', '/trap']) {
    const r = await gw.fastify.inject({ method: 'GET', url });
    t.equal(r.statusCode, 500, url);
    t.equal(r.body, '', `${url} body is empty`);
  }
  const ok = await gw.fastify.inject({ method: 'GET', url: '/fine' });
  t.equal(ok.statusCode, 200);
  t.equal(ok.body, 'fine\n');
});

t.test('a TypeScript guest stuck in a loop gets 504 while the same app keeps serving', async (t) => {
  const gw = await testGateway(appDir('components', 'loop'), { SPINET_DEADLINE_MS: '3000' });
  t.teardown(() => gw.close());
  const finished: string[] = [];
  const loop = fire(gw, { method: 'GET', url: '/loop' }).then((r) => (finished.push('loop'), r));
  await new Promise((r) => setTimeout(r, 300)); // the loop is running on one worker
  const other = await fire(gw, { method: 'GET', url: '/' }).then((r) => (finished.push('other'), r));
  t.equal(other.statusCode, 200, 'a request next to the loop succeeds');
  t.equal(other.body, 'not looping\n');
  const r = await loop;
  t.same(finished, ['other', 'loop'], 'the healthy request did not wait for the loop to be stopped');
  t.equal(r.statusCode, 504);
  t.equal(r.body, '');
});
