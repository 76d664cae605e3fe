/** Spin's `allowed_outbound_hosts` grammar and matching (spinframework/spin crates/outbound-networking-config/src/allowed_hosts.rs). */
import t from 'tap';
import { AllowedHostError, AllowedHosts, suggestEntry, type OutboundTarget } from '../../server/capabilities/allowed-hosts.js';

/** A target as a URL string (parsed with `new URL`, as a guest's request would be) or as an object. */
type Target = string | OutboundTarget;

const asTarget = (target: Target): OutboundTarget | URL => (typeof target === 'string' ? new URL(target) : target);
const show = (target: Target): string => (typeof target === 'string' ? target : JSON.stringify(target));

// [entry, target, allowed]: each row is one rule, checked against the one target.
const matchRows: ReadonlyArray<readonly [entry: string, target: Target, allowed: boolean]> = [
  // Scheme
  ['https://example.com', 'https://example.com/path?q=1', true],
  ['https://example.com', 'http://example.com', false],
  ['HTTPS://example.com', 'https://example.com', true],
  ['*://example.com:443', 'https://example.com', true],
  ['*://example.com:443', 'wss://example.com', true],
  ['*://example.com:443', 'http://example.com', false],
  ['redis://cache.internal', 'redis://cache.internal:6379', true],
  ['redis://cache.internal', 'rediss://cache.internal:6379', false],
  // Default ports on both sides
  ['https://example.com', 'https://example.com:443', true],
  ['https://example.com', 'https://example.com:8443', false],
  ['https://example.com:8443', 'https://example.com:8443', true],
  ['https://example.com:8443', 'https://example.com', false],
  ['http://example.com', { scheme: 'http', host: 'example.com' }, true],
  ['http://example.com', { scheme: 'http', host: 'example.com', port: 81 }, false],
  ['redis://cache', { scheme: 'redis', host: 'cache', port: 6379 }, true],
  ['rediss://cache', { scheme: 'rediss', host: 'cache', port: 6380 }, true],
  ['rediss://cache', { scheme: 'rediss', host: 'cache', port: 6379 }, false],
  ['postgres://db', { scheme: 'postgres', host: 'db', port: 5432 }, true],
  ['mysql://db', { scheme: 'mysql', host: 'db', port: 3306 }, true],
  ['mqtt://broker', { scheme: 'mqtt', host: 'broker', port: 1883 }, true],
  ['ws://chat', 'ws://chat/socket', true],
  ['wss://chat', { scheme: 'wss', host: 'chat', port: 443 }, true],
  ['http://example.com:80', 'http://example.com', true],
  // Unknown scheme: needs a port on the target too, or `*` in the entry
  ['nats://broker:4222', { scheme: 'nats', host: 'broker' }, false],
  ['nats://broker:*', { scheme: 'nats', host: 'broker' }, true],
  ['nats://broker:4222', 'nats://broker:4222', true],
  // Port ranges: end excluded
  ['http://localhost:3000..3002', 'http://localhost:3000', true],
  ['http://localhost:3000..3002', 'http://localhost:3001', true],
  ['http://localhost:3000..3002', 'http://localhost:3002', false],
  ['http://localhost:3000..3002', 'http://localhost:2999', false],
  ['http://localhost:*', 'http://localhost:65535', true],
  ['http://localhost:0', { scheme: 'http', host: 'localhost', port: 0 }, true],
  // Wildcard subdomains
  ['https://*.example.com', 'https://api.example.com', true],
  ['https://*.example.com', 'https://a.b.example.com', true],
  ['https://*.example.com', 'https://example.com', false],
  ['https://*.example.com', 'https://badexample.com', false],
  ['https://*.example.com', 'https://API.Example.COM', true],
  ['https://*.example.com', { scheme: 'https', host: 'API.EXAMPLE.COM.' }, true],
  ['https://*.Example.com', 'https://api.example.com', true],
  // Literal domains: case and one trailing dot
  ['https://Example.COM', 'https://example.com', true],
  ['https://example.com', { scheme: 'https', host: 'EXAMPLE.com' }, true],
  ['https://example.com', 'https://example.com./', true],
  ['https://example.com.', 'https://example.com', true],
  ['https://example.com', 'https://www.example.com', false],
  ['https://example.com', 'https://example.com.evil.net', false],
  ['https://español.example', 'https://xn--espaol-zwa.example', true],
  // Any host
  ['https://*', 'https://anything.example', true],
  ['https://*', 'https://10.1.2.3', true],
  ['https://*', 'http://anything.example', false],
  ['*://*:*', 'mysql://db.internal:3306', true],
  ['*://*:*', { scheme: 'custom', host: 'x' }, true],
  // IPv4 literals
  ['http://127.0.0.1:8080', 'http://127.0.0.1:8080', true],
  ['http://127.0.0.1:8080', 'http://127.0.0.2:8080', false],
  ['http://127.0.0.1:8080', 'http://127.1:8080', true],
  ['http://127.0.0.1:8080', 'http://localhost:8080', false],
  ['http://localhost:8080', 'http://127.0.0.1:8080', false],
  // IPv6 literals
  ['http://[::1]:8080', 'http://[::1]:8080', true],
  ['http://[::1]', 'http://[0:0:0:0:0:0:0:1]', true],
  ['http://[::1]:8080', { scheme: 'http', host: '::1', port: 8080 }, true],
  ['http://[::1]:8080', { scheme: 'http', host: '[::1]', port: 8080 }, true],
  ['http://[::1]:8080', 'http://[::2]:8080', false],
  ['http://[2001:DB8::1]', 'http://[2001:db8:0::1]', true],
  // CIDR v4
  ['http://10.0.0.0/8', 'http://10.255.0.1', true],
  ['http://10.0.0.0/8', 'http://11.0.0.1', false],
  ['http://10.0.0.0/8', 'http://ten.example', false],
  ['postgres://10.0.0.0/8:5433', 'postgres://10.1.1.1:5433', true],
  ['postgres://10.0.0.0/8:5433', 'postgres://10.1.1.1', false],
  ['*://192.168.1.0/24:*', { scheme: 'mqtt', host: '192.168.1.77' }, true],
  ['*://192.168.1.0/24:*', { scheme: 'mqtt', host: '192.168.2.77' }, false],
  ['http://10.1.2.3/8', 'http://10.200.0.1', true],
  // CIDR v6, bracketed or bare (Spin writes `ff00::/8:80`)
  ['http://[fd00::]/8', 'http://[fd12::1]', true],
  ['http://[fd00::]/8', 'http://[fe80::1]', false],
  ['http://fd00::/8', 'http://[fdff::1]', true],
  ['*://ff00::/8:80', 'http://[ff02::1]', true],
  ['*://ff00::/8:80', 'http://[ff02::1]:81', false],
  ['http://[fd00::]/8:8080', 'http://[fd00::1]:8080', true],
  ['http://[fd00::]/8', 'http://10.0.0.1', false],
  // IPv4-mapped IPv6 targets match IPv4 rules, and mapped rules are IPv4
  ['http://10.0.0.0/8', 'http://[::ffff:10.0.0.1]', true],
  ['http://10.0.0.0/8', { scheme: 'http', host: '::ffff:10.9.9.9' }, true],
  ['http://10.0.0.0/8', { scheme: 'http', host: '::ffff:11.0.0.1' }, false],
  ['http://10.0.0.1', { scheme: 'http', host: '0:0:0:0:0:ffff:a00:1' }, true],
  ['http://[::ffff:10.0.0.1]', 'http://10.0.0.1', true],
  ['http://[::ffff:0:0]/96', { scheme: 'http', host: '::ffff:10.0.0.1' }, true],
  // Wildcards match domains only
  ['https://*.example.com', 'https://[::1]', false],
  // self and service chaining are never network hosts
  ['http://self', 'http://self', false],
  ['http://api.spin.internal', 'http://api.spin.internal', false],
  ['http://*.spin.internal', 'http://api.spin.internal', false],
  // Trailing slash on the entry
  ['https://example.com/', 'https://example.com', true],
  ['https://example.com:8443/', 'https://example.com:8443', true],
];

