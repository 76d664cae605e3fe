/**
 * Outbound HTTP on the gateway side: real sockets, real failures, mapped to wasi:http error codes as a
 * guest sees them, and request bodies streamed with back-pressure.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { OutboundExchange, OutboundHttp, errorCodeOf } from '../../server/capabilities/outbound-http.js';
import { HostCallError } from '../../server/capabilities/host-session.js';

const client = new OutboundHttp({ connectTimeoutMs: 2000 });
t.teardown(() => client.close());

async function variantOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HostCallError) return err.variant;
    throw err;
  }
  throw new Error('expected a failure');
}

t.test('a closed port is connection-refused', async (t) => {
  // Bind and close a port so nothing listens on it.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  const ex = new OutboundExchange(client, { method: 'GET', url: `http://127.0.0.1:${port}/`, headers: [], hasBody: false });
  t.same(await variantOf(ex.response), { tag: 'connection-refused' });
});

t.test('an unknown host name is a DNS error', async (t) => {
  const ex = new OutboundExchange(client, { method: 'GET', url: 'http://no-such-host.invalid/', headers: [], hasBody: false });
  t.match(await variantOf(ex.response), { tag: 'DNS-error' });
});

t.test('first-byte and between-bytes timeouts from the request options', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/stall-body') {
      res.writeHead(200);
      res.write('first');
      return; // never ends
    }
    // /stall-head: never answers
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

  const head = new OutboundExchange(client, { method: 'GET', url: `${base}/stall-head`, headers: [], hasBody: false, firstByteTimeoutMs: 200 });
  t.same(await variantOf(head.response), { tag: 'HTTP-response-timeout' });

  const body = new OutboundExchange(client, { method: 'GET', url: `${base}/stall-body`, headers: [], hasBody: false, betweenBytesTimeoutMs: 200 });
  t.equal((await body.response).status, 200);
  t.equal(Buffer.from((await body.read())!).toString(), 'first');
  t.same(await variantOf(body.read()), { tag: 'connection-read-timeout' });
});

t.test('the request body streams with back-pressure, and the response head drops hop-by-hop headers', async (t) => {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.writeHead(201, { 'x-got': String(received), connection: 'keep-alive', 'keep-alive': 'timeout=5' }).end('done'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/upload`;
  const ex = new OutboundExchange(client, { method: 'PUT', url, headers: ['x-test', 'yes'], hasBody: true });
  let waited = 0;
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < 16; i++) {
    const p = ex.write(chunk);
    if (p) {
      waited++;
      await p;
    }
  }
  ex.finish();
  const res = await ex.response;
  t.equal(res.status, 201);
  const headers = new Map<string, string>();
  for (let i = 0; i < res.headers.length; i += 2) headers.set(res.headers[i]!, res.headers[i + 1]!);
  t.equal(headers.get('x-got'), String(16 * 256 * 1024), 'every byte arrived');
  t.notOk(headers.has('connection') || headers.has('keep-alive'), 'hop-by-hop headers are not passed on');
  t.ok(waited > 0, `writes waited for the client ${waited} times (back-pressure)`);
  t.equal(Buffer.from((await ex.read())!).toString(), 'done');
  t.equal(await ex.read(), null, 'then the end');
});

t.test('error mapping covers the codes guests act on', async (t) => {
  t.same(errorCodeOf({ code: 'ECONNRESET' }), { tag: 'connection-terminated' });
  t.same(errorCodeOf({ code: 'UND_ERR_CONNECT_TIMEOUT' }), { tag: 'connection-timeout' });
  t.same(errorCodeOf({ code: 'EHOSTUNREACH' }), { tag: 'destination-unavailable' });
  t.same(errorCodeOf({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'Hostname/IP does not match certificate' }), { tag: 'TLS-certificate-error' });
  t.same(errorCodeOf(new Error('something else')), { tag: 'internal-error', val: 'something else' });
});
