/**
 * Spin's host capabilities end to end: a TypeScript guest (components/capabilities) using key-value,
 * variables, outbound HTTP and outbound Redis through the real backends (LMDB on disk, the Redis on
 * 127.0.0.1:6379, a local HTTP server), and every permission rule denying what the manifest does not grant.
 */
import t from 'tap';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { appDir, testGateway } from '../helpers/gateway.js';
import type { Gateway } from '../../server/app.js';

const REDIS = 'redis://127.0.0.1:6379';
const SECRET = `s3cret-${randomBytes(6).toString('hex')}`;
const manifest = path.join(appDir('components', 'capabilities'), 'spin.toml');

interface Answer {
  ok: boolean;
  value?: unknown;
  tag?: string;
  detail?: string | null;
}

async function json(gw: Gateway, url: string, init: { method?: 'GET' | 'POST' | 'PUT'; payload?: string | Buffer } = {}): Promise<Answer> {
  const res = await gw.fastify.inject({ method: init.method ?? 'GET', url, ...(init.payload !== undefined ? { payload: init.payload } : {}) });
  if (res.statusCode !== 200) throw new Error(`${url}: status ${res.statusCode}: ${res.body}`);
  return res.json<Answer>();
}

// ── a local upstream for outbound HTTP ──
const upstreamSeen: Array<{ method: string; url: string; fromGuest: string | undefined; bytes: number; sha256: string }> = [];
const upstream = http.createServer((req, res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    const seen = { method: req.method ?? '', url: req.url ?? '', fromGuest: req.headers['x-from-guest'] as string | undefined, bytes, sha256: hash.digest('hex') };
    upstreamSeen.push(seen);
    if (req.url === '/teapot') {
      res.writeHead(418, { 'content-type': 'text/plain' }).end('short and stout');
    } else if (req.url === '/slow') {
      // Three chunks 300 ms apart: a streaming gateway shows the first long before the last.
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const tick = (): void => {
        res.write(`chunk ${n}\n`);
        if (++n === 3) res.end();
        else setTimeout(tick, 300);
      };
      tick();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
    }
  });
});
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');
const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
t.teardown(() => upstream.close());

const stateDir = await mkdtemp(path.join(tmpdir(), 'spinet-caps-'));
t.teardown(() => rm(stateDir, { recursive: true, force: true }));

const logs: object[] = [];
const flags = { stateDir, variables: [`api_token=${SECRET}`, `upstream=${upstreamOrigin}`] };
let gw = await testGateway(manifest, {}, logs, { flags });
t.teardown(() => gw.close());

t.test('key-value: a counter in the embedded store, and every store operation', async (t) => {
  t.same((await json(gw, '/full/kv/count')).value, 1);
  t.same((await json(gw, '/full/kv/count')).value, 2);
  t.same((await json(gw, '/full/kv/count')).value, 3, 'each request is a fresh instance, the store remembers');

  t.same(await json(gw, '/full/kv/get/absent'), { ok: true, value: null }, 'a missing key is none, not an error');
  t.same((await json(gw, '/full/kv/exists/k1')).value, false);
  await json(gw, '/full/kv/set/k1', { method: 'POST', payload: 'value one' });
  await json(gw, '/full/kv/set/k%2Fslash', { method: 'POST', payload: 'v2' });
  t.same((await json(gw, '/full/kv/get/k1')).value, 'value one');
  t.same((await json(gw, '/full/kv/exists/k1')).value, true);
  t.same((await json(gw, '/full/kv/keys')).value, ['count', 'k/slash', 'k1']);
  await json(gw, '/full/kv/delete/k1');
  t.same((await json(gw, '/full/kv/get/k1')).value, null);
  t.same(await json(gw, '/full/kv/delete/k1'), { ok: true, value: null }, 'deleting an absent key is not an error');
  t.same((await json(gw, '/full/kv/keys')).value, ['count', 'k/slash']);
});

t.test('key-value: stores the manifest does not grant are access-denied', async (t) => {
  t.match(await json(gw, '/none/kv/count'), { ok: false, tag: 'access-denied' }, 'a component with no key_value_stores');
  t.match(await json(gw, '/full/kv/count?store=other'), { ok: false, tag: 'access-denied' }, 'a label not in key_value_stores');
});

