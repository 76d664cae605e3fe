/** Spin's request headers, from Spin's own header tests (crates/trigger-http/src/headers.rs). */
import t from 'tap';
import { buildRouteTable } from '../../server/routing/route-table.js';
import { buildSpinHeaders, isSpinHeader } from '../../server/routing/spin-headers.js';

function headersFor(route: string, pathAndQuery: string): Record<string, string> {
  const rt = buildRouteTable([{ route, target: { kind: 'component', component: 'c' }, triggerIndex: 0 }]);
  const match = rt.match(pathAndQuery.split('?')[0]!)!;
  return Object.fromEntries(buildSpinHeaders({ scheme: 'https', host: 'fermyon.dev', pathAndQuery, clientAddr: '127.0.0.1:8777', match }));
}

t.test('default headers for a wildcard route (test_default_headers)', async (t) => {
  t.same(headersFor('/foo/...', '/foo/bar?key1=value1&key2=value2'), {
    'spin-full-url': 'https://fermyon.dev/foo/bar?key1=value1&key2=value2',
    'spin-path-info': '/bar',
    'spin-matched-route': '/foo/...',
    'spin-base-path': '/',
    'spin-raw-component-route': '/foo/...',
    'spin-component-route': '/foo',
    'spin-client-addr': '127.0.0.1:8777',
  });
});

t.test('named wildcards add spin-path-match-<name> (test_default_headers_with_named_wildcards)', async (t) => {
  const h = headersFor('/foo/:userid/...', '/foo/42/bar?key1=value1');
  t.equal(h['spin-path-info'], '/bar');
  t.equal(h['spin-matched-route'], '/foo/:userid/...');
  t.equal(h['spin-component-route'], '/foo/:userid');
  t.equal(h['spin-path-match-userid'], '42');
});

t.test('parameter names map to header names lower-cased with - for _', async (t) => {
  const h = headersFor('/u/:User_Id', '/u/7');
  t.equal(h['spin-path-match-user-id'], '7');
});

t.test('spin-* header detection is case-insensitive and exact about the prefix', async (t) => {
  for (const yes of ['spin-full-url', 'Spin-Path-Info', 'SPIN-X', 'spin-']) t.ok(isSpinHeader(yes), yes);
  for (const no of ['spin', 'spinx-a', 'x-spin-a', 'spi-n', '']) t.notOk(isSpinHeader(no), no);
});
