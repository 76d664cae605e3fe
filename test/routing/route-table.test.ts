/**
 * Spin's router semantics as tables: the cases of Spin's own router tests (crates/routes
 * `mod route_tests`, numbered as in reference/spin.md §2), the end-to-end routing test at route-table
 * level, the precedence rules derived from routefinder 0.5.4, path normalisation, and malformed routes.
 */
import t from 'tap';
import type { Test } from 'tap';
import { buildRouteTable, isReservedRoute, sanitizeRoute } from '../../server/routing/route-table.js';
import type { RouteDeclaration, RouteTable } from '../../server/routing/route-table.js';

type Route = string | { private: true };

function table(routes: Array<[id: string, route: Route]>): RouteTable {
  return buildRouteTable(routes.map(([id, route], i): RouteDeclaration => ({ route, target: { kind: 'component', component: id }, triggerIndex: i })));
}

function idOf(rt: RouteTable, path: string): string | undefined {
  const m = rt.match(path);
  if (m === undefined) return undefined;
  return m.entry.target.kind === 'component' ? m.entry.target.component : `static#${m.entry.target.triggerIndex}`;
}

function ids(rt: RouteTable): string[] {
  return rt.routes().map((r) => (r.target.kind === 'component' ? r.target.component : `static#${r.target.triggerIndex}`));
}

type Case = { name: string; routes: Array<[string, string]>; expect: Array<[path: string, id: string | undefined]> };

function runCases(t: Test, cases: Case[]): void {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const rt = table(c.routes);
      for (const [path, id] of c.expect) t.equal(idOf(rt, path), id, `${path} → ${id ?? 'no match'}`);
    });
  }
}

t.test("Spin's router tests pick the expected route", async (t) => {
  runCases(t, [
    { name: 'exact routes match exactly (1)', routes: [['foo', '/foo'], ['foobar', '/foo/bar']], expect: [['/foo', 'foo'], ['/foo/bar', 'foobar'], ['/foo/baz', undefined]] },
    {
      name: 'the root wildcard catches everything (4)',
      routes: [['all', '/...']],
      expect: [['/foo/bar', 'all'], ['/abc/', 'all'], ['/', 'all'], ['/this/should/be/captured?abc=def', 'all']],
    },
    {
      name: 'the longest wildcard wins, declared short to long (6)',
      routes: [['one_wildcard', '/one/...'], ['onetwo_wildcard', '/one/two/...'], ['onetwothree_wildcard', '/one/two/three/...']],
      expect: [['/one/two/three/four', 'onetwothree_wildcard'], ['/one/two/x', 'onetwo_wildcard'], ['/one/x', 'one_wildcard'], ['/two', undefined]],
    },
    {
      name: 'the longest wildcard wins, declared long to short (6)',
      routes: [['onetwothree_wildcard', '/one/two/three/...'], ['onetwo_wildcard', '/one/two/...'], ['one_wildcard', '/one/...']],
      expect: [['/one/two/three/four', 'onetwothree_wildcard'], ['/one/two/x', 'onetwo_wildcard'], ['/one/x', 'one_wildcard']],
    },
    { name: 'exact beats wildcard (7)', routes: [['one_exact', '/one'], ['wildcard', '/...']], expect: [['/one', 'one_exact'], ['/two', 'wildcard']] },
    { name: 'exact beats wildcard whatever the declaration order (7)', routes: [['wildcard', '/...'], ['one_exact', '/one']], expect: [['/one', 'one_exact'], ['/two', 'wildcard']] },
  ]);
});

t.test('static responses route like components (2)', async (t) => {
  const rt = buildRouteTable([
    { route: '/foo', target: { kind: 'component', component: 'compy' }, triggerIndex: 0 },
    { route: '/foo/bar', target: { kind: 'static', triggerIndex: 1 }, triggerIndex: 1 },
  ]);
  t.same(rt.match('/foo')?.entry.target, { kind: 'component', component: 'compy' });
  t.same(rt.match('/foo/bar')?.entry.target, { kind: 'static', triggerIndex: 1 });
});