t.test('each entry allows and denies exactly the expected targets', async (t) => {
  t.ok(matchRows.length >= 40);
  for (const [entry, target, allowed] of matchRows) {
    const hosts = AllowedHosts.parse([entry]);
    t.equal(hosts.allows(asTarget(target)), allowed, `${entry} ${allowed ? 'allows' : 'denies'} ${show(target)}`);
  }
});

t.test('a request is allowed when any one entry matches all of scheme, host and port', async (t) => {
  const hosts = AllowedHosts.parse(['https://api.example.com', 'http://localhost:3000', 'redis://*.cache.local:6380']);
  t.equal(hosts.allows(new URL('https://api.example.com/v1')), true);
  t.equal(hosts.allows(new URL('http://localhost:3000')), true);
  t.equal(hosts.allows({ scheme: 'redis', host: 'eu.cache.local', port: 6380 }), true);
  t.equal(hosts.allows(new URL('http://api.example.com')), false, 'host of one entry, scheme of another');
  t.equal(hosts.allows(new URL('https://localhost:3000')), false);
  t.equal(hosts.allows({ scheme: 'redis', host: 'eu.cache.local' }), false, 'redis default 6379 is not 6380');
  t.equal(hosts.allows({ scheme: 'https', host: '' }), false, 'no host is never allowed');
  t.equal(hosts.allows({ scheme: 'https:', host: 'api.example.com' }), true, 'a scheme with its ":" is tolerated');
});

