/**
 * Spin's router semantics, as tables: the cases of Spin's own router tests (crates/routes, see
 * reference/spin.md §2), the precedence rules derived from routefinder, and malformed routes.
 */
import t from 'tap';
import { buildRouteTable, sanitizeRoute } from '../../server/routing/route-table.js';
import type { RouteDeclaration, RouteTable } from '../../server/routing/route-table.js';

function table(routes: Array<[id: string, route: string | { private: true }]>): RouteTable {
  return buildRouteTable(routes.map(([id, route], i): RouteDeclaration => ({ route, target: { kind: 'component', component: id }, triggerIndex: i })));
}

function matchId(rt: RouteTable, path: string): string | undefined {
  const m = rt.match(path);
  return m && m.entry.target.kind === 'component' ? m.entry.target.component : undefined;
}

t.test('Spin router conformance cases pick the expected component', async (t) => {
  const cases: Array<{ name: string; routes: Array<[string, string]>; expect: Array<[string, string | undefined]> }> = [
    { name: 'exact routes (1)', routes: [['foo', '/foo'], ['foobar', '/foo/bar']], expect: [['/foo', 'foo'], ['/foo/bar', 'foobar']] },
    {
      name: 'wildcard catches everything (4)',
      routes: [['all', '/...']],
      expect: [['/foo/bar', 'all'], ['/abc/', 'all'], ['/', 'all'], ['/this/should/be/captured', 'all']],
    },
    {
      name: 'longest wildcard wins, declared short to long (6)',
      routes: [['one', '/one/...'], ['two', '/one/two/...'], ['three', '/one/two/three/...']],
      expect: [['/one/two/three/four', 'three'], ['/one/two/x', 'two'], ['/one/x', 'one']],
    },
    {
      name: 'longest wildcard wins, declared long to short (6)',
      routes: [['three', '/one/two/three/...'], ['two', '/one/two/...'], ['one', '/one/...']],
      expect: [['/one/two/three/four', 'three'], ['/one/two/x', 'two'], ['/one/x', 'one']],
    },
    { name: 'exact beats wildcard (7)', routes: [['wild', '/...'], ['one', '/one']], expect: [['/one', 'one'], ['/two', 'wild']] },
    { name: 'root exact beats root wildcard', routes: [['wild', '/...'], ['root', '/']], expect: [['/', 'root'], ['/x', 'wild']] },
    { name: 'left-most specificity: /a/... beats /:x/b', routes: [['param', '/:x/b'], ['wild', '/a/...']], expect: [['/a/b', 'wild'], ['/c/b', 'param']] },
    { name: '/foo/... beats /:id for /foo', routes: [['param', '/:id'], ['wild', '/foo/...']], expect: [['/foo', 'wild'], ['/bar', 'param']] },
    {
      name: 'when every compared segment ties, fewer segments win',
      routes: [['wild', '/:x/...'], ['param', '/:x']],
      expect: [['/a', 'param'], ['/a/b', 'wild']],
    },
    { name: 'a param takes exactly one non-empty segment', routes: [['p', '/files/:name']], expect: [['/files/a.txt', 'p'], ['/files', undefined], ['/files/a/b', undefined]] },
    { name: 'trailing slash on the request matches the exact route', routes: [['foo', '/foo']], expect: [['/foo/', 'foo'], ['/foo//', 'foo']] },
    { name: 'internal // is not collapsed', routes: [['fb', '/foo/bar']], expect: [['/foo//bar', undefined], ['/foo/bar', 'fb']] },
    { name: 'wildcard matches its own prefix', routes: [['h', '/hello/...']], expect: [['/hello', 'h'], ['/hello/wildcards/should/be/handled', 'h'], ['/thishsouldfail', undefined]] },
    { name: 'no match is undefined', routes: [['a', '/a']], expect: [['/b', undefined], ['/', undefined]] },
    { name: 'the raw path is matched: percent escapes are not decoded', routes: [['enc', '/a%20b']], expect: [['/a%20b', 'enc'], ['/a b', undefined]] },
  ];
  for (const c of cases) {
    const rt = table(c.routes);
    for (const [path, id] of c.expect) t.equal(matchId(rt, path), id, `${c.name}: ${path}`);
  }
});

t.test('trailing wildcard path info follows Spin (15, 16)', async (t) => {
  const cases: Array<[route: string, path: string, info: string]> = [
    ['/...', '/1/2/3', '/1/2/3'],
    ['/1/...', '/1/2/3', '/2/3'],
    ['/test/...', '/test', ''],
    ['/test/...', '/test/', '/'],
    ['/test/...', '/test/hello', '/hello'],
    ['/test/...', '/test/hello/', '/hello/'],
    ['/...', '/', '/'],
    ['/users/:userid/...', '/users/42', ''],
    ['/users/:userid/...', '/users/42/', '/'],
    ['/users/:userid/...', '/users/42/hello', '/hello'],
    ['/users/:userid/...', '/users/42/hello/', '/hello/'],
    ['/exact', '/exact', ''],
  ];
  for (const [route, path, info] of cases) {
    const m = table([['c', route]]).match(path);
    t.equal(m?.pathInfo, info, `${route} + ${path}`);
  }
});

