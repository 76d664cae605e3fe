/** The tenant registry: which app a request is for, claims, swaps and in-flight accounting. */
import t from 'tap';
import { TenantRegistry, hostName } from '../../server/tenants/tenant-registry.js';
import type { LoadedApp } from '../../server/tenants/loaded-app.js';

const fakeApp = (name: string): LoadedApp => ({ name }) as unknown as LoadedApp;

t.test('a single-app registry sends every host and path to its one app, with base path /', async (t) => {
  const reg = new TenantRegistry();
  const hello = fakeApp('hello');
  reg.replaceAll([hello]);
  for (const host of [undefined, 'anything.example', '127.0.0.1:3000', 'other.apps.test']) {
    t.same(reg.resolve(host, '/x/y'), { app: hello, basePath: '/', path: '/x/y' }, `host ${String(host)}`);
  }
  t.notOk(reg.multiTenant);
});

t.test('a single-app registry swapped with put serves the new app and returns the old one', async (t) => {
  const reg = new TenantRegistry();
  const v1 = fakeApp('hello');
  const v2 = fakeApp('renamed');
  reg.replaceAll([v1]);
  t.equal(reg.put(v2), v1);
  t.equal(reg.resolve('x', '/')?.app, v2);
  t.same(reg.list(), [v2]);
});

t.test('a multi-tenant registry finds apps by <app>.<base domain>, custom hosts and path prefixes', async (t) => {
  const reg = new TenantRegistry({ baseDomain: 'apps.test', pathPrefix: true });
  const shop = fakeApp('shop');
  const blog = fakeApp('blog');
  reg.put(shop, { hosts: ['Shop.Example.COM'] });
  reg.put(blog);
  const cases: Array<[string | undefined, string, LoadedApp | undefined, string, string]> = [
    ['shop.apps.test', '/cart', shop, '/', '/cart'],
    ['SHOP.apps.test:3000', '/cart', shop, '/', '/cart'],
    ['shop.apps.test.', '/', shop, '/', '/'],
    ['shop.example.com', '/a', shop, '/', '/a'],
    ['blog.apps.test', '/posts/1', blog, '/', '/posts/1'],
    ['127.0.0.1:3000', '/blog/posts/1', blog, '/blog', '/posts/1'],
    ['127.0.0.1:3000', '/blog', blog, '/blog', '/'],
    ['127.0.0.1:3000', '/blog/', blog, '/blog', '/'],
    [undefined, '/shop/cart?x=1', shop, '/shop', '/cart?x=1'],
  ];
  for (const [host, path, app, basePath, rest] of cases) {
    t.same(reg.resolve(host, path), { app, basePath, path: rest }, `${String(host)} ${path} → ${app?.name ?? 'none'}`);
  }
});

t.test('prefix and host tricks never reach an app other than the one the host names', async (t) => {
  const reg = new TenantRegistry({ baseDomain: 'apps.test', pathPrefix: true });
  const a = fakeApp('team-a');
  const b = fakeApp('team-b');
  reg.put(a, { hosts: ['a.example.com'] });
  reg.put(b);
  const cases: Array<[string, string | undefined, string, string | undefined]> = [
    ['A\'s host with B\'s prefix stays in A', 'team-a.apps.test', '/team-b/secret', 'team-a'],
    ['A\'s custom host with B\'s prefix stays in A', 'a.example.com', '/team-b/', 'team-a'],
    ['an unknown app under the base domain is not found, whatever the path', 'nobody.apps.test', '/team-b/x', undefined],
    ['a nested label under the base domain is not an app', 'x.team-b.apps.test', '/', undefined],
    ['an upper-case prefix is not an app', 'gw', '/TEAM-B/x', undefined],
    ['a percent-encoded prefix is not an app', 'gw', '/team%2Db/x', undefined],
    ['an empty first segment is not an app', 'gw', '//team-b/x', undefined],
    ['a dot segment is not an app', 'gw', '/./team-b/x', undefined],
    ['a prefix that only starts with the name is not the app', 'gw', '/team-bb/x', undefined],
    ['a host that only ends with the base domain is not under it', 'evilapps.test', '/', undefined],
    ['the base domain itself is not an app', 'apps.test', '/', undefined],
  ];
  for (const [why, host, path, want] of cases) t.equal(reg.resolve(host, path)?.app.name, want, why);
});