t.test('allowsSelf: http(s)/* entries for self, self.alt or any host, as in Spin', async (t) => {
  const cases: ReadonlyArray<readonly [readonly string[], boolean]> = [
    [['http://self'], true],
    [['https://self'], true],
    [['http://self.alt'], true],
    [['http://SELF'], true],
    [['*://self:*'], true],
    [['*://*:*'], true],
    [['https://*'], true],
    [['redis://self'], false],
    [['redis://*'], false],
    [['https://example.com'], false],
    [[], false],
  ];
  for (const [entries, expected] of cases) {
    t.equal(AllowedHosts.parse(entries).allowsSelf, expected, JSON.stringify(entries));
  }
});

t.test('service chaining: <id>.spin.internal and *.spin.internal name components', async (t) => {
  const componentIds = ['api', 'auth', 'web'];
  t.same([...AllowedHosts.parse(['http://auth.spin.internal'], { componentIds }).chainedComponents], ['auth']);
  t.same([...AllowedHosts.parse(['http://Auth.spin.internal', 'https://web.spin.internal'], { componentIds }).chainedComponents], ['auth', 'web']);
  t.same([...AllowedHosts.parse(['http://*.spin.internal'], { componentIds }).chainedComponents].sort(), ['api', 'auth', 'web']);
  t.same([...AllowedHosts.parse(['http://*.spin.internal']).chainedComponents], [], '* expands to the ids given, none here');
  t.same([...AllowedHosts.parse(['*://*.spin.internal:*'], { componentIds }).chainedComponents].sort(), ['api', 'auth', 'web']);
  t.same([...AllowedHosts.parse(['redis://auth.spin.internal'], { componentIds }).chainedComponents], [], 'chaining is HTTP only');
  t.same([...AllowedHosts.parse(['https://*.example.com', 'http://self'], { componentIds }).chainedComponents], []);
  t.same([...AllowedHosts.parse(['*://*:*'], { componentIds }).chainedComponents], [], 'only explicit spin.internal entries chain');
});

t.test('entries, isEmpty and empty-template entries', async (t) => {
  const hosts = AllowedHosts.parse(['', 'http://', 'https://', '  ', 'https://Example.com/', ' http://self ']);
  t.same(hosts.entries, ['https://Example.com/', ' http://self '], 'accepted entries exactly as written');
  t.equal(hosts.isEmpty, false);
  const empty = AllowedHosts.parse(['', 'https://', 'http://']);
  t.same(empty.entries, []);
  t.equal(empty.isEmpty, true);
  t.equal(empty.allowsSelf, false);
  t.equal(empty.allows(new URL('https://example.com')), false);
  t.equal(AllowedHosts.parse([]).isEmpty, true);
});

