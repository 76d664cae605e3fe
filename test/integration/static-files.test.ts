/**
 * spin-fileserver components are served natively (@fastify/static), with the fileserver's rules for
 * index files and fallbacks, HTTP caching and ranges, and no way out of the component's mounted files.
 */
import t from 'tap';
import path from 'node:path';
import { writeFile, mkdir, symlink } from 'node:fs/promises';
import { brotliCompressSync } from 'node:zlib';
import { testGateway } from '../helpers/gateway.js';
import { guestPathOf, servableGuestPath } from '../../server/plugins/static-files.js';

const FILESERVER = 'source = { url = "https://github.com/fermyon/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:' + 'ab'.repeat(32) + '" }';

async function site(root: string): Promise<string> {
  const files: Record<string, string | Buffer> = {
    'site/index.html': '<h1>home</h1>',
    'site/app.css': 'body { color: red }',
    'site/big.js': `console.log(${JSON.stringify('x'.repeat(5000))});`,
    'site/docs/index.html': '<h1>docs</h1>',
    'site/docs/page one.html': 'spaces',
    'site/secret.env': 'TOKEN=nope',
    'site/.hidden': 'dot',
    'site/.env': 'API_TOKEN=dotenv-secret',
    'site/.git/config': '[remote "origin"] url = git@example.com:secret.git',
    'site/.well-known/security.txt': 'Contact: mailto:security@example.com',
    'site/.well-known/.private': 'not for the public',
    'site/docs/.draft.html': 'unpublished',
    'spa/index.html': '<h1>spa shell</h1>',
    'spa/missing.html': '<h1>custom missing</h1>',
    'outside.txt': 'not mounted',
  };
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), body);
  }
  await writeFile(path.join(root, 'site/big.js.br'), brotliCompressSync(Buffer.from(files['site/big.js'] as string)));
  await symlink(path.join(root, 'outside.txt'), path.join(root, 'site', 'link-inside.txt'));
  const manifest = path.join(root, 'spin.toml');
  await writeFile(
    manifest,
    `spin_manifest_version = 2
[application]
name = "static"
[[trigger.http]]
route = "/..."
component = "files"
[[trigger.http]]
route = "/app/..."
component = "spa"
[[trigger.http]]
route = "/c/..."
component = "custom404"
[component.custom404]
${FILESERVER}
files = [{ source = "spa", destination = "/" }]
environment = { CUSTOM_404_PATH = "/missing.html" }
[component.files]
${FILESERVER}
files = [{ source = "site", destination = "/" }]
exclude_files = ["site/secret.env", "site/link-inside.txt"]
[component.spa]
${FILESERVER}
files = [{ source = "spa", destination = "/" }]
environment = { FALLBACK_PATH = "index.html", CACHE_CONTROL = "no-cache" }
`,
  );
  return manifest;
}

const gw = await testGateway(await site(t.testdir({})));
t.teardown(() => gw.close());