t.test('without path prefixes, an unclaimed host finds no app', async (t) => {
  const reg = new TenantRegistry({ baseDomain: 'apps.test', pathPrefix: false });
  reg.put(fakeApp('blog'));
  t.equal(reg.resolve('127.0.0.1', '/blog/x'), undefined);
  t.equal(reg.resolve('blog.apps.test', '/blog/x')?.path, '/blog/x');
});

t.test('conflicting and malformed claims are refused and change nothing', async (t) => {
  const reg = new TenantRegistry({ baseDomain: 'apps.test', pathPrefix: true });
  const shop = fakeApp('shop');
  reg.put(shop, { hosts: ['shop.example.com'] });
  const cases: Array<[string, string, string[], RegExp]> = [
    ['two apps on one host', 'other', ['shop.example.com'], /already claimed by app "shop"/],
    ['the same host spelled differently', 'other', ['SHOP.example.com.'], /already claimed by app "shop"/],
    ['a host under the base domain that names another app', 'other', ['shop.apps.test'], /reserved for the app named "shop"/],
    ['the base domain itself', 'other', ['apps.test'], /base domain/],
    ['a host with a port', 'other', ['x.example.com:80'], /not a host name/],
    ['a URL instead of a host', 'other', ['https://x.example.com'], /not a host name/],
    ['an upper-case app name', 'Other', [], /app name "Other" is not allowed/],
    ['an app name with a dot', 'a.b', [], /not allowed/],
    ['an app name with a slash', 'a/b', [], /not allowed/],
    ['an empty app name', '', [], /not allowed/],
    ['an app name ending in a dash', 'a-', [], /not allowed/],
  ];
  for (const [why, name, hosts, message] of cases) {
    t.throws(() => reg.put(fakeApp(name), { hosts }), { code: 'SPINET_ERR_TENANT_CONFLICT', message }, why);
  }
  t.same(reg.list(), [shop], 'the registry is unchanged');
  t.same(reg.hostsOf('shop'), ['shop.example.com']);
});

t.test('an app may keep, add and drop its own hosts on redeploy', async (t) => {
  const reg = new TenantRegistry({ baseDomain: 'apps.test', pathPrefix: false });
  const v1 = fakeApp('shop');
  const v2 = fakeApp('shop');
  reg.put(v1, { hosts: ['shop.example.com', 'shop.apps.test'] });
  t.equal(reg.put(v2, { hosts: ['www.shop.example'] }), v1, 'the old version is returned');
  t.equal(reg.resolve('shop.example.com', '/'), undefined, 'a dropped host is released');
  t.equal(reg.resolve('www.shop.example', '/')?.app, v2);
  reg.put(fakeApp('other'), { hosts: ['shop.example.com'] });
  t.equal(reg.resolve('shop.example.com', '/')?.app.name, 'other', 'and another app may claim it');
});

t.test('a removed app finds no requests, and its in-flight requests are counted until they leave', async (t) => {
  const reg = new TenantRegistry({ pathPrefix: true });
  const app = fakeApp('shop');
  reg.put(app);
  const leave1 = reg.enter(app);
  const leave2 = reg.enter(app);
  t.equal(reg.remove('shop'), app);
  t.equal(reg.resolve('gw', '/shop/'), undefined);
  let drained = false;
  const done = reg.drained(app).then(() => (drained = true));
  leave1();
  leave1();
  await new Promise((r) => setImmediate(r));
  t.notOk(drained, 'one request is still running (leaving twice counts once)');
  t.equal(reg.inFlight(app), 1);
  leave2();
  await done;
  t.ok(drained);
  t.equal(reg.inFlight(app), 0);
  await reg.drained(app);
  t.pass('an idle app is drained at once');
});

t.test('hostName lower-cases and drops ports and trailing dots', async (t) => {
  t.equal(hostName('Example.COM:8080'), 'example.com');
  t.equal(hostName('[::1]:3000'), '[::1]');
  t.equal(hostName('a.b.'), 'a.b');
  t.equal(hostName(undefined), '');
});