// [entry, what the message must say is wrong, the fix it must offer]
const errorRows: ReadonlyArray<readonly [entry: string, problem: string, fix: string]> = [
  ['*', 'is not a valid host pattern', 'write "*://*:*"'],
  ['insecure:allow-all', 'is no longer supported', 'write "*://*:*"'],
  ['example.com', 'has no scheme', 'write it as "https://example.com" (or "http://...")'],
  ['localhost:3000', 'has no scheme', 'write it as "https://localhost:3000"'],
  ['http:example.com', 'is missing "//" after the scheme', 'write it as "http://example.com"'],
  ['https:/example.com', 'is missing "//" after the scheme', 'write it as "https://example.com"'],
  ['://example.com', 'has no scheme before "://"', '"https://example.com"'],
  ['git+ssh://example.com:22', 'has an invalid scheme "git+ssh"', 'letters only'],
  ['h2://example.com:443', 'has an invalid scheme "h2"', 'letters only'],
  ['{http,https}://example.com', 'uses a {...} list, which is not supported', 'e.g. "http://example.com", "https://example.com"'],
  ['https://{a,b}.example.com', 'uses a {...} list', 'e.g. "https://a.example.com", "https://b.example.com"'],
  ['https://example.com:{80,443}', 'uses a {...} list', '"https://example.com:80", "https://example.com:443"'],
  ['https://example.com/api', 'has a path ("/api")', 'write "https://example.com"'],
  ['https://example.com:8443/api/v1', 'has a path ("/api/v1")', 'write "https://example.com:8443"'],
  ['https://*.example.com/a', 'has a path ("/a")', 'write "https://*.example.com"'],
  ['https://example.com//', 'has a path ("/")', 'write "https://example.com"'],
  ['http://[::1]/x', 'has a path ("/x")', 'write "http://[::1]"'],
  ['https://:8443', 'has no host', 'e.g. "https://*:8443"'],
  ['*://', 'has no host', 'e.g. "*://*:*"'],
  ['http://[]:80', 'has no host', '"*" for any host'],
  ['https://foo.*.com', 'has a "*" inside the host "foo.*.com"', 'leading "*." for any subdomain'],
  ['https://*example.com', 'has a "*" inside the host', 'leading "*."'],
  ['https://*.*.example.com', 'has more than one "*"', '"*.example.com"'],
  ['https://*.10.0.0.1', 'puts "*." in front of an IP address', 'CIDR range such as "10.0.0.0/8"'],
  ['https://exa mple.com', 'has an invalid host "exa mple.com"', 'write a domain name or IP address'],
  ['https://[example.com]', 'has an invalid host "[example.com]"', 'write a domain name or IP address'],
  ['https://::1', 'has an IPv6 address without brackets', 'write it as "https://[::1]:8080"'],
  ['http://fe80::1:8080', 'has an IPv6 address without brackets', '"http://[fe80::1:8080]:8080"'],
  ['http://[::1', 'has a "[" without a closing "]"', '"http://[::1]:8080"'],
  ['http://[::1]x', 'has unexpected text "x" after the IPv6 address', '"http://[::1]:8080"'],
  ['http://10.0.0.0/33', 'has a prefix length of 33', 'IPv4 range takes 0-32'],
  ['http://[fd00::]/129', 'has a prefix length of 129', 'IPv6 range takes 0-128'],
  ['*://example.com', 'has scheme "*" but no port', 'e.g. "*://example.com:443" or "*://example.com:*"'],
  ['*://10.0.0.0/8', 'has scheme "*" but no port', '"*://10.0.0.0/8:*"'],
  ['*://self', 'has scheme "*" but no port', '"*://self:*"'],
  ['nats://broker', 'has no port and scheme "nats" has no default port', 'e.g. "nats://broker:1234", or ":*" for any port'],
  ['https://example.com:https', 'has an invalid port "https"', 'port number 0-65535'],
  ['https://example.com:-1', 'has an invalid port "-1"', '"8000..9000" (end excluded)'],
  ['https://example.com:65536', 'has a port 65536 beyond 65535', 'port number 0-65535'],
  ['https://example.com:1000..70000', 'has a port range "1000..70000" beyond 65535', 'port number 0-65535'],
  ['http://localhost:2000..1000', 'has an empty port range "2000..1000"', 'write "1000..2001" to include both ports'],
  ['http://localhost:8080..8080', 'has an empty port range "8080..8080"', 'or "8080" for one port'],
  ['http://localhost:1000-2000', 'has an invalid port "1000-2000"', '"8000..9000"'],
  ['http://a.b.spin.internal', 'names "a.b", which is not a component id', '"http://*.spin.internal" for all'],
];