t.test('files, index.html for directories, content types and cache-control', async (t) => {
  const home = await gw.fastify.inject({ url: '/' });
  t.equal(home.statusCode, 200);
  t.equal(home.body, '<h1>home</h1>');
  t.match(home.headers['content-type'], /^text\/html/);
  t.equal(home.headers['cache-control'], 'max-age=60', "spin-fileserver's default");
  t.equal((await gw.fastify.inject({ url: '/docs' })).body, '<h1>docs</h1>', 'a directory without slash');
  t.equal((await gw.fastify.inject({ url: '/docs/' })).body, '<h1>docs</h1>', 'a directory with slash');
  const css = await gw.fastify.inject({ url: '/app.css' });
  t.match(css.headers['content-type'], /^text\/css/);
  t.equal((await gw.fastify.inject({ url: '/docs/page%20one.html' })).body, 'spaces', 'percent-encoded names are decoded');
  t.equal((await gw.fastify.inject({ url: '/.well-known/security.txt' })).body, 'Contact: mailto:security@example.com', '/.well-known/ is served');
  const missing = await gw.fastify.inject({ url: '/nope.html' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.body, 'Not Found');
  t.equal((await gw.fastify.inject({ method: 'POST', url: '/index.html' })).statusCode, 405);
  const head = await gw.fastify.inject({ method: 'HEAD', url: '/app.css' });
  t.equal(head.statusCode, 200);
  t.equal(head.body, '');
});

t.test('ETag and Last-Modified revalidate to 304; Range gives 206', async (t) => {
  const first = await gw.fastify.inject({ url: '/app.css' });
  const etag = first.headers.etag as string;
  t.ok(etag, 'an ETag');
  t.ok(first.headers['last-modified'], 'a Last-Modified');
  t.equal((await gw.fastify.inject({ url: '/app.css', headers: { 'if-none-match': etag } })).statusCode, 304);
  t.equal((await gw.fastify.inject({ url: '/app.css', headers: { 'if-modified-since': first.headers['last-modified'] as string } })).statusCode, 304);
  const part = await gw.fastify.inject({ url: '/app.css', headers: { range: 'bytes=0-3' } });
  t.equal(part.statusCode, 206);
  t.equal(part.body, 'body');
  t.equal(part.headers['content-range'], 'bytes 0-3/19');
});

t.test('precompressed siblings are used when the client accepts them', async (t) => {
  const br = await gw.fastify.inject({ url: '/big.js', headers: { 'accept-encoding': 'br, gzip' } });
  t.equal(br.statusCode, 200);
  t.equal(br.headers['content-encoding'], 'br');
  t.ok(br.rawPayload.length < 200, `compressed: ${br.rawPayload.length} bytes`);
  const plain = await gw.fastify.inject({ url: '/big.js' });
  t.equal(plain.headers['content-encoding'], undefined);
  t.ok(plain.body.length > 5000);
});

t.test('SPA fallback and CACHE_CONTROL from the component environment', async (t) => {
  const deep = await gw.fastify.inject({ url: '/app/some/client/route' });
  t.equal(deep.statusCode, 200);
  t.equal(deep.body, '<h1>spa shell</h1>');
  t.equal(deep.headers['cache-control'], 'no-cache');
});

t.test('CUSTOM_404_PATH is served for missing files, with status 404', async (t) => {
  const res = await gw.fastify.inject({ url: '/c/not/here' });
  t.equal(res.statusCode, 404, 'spin-fileserver says 200 here; a not-found page should say 404');
  t.equal(res.body, '<h1>custom missing</h1>');
  t.equal((await gw.fastify.inject({ url: '/c/' })).body, '<h1>spa shell</h1>');
});

t.test('hostile paths never reach a file outside the mount', async (t) => {
  const cases: Array<[string, number[]]> = [
    ['/../outside.txt', [404]],
    ['/..%2foutside.txt', [404]],
    ['/%2e%2e/outside.txt', [404]],
    ['/%2e%2e%2foutside.txt', [404]],
    ['/docs/../../outside.txt', [404]],
    ['/..%5coutside.txt', [400]],
    ['/docs%5c..%5c..%5coutside.txt', [400]],
    ['/index.html%00.css', [400]],
    ['/%00', [400]],
    ['/%', [400]],
    ['/%E0%A4%A', [400]],
    ['/secret.env', [404]],
    ['/link-inside.txt', [404]],
    ['/outside.txt', [404]],
    ['//outside.txt', [404]],
    // light-my-request resolves dot segments like any URL parser: these arrive as /index.html.
    ['/./index.html', [200, 404]],
    ['/docs/./index.html', [200, 404]],
    ['/spin.toml', [404]],
  ];
  for (const [url, statuses] of cases) {
    const res = await gw.fastify.inject({ url });
    t.ok(statuses.includes(res.statusCode), `${url} → ${res.statusCode}`);
    t.notMatch(res.body, /not mounted|TOKEN|spin_manifest_version/, `${url} leaks nothing`);
  }
});

t.test('mounted dotfiles and dot directories are withheld, except /.well-known/', async (t) => {
  for (const url of ['/.env', '/.hidden', '/.git/config', '/.git/', '/docs/.draft.html', '/.well-known/.private', '/%2eenv', '/.ENV']) {
    const res = await gw.fastify.inject({ url });
    t.equal(res.statusCode, 404, `${url} → 404`);
    t.notMatch(res.body, /dotenv-secret|secret\.git|unpublished|not for the public|dot$/, `${url} leaks nothing`);
  }
  t.equal((await gw.fastify.inject({ url: '/.well-known/security.txt' })).statusCode, 200);
  t.ok(servableGuestPath('/a/b.txt'));
  t.ok(servableGuestPath('/.well-known/acme-challenge/token'));
  t.ok(servableGuestPath('/a.b/c..d'), 'dots inside names are fine');
  t.notOk(servableGuestPath('/.env'));
  t.notOk(servableGuestPath('/assets/.cache/x.js'));
  t.notOk(servableGuestPath('/a/.well-known/x'), 'only a top-level .well-known is served');
  t.notOk(servableGuestPath('/.well-known/.x'));
});

t.test('loading a site that mounts dotfiles says which are withheld', async (t) => {
  const logs: Array<Record<string, unknown>> = [];
  const other = await testGateway(await site(t.testdir({})), {}, logs);
  t.teardown(() => other.close());
  const warned = logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('dotfile'));
  t.equal(warned.length, 1, 'one warning, for the one component that mounts dotfiles');
  t.match(warned[0], { level: 40, component: 'files', withheld: 5 });
  t.same([...(warned[0]!.examples as string[])].sort(), ['/.env', '/.git/config', '/.hidden', '/.well-known/.private', '/docs/.draft.html']);
  t.match(warned[0]!.msg, /component\.files mounts 5 dotfile\(s\).*not served.*\.well-known/);
  t.notMatch(JSON.stringify(logs), /dotenv-secret/, 'no file content reaches the log');
});

t.test('the path check itself refuses dot segments, NUL and backslashes that a raw request line could carry', async (t) => {
  t.same(guestPathOf('/./index.html'), { ok: false, status: 404 });
  t.same(guestPathOf('/a/../b'), { ok: false, status: 404 });
  t.same(guestPathOf('/a/%2e%2e/b'), { ok: false, status: 404 });
  t.same(guestPathOf('/a\\b'), { ok: false, status: 400 });
  t.same(guestPathOf('/a%00'), { ok: false, status: 400 });
  t.same(guestPathOf('/%zz'), { ok: false, status: 400 });
  t.same(guestPathOf(''), { ok: true, path: '/' });
  t.same(guestPathOf('/a//b'), { ok: true, path: '/a/b' });
});

t.test('static responses are counted in their own metric', async (t) => {
  await gw.fastify.inject({ url: '/' });
  const text = await gw.metrics.registry.metrics();
  t.match(text, /spinet_static_files_served_total\{app="static",component="files",status_class="2xx"\} \d+/);
});