t.test('variables: defaults, provided values, templates, and Spin error cases', async (t) => {
  t.same((await json(gw, '/full/var/greeting')).value, 'hello');
  t.same((await json(gw, '/full/var/token')).value, SECRET);
  t.same((await json(gw, '/full/var/endpoint')).value, `${upstreamOrigin}/v1`, 'a template mixing text and a variable');
  t.same((await json(gw, '/full/var/api_token')).value, null, 'app variables are not visible unless the component maps them');
  t.match(await json(gw, '/full/var/Bad-Name'), { ok: false, tag: 'invalid-name' });
  t.same((await json(gw, '/none/var/greeting')).value, null, 'another component does not see them');
});

t.test('secrets never reach the log, even when a guest prints them', async (t) => {
  const res = await gw.fastify.inject({ url: '/full/log/token' });
  t.equal(res.statusCode, 200);
  const text = JSON.stringify(logs);
  t.match(text, /variable token is \[redacted\]/, 'the guest line is logged, redacted');
  t.notOk(text.includes(SECRET), 'the secret value appears nowhere in the log');
});

t.test('outbound HTTP: method, headers and body reach an allowed host; status and body come back', async (t) => {
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const res = await gw.fastify.inject({ method: 'POST', url: `/full/fetch?url=${encodeURIComponent(`${upstreamOrigin}/echo?x=1`)}`, payload: body });
  t.equal(res.statusCode, 200, res.body.slice(0, 300));
  const seen = res.json<(typeof upstreamSeen)[number]>();
  t.same(seen, { method: 'POST', url: '/echo?x=1', fromGuest: 'capabilities', bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });

  const teapot = await gw.fastify.inject({ url: `/full/fetch?url=${encodeURIComponent(`${upstreamOrigin}/teapot`)}` });
  t.equal(teapot.statusCode, 418);
  t.equal(teapot.body, 'short and stout');
  t.equal(teapot.headers['x-upstream-status'], '418');
});

t.test('outbound HTTP: hosts not in allowed_outbound_hosts are denied, with a hint in the log', async (t) => {
  const before = upstreamSeen.length;
  const res = await gw.fastify.inject({ url: `/none/fetch?url=${encodeURIComponent(`${upstreamOrigin}/echo`)}` });
  t.equal(res.statusCode, 502);
  t.match(res.json(), { ok: false, tag: 'fetch-failed' });
  const other = await gw.fastify.inject({ url: `/full/fetch?url=${encodeURIComponent('http://127.0.0.2:1/x')}` });
  t.equal(other.statusCode, 502, 'same IP family, other host: denied too');
  t.equal(upstreamSeen.length, before, 'no request left the gateway');
  const hints = logs.filter((l) => /outbound http denied/.test((l as { msg?: string }).msg ?? '')).map((l) => (l as { msg: string }).msg);
  t.ok(
    hints.some((m) => m.includes(`add "${upstreamOrigin}" to component.none.allowed_outbound_hosts`)),
    `the log names the entry to add: ${JSON.stringify(hints)}`,
  );
});

t.test('outbound HTTP streams the response: the first chunk reaches the client before the upstream finishes', async (t) => {
  const address = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });
  const started = Date.now();
  const firstAt = await new Promise<{ first: number; end: number; text: string }>((resolve, reject) => {
    http
      .get(`${address}/full/fetch?url=${encodeURIComponent(`${upstreamOrigin}/slow`)}`, (res) => {
        let first = 0;
        let text = '';
        res.on('data', (c: Buffer) => {
          if (!first) first = Date.now() - started;
          text += c.toString();
        });
        res.on('end', () => resolve({ first, end: Date.now() - started, text }));
      })
      .on('error', reject);
  });
  t.equal(firstAt.text, 'chunk 0\nchunk 1\nchunk 2\n');
  t.ok(firstAt.end >= 550, `the upstream took its time (${firstAt.end} ms)`);
  t.ok(firstAt.first < firstAt.end - 400, `first bytes at ${firstAt.first} ms, end at ${firstAt.end} ms`);

  // `self`: http://self.alt/... (Spin 3's name for the app itself, for clients that need absolute URLs).
  const self = await fetch(`${address}/self/fetch?url=${encodeURIComponent('http://self.alt/full/var/greeting')}`);
  t.equal(self.status, 200);
  t.same(await self.json(), { ok: true, value: 'hello' }, 'a request to self.alt reaches the app when `self` is allowed');
  const notSelf = await fetch(`${address}/none/fetch?url=${encodeURIComponent('http://self.alt/full/var/greeting')}`);
  t.equal(notSelf.status, 502, 'and is denied without it');
});

