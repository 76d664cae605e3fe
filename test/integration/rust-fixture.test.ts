/**
 * The gateway runs a component built by someone else (Rust, cargo-component, wasi:http 0.2.1 with mixed
 * 0.2.0/0.2.1 imports) unmodified, with Spin's routing built-ins around it.
 */
import t from 'tap';
import net from 'node:net';
import { appDir, testGateway } from '../helpers/gateway.js';

const HELLO = 'Hello, this is your first wasi:http/proxy world!\n';

t.test('the third-party Rust component answers GET with its documented body', async (t) => {
  const gw = await testGateway(appDir('fixtures', 'rust-hello'));
  t.teardown(() => gw.close());
  const res = await gw.fastify.inject({ method: 'GET', url: '/' });
  t.equal(res.statusCode, 200);
  t.equal(res.body, HELLO);

  t.test('any path under the /... wildcard reaches it, with any method', async (t) => {
    for (const [method, url] of [
      ['GET', '/some/deep/path?x=1'],
      ['POST', '/submit'],
      ['DELETE', '/x'],
    ] as const) {
      const r = await gw.fastify.inject({ method, url, payload: method === 'POST' ? 'ignored body' : undefined });
      t.equal(r.statusCode, 200, `${method} ${url}`);
      t.equal(r.body, HELLO, `${method} ${url} body`);
    }
  });

  t.test('the Spin health endpoint answers without touching the component', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/.well-known/spin/health' });
    t.equal(r.statusCode, 200);
    t.equal(r.body, 'OK');
  });

  t.test('the Spin info endpoint names the app and version', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/.well-known/spin/info' });
    t.equal(r.statusCode, 200);
    t.same(JSON.parse(r.body), { name: 'rust-hello', version: '1.0.0' });
  });

  t.test('other paths under /.well-known/spin/ are 404 even with a catch-all route', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/.well-known/spin/nope' });
    t.equal(r.statusCode, 404);
    t.equal(r.body, '');
  });

  t.test('a static_response route is served without instantiating anything', async (t) => {
    const r = await gw.fastify.inject({ method: 'GET', url: '/moved' });
    t.equal(r.statusCode, 301);
    t.equal(r.headers.location, '/');
    t.equal(r.body, 'moved\n');
  });

  t.test('an absolute-form request line is routed on its path, not on the whole URL', async (t) => {
    const address = new URL(await gw.fastify.listen({ host: '127.0.0.1', port: 0 }));
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(address.port), '127.0.0.1', () => s.write('GET http://elsewhere.example/moved HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let d = '';
      s.on('data', (c: Buffer) => (d += c.toString()));
      s.on('end', () => resolve(d));
      s.on('error', reject);
    });
    t.match(raw, /^HTTP\/1\.1 301 /);
    t.match(raw, /\r\n\r\nmoved\n$/);
  });

  t.test('fifty concurrent requests each get a correct answer', async (t) => {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => gw.fastify.inject({ method: 'GET', url: `/c/${i}` })));
    t.same(
      rs.map((r) => [r.statusCode, r.body]),
      rs.map(() => [200, HELLO]),
    );
  });
});
