/**
 * Limits the core already enforces: the request body limit (413, declared or streamed) and the
 * bounded wait queue (503 with Retry-After when every worker is busy and the queue is full).
 */
import t from 'tap';
import http from 'node:http';
import { appDir, fire, testGateway } from '../helpers/gateway.js';

t.test('a declared body over the limit is refused with 413 before any guest runs', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'), { SPINET_MAX_BODY_BYTES: '1024' });
  t.teardown(() => gw.close());
  const r = await gw.fastify.inject({ method: 'POST', url: '/echo/x', payload: 'x'.repeat(2048) });
  t.equal(r.statusCode, 413);
  t.equal(r.body, '');
  const ok = await gw.fastify.inject({ method: 'POST', url: '/echo/x', payload: 'x'.repeat(1000) });
  t.equal(ok.statusCode, 200, 'a body under the limit passes');
  t.equal((JSON.parse(ok.body) as { bodyLength: number }).bodyLength, 1000);
});

t.test('a chunked body that grows past the limit is cut off with 413', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'), { SPINET_MAX_BODY_BYTES: '100000' });
  t.teardown(() => gw.close());
  const address = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${address}/echo/stream`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(-1) : reject(err)));
    const chunk = Buffer.alloc(16 * 1024, 'a');
    let sent = 0;
    const pump = (): void => {
      while (sent < 400_000) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  t.equal(status, 413);
  const after = await gw.fastify.inject({ method: 'GET', url: '/echo/after' });
  t.equal(after.statusCode, 200, 'the gateway keeps serving');
});

t.test('when every worker is busy and the queue is full, new requests get 503 with Retry-After', async (t) => {
  const gw = await testGateway(appDir('components', 'loop'), { SPINET_WORKERS: '1', SPINET_MAX_QUEUE: '1', SPINET_DEADLINE_MS: '1500' });
  t.teardown(() => gw.close());
  const busy = fire(gw, { method: 'GET', url: '/loop' });
  await new Promise((r) => setTimeout(r, 300)); // the loop owns the only worker
  const queued = fire(gw, { method: 'GET', url: '/' });
  await new Promise((r) => setTimeout(r, 50));
  const rejected = await gw.fastify.inject({ method: 'GET', url: '/' });
  t.equal(rejected.statusCode, 503);
  t.equal(rejected.headers['retry-after'], '1');
  t.equal(rejected.body, '');
  t.equal((await busy).statusCode, 504);
  t.equal((await queued).statusCode, 200, 'the queued request ran once the worker was freed');
});

t.test('a response body past the limit is cut off, and the gateway keeps serving', async (t) => {
  const gw = await testGateway(appDir('components', 'echo'), { SPINET_MAX_RESPONSE_BYTES: String(1024 * 1024) });
  t.teardown(() => gw.close());
  const address = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });
  const small = await fetch(`${address}/body/small`, { method: 'POST', body: Buffer.alloc(100_000, 'a') });
  t.equal(small.status, 200);
  t.equal((await small.arrayBuffer()).byteLength, 100_000, 'a response under the limit is whole');

  const big = Buffer.alloc(3 * 1024 * 1024, 'b');
  let received = 0;
  let status = 0;
  let failed = false;
  try {
    const res = await fetch(`${address}/body/big`, { method: 'POST', body: big });
    status = res.status;
    received = (await res.arrayBuffer()).byteLength;
  } catch {
    failed = true;
  }
  t.ok(status === 500 || failed, `the oversized response failed (status ${status}, body error ${failed})`);
  t.ok(received <= 1024 * 1024, `no more than the limit reached the client (${received} bytes)`);
  const after = await gw.fastify.inject({ method: 'GET', url: '/echo/after' });
  t.equal(after.statusCode, 200);
});