t.test('outbound Redis: commands reach the real server', async (t) => {
  const redis = new Redis(REDIS);
  t.teardown(() => redis.quit());
  const key = `spinet-test-${randomBytes(6).toString('hex')}`;
  t.teardown(() => redis.del(key, `${key}-set`));
  const addr = encodeURIComponent(REDIS);

  t.same((await json(gw, `/full/redis/incr?addr=${addr}&key=${key}`)).value, 1);
  t.same((await json(gw, `/full/redis/incr?addr=${addr}&key=${key}`)).value, 2);
  t.equal(await redis.get(key), '2');
  await json(gw, `/full/redis/set?addr=${addr}&key=${key}&value=hi%20there`);
  t.same((await json(gw, `/full/redis/get?addr=${addr}&key=${key}`)).value, 'hi there');
  t.match(await json(gw, `/full/redis/incr?addr=${addr}&key=${key}`), { ok: false }, 'INCR on a non-number is an error, not a crash');

  t.same((await json(gw, `/full/redis/sadd?addr=${addr}&key=${key}-set&value=a,b,c`)).value, 3);
  t.same((await json(gw, `/full/redis/srem?addr=${addr}&key=${key}-set&value=b`)).value, 1);
  t.same((await json(gw, `/full/redis/smembers?addr=${addr}&key=${key}-set`)).value, ['a', 'c']);
  t.same((await json(gw, `/full/redis/del?addr=${addr}&key=${key},${key}-set`)).value, 2);

  t.same((await json(gw, `/full/redis/execute?addr=${addr}&cmd=SET&arg=${key}&arg=7`)).value, [{ tag: 'status', val: 'OK' }]);
  t.same((await json(gw, `/full/redis/execute?addr=${addr}&cmd=INCRBY&arg=${key}&arg=5`)).value, [{ tag: 'int64', val: 12 }]);
  t.same((await json(gw, `/full/redis/execute?addr=${addr}&cmd=GET&arg=${key}`)).value, [{ tag: 'binary', val: '12' }]);
  t.same((await json(gw, `/full/redis/execute?addr=${addr}&cmd=GET&arg=${key}-absent`)).value, [{ tag: 'nil' }]);
  t.match(await json(gw, `/full/redis/execute?addr=${addr}&cmd=SUBSCRIBE&arg=x`), { ok: false, tag: 'other', detail: /not available to guests/ }, 'commands that would hijack the shared connection are refused');

  const sub = new Redis(REDIS);
  t.teardown(() => sub.quit());
  const channel = `${key}-ch`;
  await sub.subscribe(channel);
  const got = once(sub, 'message');
  await json(gw, `/full/redis/publish?addr=${addr}&channel=${channel}&value=meow`);
  t.same(await got, [channel, 'meow'], 'a subscriber receives what the guest published');
});

t.test('outbound Redis: addresses not allowed are invalid-address', async (t) => {
  t.match(await json(gw, `/none/redis/open?addr=${encodeURIComponent(REDIS)}`), { ok: false, tag: 'invalid-address' });
  t.match(await json(gw, `/full/redis/open?addr=${encodeURIComponent('redis://127.0.0.1:6380')}`), { ok: false, tag: 'invalid-address' }, 'another port');
  t.match(await json(gw, '/full/redis/open?addr=not-a-url'), { ok: false, tag: 'invalid-address' });
  const hints = logs.map((l) => (l as { msg?: string }).msg ?? '').filter((m) => m.startsWith('outbound redis denied'));
  t.ok(hints.some((m) => m.includes('add "redis://127.0.0.1:6380" to component.full.allowed_outbound_hosts')), JSON.stringify(hints));
});

