/** Gateway configuration: flags over environment over defaults, and clear errors for bad values. */
import t from 'tap';
import path from 'node:path';
import { loadConfig, parseListen } from '../../server/config.js';

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