t.test('precedence derived from routefinder picks the most specific route', async (t) => {
  runCases(t, [
    { name: '/ beats /... for /', routes: [['wild', '/...'], ['root', '/']], expect: [['/', 'root'], ['/x', 'wild']] },
    { name: 'the left-most specific segment decides: /a/... beats /:x/b for /a/b', routes: [['param', '/:x/b'], ['wild', '/a/...']], expect: [['/a/b', 'wild'], ['/c/b', 'param']] },
    { name: '/foo/... beats /:id for /foo', routes: [['param', '/:id'], ['wild', '/foo/...']], expect: [['/foo', 'wild'], ['/bar', 'param']] },
    { name: 'exact beats a param', routes: [['param', '/users/:id'], ['me', '/users/me']], expect: [['/users/me', 'me'], ['/users/42', 'param']] },
    { name: 'a param beats a wildcard', routes: [['wild', '/users/...'], ['param', '/users/:id']], expect: [['/users/42', 'param'], ['/users/42/x', 'wild'], ['/users', 'wild']] },
    { name: 'when every compared segment ties, fewer segments win', routes: [['wild', '/:x/...'], ['param', '/:x']], expect: [['/a', 'param'], ['/a/b', 'wild']] },
    { name: 'an exact route beats a wildcard over the same prefix', routes: [['wild', '/api/...'], ['api', '/api']], expect: [['/api', 'api'], ['/api/', 'api'], ['/api/x', 'wild']] },
    {
      name: 'a longer literal prefix beats an earlier param',
      routes: [['p', '/:a/:b/...'], ['lit', '/x/y/...']],
      expect: [['/x/y/z', 'lit'], ['/x/q/z', 'p']],
    },
    {
      name: 'routes that tie on every segment keep declaration order',
      routes: [['first', '/:a/x'], ['second', '/:b/x']],
      expect: [['/q/x', 'first']],
    },
  ]);
});

t.test('request paths are normalised like routefinder 0.5.4', async (t) => {
  runCases(t, [
    { name: 'a trailing slash on the request matches the exact route', routes: [['foo', '/foo']], expect: [['/foo/', 'foo'], ['/foo//', 'foo']] },
    { name: 'leading slashes are trimmed', routes: [['foo', '/foo']], expect: [['//foo', 'foo']] },
    { name: 'an internal // is not collapsed', routes: [['fb', '/foo/bar']], expect: [['/foo//bar', undefined], ['/foo/bar', 'fb']] },
    { name: 'an internal // does not give a param an empty value', routes: [['p', '/a/:x/b']], expect: [['/a//b', undefined], ['/a/x/b', 'p']] },
    { name: 'a param takes exactly one non-empty segment, dots included', routes: [['p', '/files/:name']], expect: [['/files/a.txt', 'p'], ['/files', undefined], ['/files/', undefined], ['/files/a/b', undefined]] },
    { name: 'a wildcard matches its own prefix but not a longer segment', routes: [['h', '/hello/...']], expect: [['/hello', 'h'], ['/hello/wildcards/should/be/handled', 'h'], ['/helloworld', undefined], ['/thishsouldfail', undefined]] },
    { name: 'the raw path is matched: percent escapes are not decoded', routes: [['enc', '/a%20b']], expect: [['/a%20b', 'enc'], ['/a b', undefined]] },
    { name: 'literals are case-sensitive', routes: [['foo', '/foo']], expect: [['/FOO', undefined]] },
    { name: 'no match is undefined', routes: [['a', '/a']], expect: [['/b', undefined], ['/', undefined], ['/a/b', undefined]] },
  ]);
  t.test('an empty table matches nothing', async (t) => {
    t.equal(table([]).match('/'), undefined);
  });
});

t.test('a trailing wildcard captures the rest of the path with its slashes (15, 16, test_http_routing)', async (t) => {
  const cases: Array<[route: string, path: string, pathInfo: string]> = [
    ['/...', '/1/2/3', '/1/2/3'],
    ['/1/...', '/1/2/3', '/2/3'],
    ['/test/...', '/test', ''],
    ['/test/...', '/test/', '/'],
    ['/test/...', '/test/hello', '/hello'],
    ['/test/...', '/test/hello/', '/hello/'],
    ['/...', '/', '/'],
    ['/...', '/a', '/a'],
    ['/test/...', '/test//hello', '//hello'],
    ['/test/...', '/test/hello//', '/hello/'],
    ['/test/...', '//test/hello', '/hello'],
    ['/users/:userid/...', '/users/42', ''],
    ['/users/:userid/...', '/users/42/', '/'],
    ['/users/:userid/...', '/users/42/hello', '/hello'],
    ['/users/:userid/...', '/users/42/hello/', '/hello/'],
    ['/exact', '/exact', ''],
    ['/exact', '/exact/', ''],
    ['/:p', '/x', ''],
  ];
  for (const [route, path, pathInfo] of cases) {
    const m = table([['c', route]]).match(path);
    t.equal(m?.pathInfo, pathInfo, `${route} + ${path} → ${JSON.stringify(pathInfo)}`);
  }
});

