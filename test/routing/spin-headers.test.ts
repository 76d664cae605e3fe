/** Spin's request headers, from Spin's own header tests (crates/trigger-http/src/headers.rs `mod tests`). */
import t from 'tap';
import { buildRouteTable } from '../../server/routing/route-table.js';
import { buildSpinHeaders, isSpinHeader, pathMatchHeaderName } from '../../server/routing/spin-headers.js';

function headersFor(route: string, pathAndQuery: string, basePath?: string): Array<readonly [string, string]> {
  const rt = buildRouteTable([{ route, target: { kind: 'component', component: 'c' }, triggerIndex: 0 }]);
  const q = pathAndQuery.indexOf('?');
  const match = rt.match(q === -1 ? pathAndQuery : pathAndQuery.slice(0, q));
  if (match === undefined) throw new Error(`${pathAndQuery} does not match ${route}`);
  return buildSpinHeaders({ scheme: 'https', host: 'fermyon.dev', pathAndQuery, clientAddr: '127.0.0.1:8777', match, ...(basePath === undefined ? {} : { basePath }) });
}

t.test('a wildcard route gets the default headers (test_default_headers)', async (t) => {
  t.same(headersFor('/foo/...', '/foo/bar?key1=value1&key2=value2'), [
    ['spin-path-info', '/bar'],
    ['spin-full-url', 'https://fermyon.dev/foo/bar?key1=value1&key2=value2'],
    ['spin-matched-route', '/foo/...'],
    ['spin-base-path', '/'],
    ['spin-raw-component-route', '/foo/...'],
    ['spin-component-route', '/foo'],
    ['spin-client-addr', '127.0.0.1:8777'],
  ]);
});

t.test('named wildcards add spin-path-match-<name> (test_default_headers_with_named_wildcards)', async (t) => {
  t.same(Object.fromEntries(headersFor('/foo/:userid/...', '/foo/42/bar?key1=value1&key2=value2')), {
    'spin-path-info': '/bar',
    'spin-full-url': 'https://fermyon.dev/foo/42/bar?key1=value1&key2=value2',
    'spin-matched-route': '/foo/:userid/...',
    'spin-base-path': '/',
    'spin-raw-component-route': '/foo/:userid/...',
    'spin-component-route': '/foo/:userid',
    'spin-client-addr': '127.0.0.1:8777',
    'spin-path-match-userid': '42',
  });
});

t.test('a base path prefixes the matched route (test_default_headers_with_base_path, Spin 2.7)', async (t) => {
  const h = Object.fromEntries(headersFor('/foo/...', '/foo/bar?key1=value1', '/base'));
  t.equal(h['spin-matched-route'], '/base/foo/...');
  t.equal(h['spin-base-path'], '/base');
  t.equal(h['spin-component-route'], '/foo');
  t.equal(h['spin-path-info'], '/bar');
  t.equal(Object.fromEntries(headersFor('/foo/...', '/foo/bar', '/base/'))['spin-matched-route'], '/base/foo/...', 'one trailing "/" of the base is dropped');
});

t.test('an exact route has empty path info and the root route an empty matched route, as in Spin', async (t) => {
  const exact = Object.fromEntries(headersFor('/hello', '/hello'));
  t.equal(exact['spin-path-info'], '');
  t.equal(exact['spin-component-route'], '/hello');
  const root = Object.fromEntries(headersFor('/', '/?x=1'));
  t.equal(root['spin-matched-route'], '');
  t.equal(root['spin-raw-component-route'], '/');
  t.equal(root['spin-full-url'], 'https://fermyon.dev/?x=1');
});

t.test('parameter names map to header names lower-cased with - for _', async (t) => {
  const h = headersFor('/u/:User_Id/:b', '/u/7/8');
  t.same(h.slice(7), [
    ['spin-path-match-user-id', '7'],
    ['spin-path-match-b', '8'],
  ]);
  t.equal(pathMatchHeaderName('A_b_C'), 'spin-path-match-a-b-c');
  t.equal(pathMatchHeaderName('A_b_C'), 'spin-path-match-a-b-c', 'the cached name is the same');
});

t.test('spin-* header detection is case-insensitive and exact about the prefix', async (t) => {
  for (const yes of ['spin-full-url', 'Spin-Path-Info', 'SPIN-X', 'spin-']) t.ok(isSpinHeader(yes), yes);
  for (const no of ['spin', 'spinx-a', 'x-spin-a', 'spi-n', 'spin_x', 'sp1n-x', '', 'Spin']) t.notOk(isSpinHeader(no), no);
});
