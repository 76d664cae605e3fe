/** Gateway configuration: flags over environment over defaults, and clear errors for bad values. */
import t from 'tap';
import path from 'node:path';
import { loadConfig, loadServeConfig, parseListen } from '../../server/config.js';

t.test('defaults match Spin where Spin has one', async (t) => {
  const c = loadConfig({}, {});
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 3000);
  t.equal(c.deadlineMs, 30_000);
  t.equal(c.maxInstanceMemory, 128 * 1024 * 1024);
  t.equal(loadConfig({}, { SPIN_MAX_INSTANCE_MEMORY: '67108864' }).maxInstanceMemory, 67108864, "Spin's own variable is honoured");
  t.ok(c.workers >= 2);
  t.equal(c.manifest, path.resolve('.'));
  t.ok(Object.isFrozen(c), 'the config is frozen');
});

t.test('flags win over environment variables, which win over defaults', async (t) => {
  const env = { SPINET_LISTEN: '0.0.0.0:8080', SPINET_WORKERS: '3', SPINET_DEADLINE_MS: '500' };
  const fromEnv = loadConfig({}, env);
  t.equal(fromEnv.host, '0.0.0.0');
  t.equal(fromEnv.port, 8080);
  t.equal(fromEnv.workers, 3);
  t.equal(fromEnv.deadlineMs, 500);
  const fromFlags = loadConfig({ listen: '127.0.0.1:9000', workers: '4', deadlineMs: '250' }, env);
  t.equal(fromFlags.port, 9000);
  t.equal(fromFlags.workers, 4);
  t.equal(fromFlags.deadlineMs, 250);
  t.equal(loadConfig({}, { SPIN_HTTP_LISTEN_ADDR: '127.0.0.1:3005' }).port, 3005, "Spin's own variable is honoured");
});

t.test('listen addresses parse IPv4, names and bracketed IPv6', async (t) => {
  t.same(parseListen('127.0.0.1:3000', 'x'), { host: '127.0.0.1', port: 3000 });
  t.same(parseListen('localhost:80', 'x'), { host: 'localhost', port: 80 });
  t.same(parseListen('[::1]:3000', 'x'), { host: '::1', port: 3000 });
});

t.test('bad values are refused naming their source and the fix', async (t) => {
  const bad: Array<[flags: Record<string, string>, env: Record<string, string>, message: RegExp]> = [
    [{ listen: 'nope' }, {}, /--listen: "nope" is not a listen address; use host:port/],
    [{}, { SPINET_LISTEN: '1.2.3.4:99999' }, /SPINET_LISTEN: .* is not a listen address/],
    [{}, { SPINET_WORKERS: '0' }, /SPINET_WORKERS: "0" must be an integer between 1 and 256/],
    [{ workers: 'two' }, {}, /--workers: "two" must be an integer/],
    [{}, { SPINET_DEADLINE_MS: '-5' }, /SPINET_DEADLINE_MS/],
    [{}, { SPINET_LOG_LEVEL: 'loud' }, /SPINET_LOG_LEVEL: "loud" is not a log level/],
    [{}, { SPINET_ACCESS_LOG: 'maybe' }, /SPINET_ACCESS_LOG: "maybe" must be true or false/],
    [{}, { SPINET_MAX_BODY_BYTES: '1.5' }, /SPINET_MAX_BODY_BYTES/],
  ];
  for (const [flags, env, message] of bad) {
    t.throws(() => loadConfig(flags, env), { code: 'SPINET_ERR_CONFIG_INVALID', message }, JSON.stringify({ flags, env }));
  }
});

t.test('spinet serve’s settings come from one schema: flags over environment over defaults', async (t) => {
  const d = loadServeConfig({}, { SPINET_ADMIN_TOKEN: 'x' });
  t.match(d, { storeDir: path.resolve('.spinet-store'), baseDomain: 'localhost', pathPrefix: true, adminListen: { host: '127.0.0.1', port: 3001 }, adminToken: 'x', fleetRedis: undefined, fleetResyncMs: 30_000 });
  t.equal(d.gateway.stateDir, path.resolve('.spinet-store', 'state'), 'key-value state lives in the store by default');
  t.ok(Object.isFrozen(d));
  const env = { SPINET_ADMIN_TOKEN: 'x', SPINET_STORE: '/srv/store', SPINET_BASE_DOMAIN: 'env.test', SPINET_FLEET_REDIS: 'redis://r:6379', SPINET_FLEET_RESYNC_MS: '5000', SPINET_PATH_PREFIX: 'false' };
  t.match(loadServeConfig({}, env), { storeDir: '/srv/store', baseDomain: 'env.test', pathPrefix: false, fleetRedis: 'redis://r:6379', fleetResyncMs: 5000 });
  t.match(loadServeConfig({ store: '/other', baseDomain: 'flag.test', fleetRedis: 'rediss://s:6380', fleetResyncMs: '0', listen: '0.0.0.0:8080' }, env), {
    storeDir: '/other',
    baseDomain: 'flag.test',
    fleetRedis: 'rediss://s:6380',
    fleetResyncMs: 0,
    gateway: { host: '0.0.0.0', port: 8080, stateDir: '/other/state' },
  });
  t.match(loadServeConfig({ adminLocalOnly: true, adminListen: '[::1]:4000' }, {}), { adminToken: undefined, adminLocalOnly: true, adminListen: { host: '::1', port: 4000 } });
});

t.test('bad spinet serve settings are refused naming their source and the fix, and never echo a Redis password', async (t) => {
  const token = { SPINET_ADMIN_TOKEN: 'x' };
  const bad: Array<[flags: Record<string, string | boolean>, env: Record<string, string>, message: RegExp]> = [
    [{}, {}, /the admin API needs a token: set SPINET_ADMIN_TOKEN, or pass --admin-local-only/],
    [{}, { SPINET_ADMIN_TOKEN: '' }, /needs a token/],
    [{ adminLocalOnly: true, adminListen: '0.0.0.0:3001' }, {}, /--admin-local-only: the admin API must listen on loopback/],
    [{ adminListen: 'nope' }, token, /--admin-listen: "nope" is not a listen address/],
    [{}, { ...token, SPINET_PATH_PREFIX: 'yes' }, /SPINET_PATH_PREFIX: "yes" must be true or false/],
    [{ fleetRedis: 'http://r:6379' }, token, /--fleet-redis: "http:\/\/r:6379" is not a redis:\/\/ or rediss:\/\/ URL/],
    [{}, { ...token, SPINET_FLEET_REDIS: 'redis:///nohost' }, /SPINET_FLEET_REDIS: .* is not a redis/],
    [{}, { ...token, SPINET_FLEET_REDIS: 'tcp://user:hunter2@r:6379' }, /"tcp:\/\/user:\*\*\*@r:6379" is not a redis/],
    [{ fleetResyncMs: '-1' }, token, /--fleet-resync-ms: "-1" must be an integer between 0 and 86400000/],
    [{}, { ...token, SPINET_FLEET_RESYNC_MS: 'soon' }, /SPINET_FLEET_RESYNC_MS: "soon"/],
    [{ workers: '0' }, token, /--workers: "0" must be an integer/],
  ];
  for (const [flags, env, message] of bad) {
    t.throws(() => loadServeConfig(flags, env), { code: 'SPINET_ERR_CONFIG_INVALID', message }, JSON.stringify({ flags, env }));
  }
});