t.test('test_http_routing: /users/:userid/... gives userid and path info', async (t) => {
  const rt = table([['echo', '/users/:userid/...']]);
  for (const [path, expected] of [
    ['/users/42', '42:'],
    ['/users/42/', '42:/'],
    ['/users/42/hello', '42:/hello'],
    ['/users/42/hello/', '42:/hello/'],
  ] as const) {
    const m = rt.match(path);
    const userid = m?.params.find(([name]) => name === 'userid')?.[1];
    t.equal(m === undefined ? undefined : `${userid}:${m.pathInfo}`, expected, path);
  }
  t.equal(rt.match('/users'), undefined, 'the param segment is required');
});

t.test('test_static_response: static routes sit beside a catch-all', async (t) => {
  const rt = buildRouteTable([
    { route: '/users/:userid/...', target: { kind: 'component', component: 'echo' }, triggerIndex: 0 },
    { route: '/...', target: { kind: 'static', triggerIndex: 1 }, triggerIndex: 1 },
    { route: '/default-code', target: { kind: 'static', triggerIndex: 2 }, triggerIndex: 2 },
    { route: '/bob', target: { kind: 'static', triggerIndex: 3 }, triggerIndex: 3 },
  ]);
  t.equal(idOf(rt, '/users/42'), 'echo');
  t.equal(idOf(rt, '/default-code'), 'static#2');
  t.equal(idOf(rt, '/non-existtent'), 'static#1');
  t.equal(idOf(rt, '/bob'), 'static#3');
});

t.test('named wildcards are captured (17)', async (t) => {
  for (const route of ['/1/:two/3', '/1/:two/...']) {
    t.same(table([['c', route]]).match('/1/2/3')?.params, [['two', '2']], route);
  }
  t.same(table([['c', '/files/:name']]).match('/files/a.txt')?.params, [['name', 'a.txt']], 'dots are part of a parameter');
  t.same(table([['c', '/:a/x/:b/...']]).match('/1/x/2/3/4')?.params, [['a', '1'], ['b', '2']], 'several params come in pattern order');
  t.same(table([['c', '/x/...']]).match('/x/y')?.params, [], 'routes without params capture nothing');
});

t.test('matched, raw and component routes follow Spin', async (t) => {
  const cases: Array<[route: string, path: string, matched: string, raw: string, component: string]> = [
    ['/foo/...', '/foo/bar', '/foo/...', '/foo/...', '/foo'],
    ['/foo/:userid/...', '/foo/42/bar', '/foo/:userid/...', '/foo/:userid/...', '/foo/:userid'],
    ['/...', '/x', '/...', '/...', ''],
    ['/exact', '/exact', '/exact', '/exact', '/exact'],
    ['/', '/', '', '/', '/'],
    ['foo', '/foo', '/foo', 'foo', 'foo'],
    ['/foo/', '/foo', '/foo', '/foo/', '/foo/'],
    ['/users/*', '/users/1', '/users/*', '/users/*', '/users/*'],
  ];
  for (const [route, path, matched, raw, component] of cases) {
    const m = table([['c', route]]).match(path);
    t.equal(m?.matchedRoute, matched, `${route}: matched route`);
    t.equal(m?.rawComponentRoute, raw, `${route}: raw component route`);
    t.equal(m?.componentRoute, component, `${route}: component route`);
  }
});

t.test('sensible routes are all reachable (8)', async (t) => {
  const rt = table([['/', '/'], ['/foo', '/foo'], ['/bar', '/bar'], ['/whee/...', '/whee/...']]);
  t.equal(rt.routes().length, 4);
  t.equal(rt.duplicates().length, 0);
  t.same(rt.warnings(), []);
});

t.test('reachable routes keep manifest order (9)', async (t) => {
  const rt = table([['comp-/whee/...', '/whee/...'], ['comp-/', '/'], ['comp-/foo', '/foo'], ['comp-/bar', '/bar']]);
  t.same(ids(rt), ['comp-/whee/...', 'comp-/', 'comp-/foo', 'comp-/bar']);
  t.same(
    rt.routes().map((r) => r.pattern),
    ['/whee/...', '/', '/foo', '/bar'],
  );
});