t.test('named wildcards are captured (17)', async (t) => {
  for (const route of ['/1/:two/3', '/1/:two/...']) {
    const m = table([['c', route]]).match('/1/2/3');
    t.same(m?.params, [['two', '2']], route);
  }
  const m = table([['c', '/files/:name']]).match('/files/a.txt');
  t.same(m?.params, [['name', 'a.txt']], 'dots are part of a parameter');
});

t.test('component routes drop the trailing wildcard, matched routes keep it', async (t) => {
  const cases: Array<[route: string, path: string, component: string]> = [
    ['/foo/...', '/foo/bar', '/foo'],
    ['/foo/:userid/...', '/foo/42/bar', '/foo/:userid'],
    ['/...', '/x', ''],
    ['/exact', '/exact', '/exact'],
  ];
  for (const [route, path, componentRoute] of cases) {
    const m = table([['c', route]]).match(path);
    t.equal(m?.componentRoute, componentRoute, `${route} component route`);
    t.equal(m?.matchedRoute, route, `${route} matched route`);
    t.equal(m?.rawComponentRoute, route, `${route} raw route`);
  }
});

t.test('sensible routes are all reachable, in manifest order (8, 9)', async (t) => {
  const rt = table([['root', '/'], ['foo', '/foo'], ['bar', '/bar'], ['whee', '/whee/...']]);
  t.same(
    rt.routes().map((r) => r.pattern),
    ['/', '/foo', '/bar', '/whee/...'],
  );
  t.equal(rt.duplicates().length, 0);
});

t.test('duplicate routes: the last declaration wins and the first is reported (10, 11, 12)', async (t) => {
  const rt = table([['root', '/'], ['first', '/foo'], ['second', '/foo'], ['whee', '/whee/...']]);
  t.equal(rt.routes().length, 3);
  t.equal(matchId(rt, '/foo'), 'second');
  t.same(rt.duplicates(), [{ pattern: '/foo', replacedTriggerIndex: 1, effectiveTriggerIndex: 2 }]);
  t.match(rt.warnings().join('\n'), /"\/foo".*later one wins/);
  const pairs = table([['a1', '/'], ['a2', '/'], ['b1', '/foo'], ['b2', '/foo'], ['c1', '/...'], ['c2', '/...'], ['d1', '/whee/...'], ['d2', '/whee/...']]);
  t.same(
    pairs.duplicates().map((d) => d.pattern),
    ['/', '/foo', '/...', '/whee/...'],
  );
  t.equal(matchId(pairs, '/whee/x'), 'd2');
  t.equal(matchId(pairs, '/'), 'a2');
});

t.test('private routes are not routable (13)', async (t) => {
  const rt = table([['root', '/'], ['foo', '/foo'], ['internal', { private: true }], ['whee', '/whee/...']]);
  t.equal(rt.routes().length, 3);
  t.notOk(rt.routes().some((r) => r.target.kind === 'component' && r.target.component === 'internal'));
});

t.test('routes under /.well-known/spin/ are reserved and never routed (18, 19)', async (t) => {
  const rt = table([['r1', '/.well-known/spin/...'], ['r2', '/.well-known/spin/fie'], ['ok1', '/.well-known/spindle/...'], ['ok2', '/.well-known/spin']]);
  t.same(
    rt.routes().map((r) => r.pattern),
    ['/.well-known/spindle/...', '/.well-known/spin'],
  );
  t.equal(rt.warnings().length, 2);
  t.equal(matchId(rt, '/.well-known/spin/fie'), undefined);
});

t.test('static responses route like components (2)', async (t) => {
  const rt = buildRouteTable([
    { route: '/foo', target: { kind: 'component', component: 'compy' }, triggerIndex: 0 },
    { route: '/foo/bar', target: { kind: 'static', triggerIndex: 1 }, triggerIndex: 1 },
  ]);
  t.same(rt.match('/foo/bar')?.entry.target, { kind: 'static', triggerIndex: 1 });
  t.same(rt.match('/foo')?.entry.target, { kind: 'component', component: 'compy' });
});

t.test('routes are sanitised like Spin: leading / added, one trailing / dropped, /* is /...', async (t) => {
  t.equal(sanitizeRoute('foo'), '/foo');
  t.equal(sanitizeRoute('/foo/'), '/foo');
  t.equal(sanitizeRoute('/'), '/');
  t.equal(sanitizeRoute('/users/*'), '/users/...');
  t.equal(matchId(table([['c', '/users/*']]), '/users/1/2'), 'c');
});

t.test('malformed routes are refused with a fix', async (t) => {
  const bad: Array<[route: string, why: RegExp]> = [
    ['/a/.../b', /wildcard .* before its end/],
    ['/a/*/b', /wildcard .* before its end/],
    ['/a/:/b', /invalid parameter/],
    ['/a/:1x', /invalid parameter/],
    ['/a//b', /empty segment/],
    ['/a b', /characters that cannot appear/],
    ['/a?b=c', /characters that cannot appear/],
    ['/a#frag', /characters that cannot appear/],
    ['/files...', /wildcard inside the segment/],
    ['/:id/:id', /twice/],
    ['', /empty/],
  ];
  for (const [route, why] of bad) {
    t.throws(() => table([['c', route]]), { code: 'SPINET_ERR_ROUTE_INVALID', message: why }, JSON.stringify(route));
  }
});
