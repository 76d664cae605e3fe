/**
 * loadManifest on valid apps: a realistic manifest resolves to exactly the ResolvedApp the rest of
 * spinet consumes, and `files` / `exclude_files` mount exactly the files Spin would.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import type { MountedFile } from '../../server/manifest/types.js';
import { COMPONENT_BYTES, HEADER, helloManifest, lineContaining } from './manifest-fixtures.js';

const SHOP = `spin_manifest_version = 2

[application]
name = "shop"
version = "1.2.0"
authors = ["ops@example.com"]
description = "Storefront"

[application.trigger.redis]
address = "redis://{{ redis_host }}:6379"

[application.tool.lint]
level = "strict"

[variables]
redis_host   = { default = "localhost" }
api_token    = { required = true, secret = true, description = "API token" }
catalog_host = { default = "catalog.example.com" }

[[trigger.http]]
route = "/api/products/:id"
component = "products"

[[trigger.http]]
route = "/..."
component = "static"

[[trigger.http]]
route = "/old-home"
static_response = { status_code = 301, headers = { location = "/" } }

[[trigger.http]]
route = { private = true }          # only via http://internal.spin.internal
component = "internal"

[[trigger.redis]]
channel = "orders"
component = "order-worker"

[[trigger.redis]]
channel = "{{ redis_host }}-audit"
address = "redis://audit:6379"
component = "order-worker"

[component.products]
source = "products/target/products.wasm"
description = "Product API"
allowed_outbound_hosts = ["https://{{ catalog_host }}", "http://internal.spin.internal"]
key_value_stores = ["default", "user_sessions"]
variables = { token = "{{ api_token }}", catalog = "https://{{ catalog_host }}" }
environment = { LOG_LEVEL = "info" }
[component.products.build]
command = ["cargo build --release", "echo done"]
workdir = "products"
watch = ["src/**/*.rs", "Cargo.toml"]

[component.static]
source = { url = "https://github.com/spinframework/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:EF88708817E107BF49985C7CEFE4DD1F199BF26F6727819183D5C996BAA3D148" }
files = [{ source = "public", destination = "/" }, "robots.txt"]
exclude_files = ["public/**/*.map"]

[component.static.tool.lint]
enabled = true

[component.internal]
source = "../shared/internal.wasm"