t.test('the embedded store survives a restart; another app sharing the state dir sees none of it', async (t) => {
  await gw.close();
  gw = await testGateway(manifest, {}, logs, { flags });
  t.same((await json(gw, '/full/kv/count')).value, 4, 'the count goes on after a restart');
  t.same((await json(gw, '/full/kv/get/k%2Fslash')).value, 'v2');

  const dir = await mkdtemp(path.join(tmpdir(), 'spinet-other-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const other = path.join(dir, 'spin.toml');
  await writeFile(
    other,
    `spin_manifest_version = 2\n[application]\nname = "another-app"\n[[trigger.http]]\nroute = "/full/..."\ncomponent = "full"\n` +
      `[component.full]\nsource = ${JSON.stringify(path.join(appDir('components', 'capabilities'), 'dist', 'capabilities.wasm'))}\nkey_value_stores = ["default"]\n`,
  );
  const gw2 = await testGateway(other, {}, undefined, { flags: { stateDir } });
  t.teardown(() => gw2.close());
  t.same((await json(gw2, '/full/kv/keys')).value, [], 'the other app starts with an empty default store');
  t.same((await json(gw2, '/full/kv/count')).value, 1);
  t.same((await json(gw, '/full/kv/count')).value, 5, 'and does not disturb the first app');
});

t.test('limits: a value over SPINET_KV_MAX_VALUE_BYTES is refused with the sizes', async (t) => {
  const small = await testGateway(manifest, { SPINET_KV_MAX_VALUE_BYTES: '1024' }, undefined, { flags });
  t.teardown(() => small.close());
  const r = await json(small, '/full/kv/set/big', { method: 'POST', payload: Buffer.alloc(2000, 1) });
  t.match(r, { ok: false, tag: 'other', detail: /2000 bytes; the limit is 1024 bytes/ });
  t.same((await json(small, '/full/kv/set/fits', { method: 'POST', payload: Buffer.alloc(1024, 1) })).ok, true, 'exactly the limit fits');
  const longKey = 'k'.repeat(1025);
  t.match(await json(small, `/full/kv/get/${longKey}`), { ok: false, tag: 'other', detail: /key is 1025 bytes; the limit is 1024/ });
});

t.test('a Redis-backed store chosen by a runtime config file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'spinet-rc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rc = path.join(dir, 'runtime-config.toml');
  await writeFile(rc, `[key_value_store.default]\ntype = "redis"\nurl = "${REDIS}/3"\n`);
  const gwr = await testGateway(manifest, {}, undefined, { flags: { ...flags, runtimeConfigFile: rc } });
  t.teardown(() => gwr.close());
  const key = `spinet-kv-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(`${REDIS}/3`);
  t.teardown(async () => {
    await redis.del(key);
    await redis.quit();
  });
  await json(gwr, `/full/kv/set/${key}`, { method: 'POST', payload: 'in redis' });
  t.equal(await redis.get(key), 'in redis', 'the value is in Redis database 3 under the key as written');
  t.same((await json(gwr, `/full/kv/get/${key}`)).value, 'in redis');
  t.ok(((await json(gwr, '/full/kv/keys')).value as string[]).includes(key));
  await json(gwr, `/full/kv/delete/${key}`);
  t.equal(await redis.exists(key), 0);
});

t.test('a required variable with no value fails start-up, naming it and how to set it', async (t) => {
  await t.rejects(testGateway(manifest, {}, undefined, { flags: { stateDir } }), { code: 'SPINET_ERR_VARIABLES', message: /api_token[\s\S]*SPIN_VARIABLE_API_TOKEN/ });
  const viaEnv = await testGateway(manifest, {}, undefined, { flags: { stateDir }, variableEnv: { SPIN_VARIABLE_API_TOKEN: 'from-env' } });
  t.teardown(() => viaEnv.close());
  t.same((await json(viaEnv, '/full/var/token')).value, 'from-env', 'SPIN_VARIABLE_<NAME> provides it');
});

t.test('a store label nothing defines is a start-up error', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'spinet-label-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'spin.toml');
  await writeFile(
    file,
    `spin_manifest_version = 2\n[application]\nname = "labels"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n` +
      `[component.c]\nsource = ${JSON.stringify(path.join(appDir('components', 'capabilities'), 'dist', 'capabilities.wasm'))}\nkey_value_stores = ["sessions"]\n`,
  );
  await t.rejects(testGateway(file, {}, undefined, { flags: { stateDir } }), { code: 'SPINET_ERR_CAPABILITY_CONFIG', message: /store "sessions" is not defined[\s\S]*\[key_value_store\.sessions\]/ });
});