t.test('every invalid entry fails with what is wrong, in which entry, and how to fix it', async (t) => {
  for (const [entry, problem, fix] of errorRows) {
    const err = t.throws(() => AllowedHosts.parse(['https://fine.example', entry]), AllowedHostError, entry);
    if (!(err instanceof AllowedHostError)) continue;
    t.ok(err.message.startsWith(`allowed_outbound_hosts entry ${JSON.stringify(entry)} `), `${entry}: names the entry (${err.message})`);
    t.ok(err.message.includes(problem), `${entry}: says "${problem}" (${err.message})`);
    t.ok(err.message.includes(`; `) && err.message.includes(fix), `${entry}: offers "${fix}" (${err.message})`);
    t.equal(err.entry, entry);
    t.equal(err.name, 'AllowedHostError');
  }
});

t.test('the where option prefixes every message', async (t) => {
  t.throws(() => AllowedHosts.parse(['example.com'], { where: 'spin.toml: component.api' }), {
    message: 'spin.toml: component.api: allowed_outbound_hosts entry "example.com" has no scheme; write it as "https://example.com" (or "http://...")',
  });
  t.throws(() => AllowedHosts.parse(['example.com']), {
    message: 'allowed_outbound_hosts entry "example.com" has no scheme; write it as "https://example.com" (or "http://...")',
  });
});

t.test('insecure:allow-all is rejected even among other entries', async (t) => {
  t.throws(() => AllowedHosts.parse(['https://example.com', 'insecure:allow-all']), { name: 'AllowedHostError', message: /"insecure:allow-all" is no longer supported/ });
});

t.test('suggestEntry: the entry that allows exactly this target', async (t) => {
  const rows: ReadonlyArray<readonly [Target, string]> = [
    ['https://api.example.com/v1/x?y=1', 'https://api.example.com'],
    ['https://API.Example.com:443', 'https://api.example.com'],
    ['https://api.example.com:8443', 'https://api.example.com:8443'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['http://127.0.0.1', 'http://127.0.0.1'],
    ['http://[::1]:3000', 'http://[::1]:3000'],
    ['http://[::ffff:10.0.0.1]', 'http://10.0.0.1'],
    ['redis://cache:6379', 'redis://cache'],
    ['redis://cache:6380', 'redis://cache:6380'],
    ['nats://broker:4222', 'nats://broker:4222'],
    [{ scheme: 'postgres', host: 'DB.internal.' }, 'postgres://db.internal'],
    [{ scheme: 'mysql', host: 'db', port: 3306 }, 'mysql://db'],
    [{ scheme: 'mqtt', host: '::1', port: 8883 }, 'mqtt://[::1]:8883'],
    [{ scheme: 'nats', host: 'broker' }, 'nats://broker:*'],
  ];
  for (const [target, expected] of rows) {
    t.equal(suggestEntry(asTarget(target)), expected, show(target));
  }
});

t.test('a suggested entry parses and allows its target', async (t) => {
  const targets: readonly Target[] = ['https://api.example.com:8443/x', 'http://[fd00::1]:81', 'http://[::ffff:10.0.0.1]', { scheme: 'rediss', host: 'cache' }];
  for (const target of targets) {
    const entry = suggestEntry(asTarget(target));
    t.equal(AllowedHosts.parse([entry]).allows(asTarget(target)), true, `${entry} allows ${show(target)}`);
  }
});