[component.order-worker]
source = { registry = "ghcr.io", package = "shop:worker", version = "1.0.0" }
key_value_stores = ["default"]
`;

function guestPaths(files: readonly MountedFile[]): string[] {
  return files.map((f) => f.guestPath);
}

t.test('a realistic manifest resolves every field', async (t) => {
  const base = t.testdir({
    shop: {
      'spin.toml': SHOP,
      products: { target: { 'products.wasm': COMPONENT_BYTES } },
      public: { 'index.html': '<h1>shop</h1>', js: { 'app.js': 'x', 'app.js.map': '{}' } },
      'robots.txt': 'User-agent: *',
    },
    shared: { 'internal.wasm': COMPONENT_BYTES },
  });
  const root = realpathSync(path.join(base, 'shop'));
  const app = await loadManifest(path.join(base, 'shop'));

  t.equal(app.manifestPath, path.join(path.resolve(base), 'shop', 'spin.toml'));
  t.equal(app.root, root);
  t.equal(app.name, 'shop');
  t.equal(app.version, '1.2.0');
  t.equal(app.description, 'Storefront');
  t.same(app.authors, ['ops@example.com']);
  t.same(app.variables, {
    redis_host: { required: false, default: 'localhost', secret: false },
    api_token: { required: true, secret: true, description: 'API token' },
    catalog_host: { required: false, default: 'catalog.example.com', secret: false },
  });
  t.equal(app.redisAddress, 'redis://{{ redis_host }}:6379');
  t.same(app.warnings, []);

  t.strictSame(app.httpTriggers, [
    { index: 0, route: '/api/products/:id', component: 'products', line: lineContaining(SHOP, '[[trigger.http]]', 1) },
    { index: 1, route: '/...', component: 'static', line: lineContaining(SHOP, '[[trigger.http]]', 2) },
    {
      index: 2,
      route: '/old-home',
      staticResponse: { statusCode: 301, headers: { location: '/' } },
      line: lineContaining(SHOP, '[[trigger.http]]', 3),
    },
    { index: 3, route: { private: true }, component: 'internal', line: lineContaining(SHOP, '[[trigger.http]]', 4) },
  ]);
  t.strictSame(app.redisTriggers, [
    { index: 0, channel: 'orders', component: 'order-worker', line: lineContaining(SHOP, '[[trigger.redis]]', 1) },
    {
      index: 1,
      channel: '{{ redis_host }}-audit',
      component: 'order-worker',
      address: 'redis://audit:6379',
      line: lineContaining(SHOP, '[[trigger.redis]]', 2),
    },
  ]);

  t.same([...app.components.keys()], ['products', 'static', 'internal', 'order-worker'], 'components keep document order');

  const products = app.components.get('products');
  t.strictSame(products, {
    id: 'products',
    description: 'Product API',
    source: { kind: 'file', path: path.join(root, 'products', 'target', 'products.wasm') },
    files: [],
    excludeFiles: [],
    environment: { LOG_LEVEL: 'info' },
    allowedOutboundHosts: ['https://{{ catalog_host }}', 'http://internal.spin.internal'],
    keyValueStores: ['default', 'user_sessions'],
    sqliteDatabases: [],
    aiModels: [],
    variables: { token: '{{ api_token }}', catalog: 'https://{{ catalog_host }}' },
    build: {
      command: ['cargo build --release', 'echo done'],
      workdir: path.join(root, 'products'),
      watch: ['src/**/*.rs', 'Cargo.toml'],
    },
    line: lineContaining(SHOP, '[component.products]'),
  });

  const staticComponent = app.components.get('static');
  t.strictSame(
    staticComponent?.source,
    {
      kind: 'url',
      url: 'https://github.com/spinframework/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm',
      digest: 'sha256:ef88708817e107bf49985c7cefe4dd1f199bf26f6727819183d5c996baa3d148',
    },
    'URL sources pass through with the digest lower-cased',
  );
  t.strictSame(
    staticComponent?.files,
    [
      { guestPath: '/index.html', hostPath: path.join(root, 'public', 'index.html') },
      { guestPath: '/js/app.js', hostPath: path.join(root, 'public', 'js', 'app.js') },
      { guestPath: '/robots.txt', hostPath: path.join(root, 'robots.txt') },
    ],
    'the public directory is mounted at / without the excluded source map',
  );
  t.same(staticComponent?.excludeFiles, ['public/**/*.map']);

  t.strictSame(
    app.components.get('internal')?.source,
    { kind: 'file', path: path.join(path.dirname(root), 'shared', 'internal.wasm') },
    'a source outside the app root is allowed and made absolute',
  );
  t.strictSame(app.components.get('order-worker')?.source, {
    kind: 'registry',
    registry: 'ghcr.io',
    package: 'shop:worker',
    version: '1.0.0',
  });
});

t.test('the manifest file itself can be passed instead of its directory', async (t) => {
  const dir = t.testdir({ 'app.toml': helloManifest(), 'hello.wasm': COMPONENT_BYTES });
  const app = await loadManifest(path.join(dir, 'app.toml'));
  t.equal(app.manifestPath, path.resolve(dir, 'app.toml'));
  t.equal(app.components.get('hello')?.source.kind, 'file');
});

t.test('a plain directory in files mounts every file under it at its relative path', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = ["assets"]\n'),
    'hello.wasm': COMPONENT_BYTES,
    assets: { 'a.txt': 'a', '.hidden': 'h', deep: { 'b.txt': 'b' } },
    'other.txt': 'not mounted',
  });
  const app = await loadManifest(dir);
  const root = realpathSync(dir);
  t.strictSame(app.components.get('hello')?.files, [
    { guestPath: '/assets/.hidden', hostPath: path.join(root, 'assets', '.hidden') },
    { guestPath: '/assets/a.txt', hostPath: path.join(root, 'assets', 'a.txt') },
    { guestPath: '/assets/deep/b.txt', hostPath: path.join(root, 'assets', 'deep', 'b.txt') },
  ]);
});

t.test('a directory placement maps its contents under the destination', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = [{ source = "web/dist", destination = "/srv/www" }]\n'),
    'hello.wasm': COMPONENT_BYTES,
    web: { dist: { 'index.html': 'i', css: { 'site.css': 'c' } } },
  });
  const app = await loadManifest(dir);
  const root = realpathSync(dir);
  t.strictSame(app.components.get('hello')?.files, [
    { guestPath: '/srv/www/css/site.css', hostPath: path.join(root, 'web', 'dist', 'css', 'site.css') },
    { guestPath: '/srv/www/index.html', hostPath: path.join(root, 'web', 'dist', 'index.html') },
  ]);
});

t.test('a single-file placement is mounted at exactly its destination', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = [{ source = "config/prod.json", destination = "/etc/app.json" }]\n'),
    'hello.wasm': COMPONENT_BYTES,
    config: { 'prod.json': '{}' },
  });
  const app = await loadManifest(dir);
  t.strictSame(guestPaths(app.components.get('hello')?.files ?? []), ['/etc/app.json']);
});

t.test('a glob mounts only the matching files, keeping their relative paths', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = ["images/**/*.png"]\n'),
    'hello.wasm': COMPONENT_BYTES,
    images: { 'cat.png': 'p', 'cat.jpg': 'j', kittens: { 'small.png': 'p' } },
  });
  const app = await loadManifest(dir);
  t.strictSame(guestPaths(app.components.get('hello')?.files ?? []), ['/images/cat.png', '/images/kittens/small.png']);
});

t.test('exclude_files removes matches from globs and directory mounts, relative to the app root', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = ["static", { source = "static", destination = "/copy" }]\nexclude_files = ["static/secret/**", "*.map"]\n'),
    'hello.wasm': COMPONENT_BYTES,
    static: { 'app.js': 'x', 'app.js.map': '{}', secret: { 'key.pem': 'k' } },
  });
  const app = await loadManifest(dir);
  t.strictSame(guestPaths(app.components.get('hello')?.files ?? []), ['/copy/app.js', '/static/app.js']);
});

t.test('a file named explicitly is mounted even when exclude_files matches it, as in Spin', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = ["static/app.js.map", "static/**/*"]\nexclude_files = ["**/*.map"]\n'),
    'hello.wasm': COMPONENT_BYTES,
    static: { 'app.js': 'x', 'app.js.map': '{}' },
  });
  const app = await loadManifest(dir);
  t.strictSame(guestPaths(app.components.get('hello')?.files ?? []), ['/static/app.js', '/static/app.js.map']);
});

t.test('a symlink whose target stays inside the app root is mounted at its real path', async (t) => {
  const dir = t.testdir({
    'spin.toml': helloManifest('files = ["static/**/*"]\n'),
    'hello.wasm': COMPONENT_BYTES,
    shared: { 'logo.svg': '<svg/>' },
    static: { 'logo.svg': t.fixture('symlink', '../shared/logo.svg') },
  });
  const app = await loadManifest(dir);
  t.strictSame(app.components.get('hello')?.files, [
    { guestPath: '/static/logo.svg', hostPath: path.join(realpathSync(dir), 'shared', 'logo.svg') },
  ]);
});

t.test('an inline trigger component gets Spin\'s generated id', async (t) => {
  const toml = `${HEADER}