t.test('duplicate routes are unreachable (10)', async (t) => {
  const rt = table([['comp-/', '/'], ['comp-first /foo', '/foo'], ['comp-second /foo', '/foo'], ['comp-/whee/...', '/whee/...']]);
  t.equal(rt.routes().length, 3);
  t.equal(rt.duplicates().length, 1);
});

t.test('for duplicate routes the last declaration wins, in the first one’s slot (11)', async (t) => {
  const rt = table([['comp-/', '/'], ['comp-first /foo', '/foo'], ['comp-second /foo', '/foo'], ['comp-/whee/...', '/whee/...']]);
  t.equal(idOf(rt, '/foo'), 'comp-second /foo');
  t.equal(ids(rt)[1], 'comp-second /foo');
  t.same(rt.duplicates(), [{ pattern: '/foo', replacedTriggerIndex: 1, effectiveTriggerIndex: 2 }]);
  t.match(rt.warnings(), [/"\/foo".*#2.*#3.*last declaration wins/]);
});

t.test('duplicate reporting is faithful (12)', async (t) => {
  const rt = table([
    ['comp-first /', '/'],
    ['comp-second /', '/'],
    ['comp-first /foo', '/foo'],
    ['comp-second /foo', '/foo'],
    ['comp-first /...', '/...'],
    ['comp-second /...', '/...'],
    ['comp-first /whee/...', '/whee/...'],
    ['comp-second /whee/...', '/whee/...'],
  ]);
  t.same(rt.duplicates(), [
    { pattern: '/', replacedTriggerIndex: 0, effectiveTriggerIndex: 1 },
    { pattern: '/foo', replacedTriggerIndex: 2, effectiveTriggerIndex: 3 },
    { pattern: '/...', replacedTriggerIndex: 4, effectiveTriggerIndex: 5 },
    { pattern: '/whee/...', replacedTriggerIndex: 6, effectiveTriggerIndex: 7 },
  ]);
  t.same(ids(rt), ['comp-second /', 'comp-second /foo', 'comp-second /...', 'comp-second /whee/...']);
  t.equal(idOf(rt, '/'), 'comp-second /');
  t.equal(idOf(rt, '/whee/x'), 'comp-second /whee/...');
  t.equal(idOf(rt, '/other'), 'comp-second /...');
});

t.test('routes that sanitise to the same pattern are duplicates, and the last one wins', async (t) => {
  const rt = table([['a', '/users/*'], ['b', '/users/...'], ['c', 'foo'], ['d', '/foo/'], ['e', '/users/...']]);
  t.same(rt.duplicates(), [
    { pattern: '/users/...', replacedTriggerIndex: 0, effectiveTriggerIndex: 4 },
    { pattern: '/foo', replacedTriggerIndex: 2, effectiveTriggerIndex: 3 },
    { pattern: '/users/...', replacedTriggerIndex: 1, effectiveTriggerIndex: 4 },
  ]);
  t.equal(idOf(rt, '/users/1'), 'e');
  t.equal(idOf(rt, '/foo'), 'd');
  t.same(ids(rt), ['e', 'd']);
});

t.test('private routes are skipped (13)', async (t) => {
  const rt = table([['comp-/', '/'], ['comp-/foo', '/foo'], ['comp-private', { private: true }], ['comp-/whee/...', '/whee/...']]);
  t.equal(rt.routes().length, 3);
  t.notOk(ids(rt).includes('comp-private'));
  t.same(rt.warnings(), []);
});

t.test('a route table { private = false } is refused (14)', async (t) => {
  const decl = { route: { private: false }, target: { kind: 'component', component: 'comp-bad component' }, triggerIndex: 2 } as unknown as RouteDeclaration;
  t.throws(() => buildRouteTable([decl]), { code: 'SPINET_ERR_ROUTE_INVALID', message: /#3.*private = true/ });
});

t.test('routes under /.well-known/spin/ are reserved (18)', async (t) => {
  for (const route of ['/.well-known/spin/...', '/.well-known/spin/fie', '/.well-known/spin/*', '.well-known/spin/x']) {
    t.ok(isReservedRoute(route), route);
  }
  const rt = table([['r1', '/.well-known/spin/...'], ['r2', '/.well-known/spin/fie'], ['ok', '/ok']]);
  t.same(ids(rt), ['ok'], 'reserved routes are not routed');
  t.equal(rt.warnings().length, 2);
  t.match(rt.warnings()[0], /"\/.well-known\/spin\/\.\.\.".*#1.*reserve/);
  t.match(rt.warnings()[1], /"\/.well-known\/spin\/fie".*#2/);
  t.equal(idOf(rt, '/.well-known/spin/fie'), undefined);
});

t.test('routes beside /.well-known/spin/ are not reserved (19)', async (t) => {
  for (const route of ['/.well-known/spindle/...', '/.well-known/spi/...', '/.well-known/spin', '/.well-known/spin/']) {
    t.notOk(isReservedRoute(route), route);
  }
  const rt = table([['a', '/.well-known/spindle/...'], ['b', '/.well-known/spi/...'], ['c', '/.well-known/spin']]);
  t.same(ids(rt), ['a', 'b', 'c']);
  t.same(rt.warnings(), []);
  t.equal(idOf(rt, '/.well-known/spindle/x'), 'a');
  t.equal(idOf(rt, '/.well-known/spin'), 'c');
});

t.test('routes are sanitised like Spin: leading / added, one trailing / dropped, /* is /...', async (t) => {
  const cases: Array<[string, string]> = [
    ['foo', '/foo'],
    ['/foo/', '/foo'],
    ['/', '/'],
    ['', '/'],
    ['//', '/'],
    ['/users/*', '/users/...'],
    ['/*', '/...'],
    ['*', '/...'],
    ['users/*/', '/users/...'],
  ];
  for (const [route, pattern] of cases) t.equal(sanitizeRoute(route), pattern, JSON.stringify(route));
  t.equal(idOf(table([['c', '/users/*']]), '/users/1/2'), 'c');
  t.equal(idOf(table([['c', '']]), '/'), 'c', 'an empty route is the root, as in Spin');
});

t.test('malformed routes are refused with a fix', async (t) => {
  const bad: Array<[route: string, why: RegExp]> = [
    ['/a/.../b', /wildcard "\.\.\." before its end; a wildcard may only be the last segment/],
    ['/a/*/b', /wildcard "\*" before its end/],
    ['/.../...', /wildcard "\.\.\." before its end/],
    ['/a/:/b', /parameter without a name.*"\/users\/:id"/],
    ['/a/:', /parameter without a name/],
    ['/a/:na me', /contains a space.*percent-encode/],
    ['/a/:id.json', /whole segment.*"\/a\/:id"/],
    ['/a/:x:y', /whole segment/],
    ['/a//b', /empty segment.*remove the extra "\/"/],
    ['//a', /empty segment/],
    ['/a//', /empty segment/],
    ['/a b', /contains a space/],
    ['/a?b=c', /contains a "\?".*remove everything from "\?" on/],
    ['/a#frag', /contains a "#"/],
    ['/caf\u00e9', /contains "\u00e9".*%C3%A9/],
    ['/a\tb', /control character \(U\+0009\)/],
    ['/a<b>', /contains "<"/],
    ['/a%2', /"%" that is not followed by two hex digits.*%25/],
    ['/a%zz', /"%" that is not followed by two hex digits/],
    ['/files...', /wildcard inside the segment "files\.\.\.".*did you mean "\/files\/\.\.\."/],
    ['/users*', /wildcard inside the segment.*did you mean "\/users\/\.\.\."/],
    ['/api/v1*', /did you mean "\/api\/v1\/\.\.\."/],
    ['/a/../b', /"\.\." segment/],
    ['/a/./b', /"\." segment/],
    ['/:id/:id', /":id" more than once/],
    ['/:user_id/:User-Id', /more than once/],
  ];
  for (const [route, why] of bad) {
    t.throws(() => table([['c', route]]), { code: 'SPINET_ERR_ROUTE_INVALID', message: why }, JSON.stringify(route));
  }
  t.throws(() => table([['ok', '/ok'], ['bad', '/x/.../y']]), { message: /^route "\/x\/\.\.\.\/y" of \[\[trigger\.http\]\] #2 / }, 'the message names the route and its trigger');
});

t.test('unusual but valid routes are accepted', async (t) => {
  const good: Array<[route: string, path: string]> = [
    ['/a:b', '/a:b'],
    ['/v1.2/x', '/v1.2/x'],
    ['/~user/@me', '/~user/@me'],
    ["/a!$&'()+,;=", "/a!$&'()+,;="],
    ['/a%2Fb', '/a%2Fb'],
    ['/:_/:x-y/:9', '/1/2/3'],
  ];
  for (const [route, path] of good) t.equal(idOf(table([['c', route]]), path), 'c', route);
});