[[trigger.http]]
route = "/a"
component = { source = "hello.wasm" }

[[trigger.http]]
id = "admin"
route = "/admin/..."
component = { source = "hello.wasm", key_value_stores = ["default"] }
`;
  const dir = t.testdir({ 'spin.toml': toml, 'hello.wasm': COMPONENT_BYTES });
  const app = await loadManifest(dir);
  t.same(
    app.httpTriggers.map((trigger) => trigger.component),
    ['http-trigger1-component', 'admin-component'],
    'ids are <trigger-id>-component, with trigger ids generated as http-trigger<N>',
  );
  t.same(app.components.get('admin-component')?.keyValueStores, ['default']);
  t.equal(app.components.get('http-trigger1-component')?.line, lineContaining(toml, 'component = { source = "hello.wasm" }'));
});

t.test('non-fatal findings become warnings naming file, line and key', async (t) => {
  const toml = `${helloManifest('sqlite_databases = ["default"]\n', '\n[application.trigger.http]\nbase = "/"\n')}
[[trigger.http]]
route = "/hello"
static_response = { body = "shadowed" }
`;
  const dir = t.testdir({ 'spin.toml': toml, 'hello.wasm': COMPONENT_BYTES });
  const app = await loadManifest(dir);
  const file = path.join(dir, 'spin.toml');
  t.equal(app.warnings.length, 3, app.warnings.join('\n'));
  t.ok(
    app.warnings.some((w) => w.startsWith(`${file}:${lineContaining(toml, 'base = "/"')}: application.trigger.http.base: `)),
    'base = "/" warns',
  );
  t.ok(
    app.warnings.some((w) => w.startsWith(`${file}:${lineContaining(toml, 'route = "/hello"', 2)}: trigger.http[1].route: `) && w.includes('#1')),
    'a duplicate route warns at the later trigger and names the earlier one',
  );
  t.ok(app.warnings.some((w) => w.includes('component.hello.sqlite_databases') && w.includes('SQLite')), 'unprovided SQLite warns');
  t.same(app.components.get('hello')?.sqliteDatabases, ['default']);
});

t.test('a whole-directory glob warns but still mounts', async (t) => {
  const dir = t.testdir({ 'spin.toml': helloManifest('files = ["*"]\n'), 'hello.wasm': COMPONENT_BYTES, 'a.txt': 'a' });
  const app = await loadManifest(dir);
  t.strictSame(guestPaths(app.components.get('hello')?.files ?? []), ['/a.txt', '/hello.wasm', '/spin.toml']);
  t.match(app.warnings.join('\n'), /entire application directory.*"\.\/\*"/);
});

t.test('a UTF-8 byte order mark before the manifest is tolerated', async (t) => {
  const dir = t.testdir({ 'spin.toml': `\uFEFF${helloManifest()}`, 'hello.wasm': COMPONENT_BYTES });
  const app = await loadManifest(dir);
  t.equal(app.name, 'test-app');
});
