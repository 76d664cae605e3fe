/**
 * The runtime config file (`--runtime-config-file`): every field spinet serves is read and resolved, and every
 * mistake (bad TOML, unknown key, wrong type, a backend spinet does not provide) is refused with
 * `<file>:<line>: <key path>: <what>. <fix>.` and without echoing secrets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  DEFAULT_ENV_PREFIX,
  EMPTY_RUNTIME_CONFIG,
  loadRuntimeConfig,
  parseRuntimeConfig,
  redactUrl,
  RuntimeConfigError,
  type RuntimeConfig,
} from '../../server/capabilities/runtime-config.js';

/** Messages name the file as given; relative paths resolve against its directory. */
const FILE = '/srv/app/runtime-config.toml';
const DIR = '/srv/app';

/** 1-based line of the first line of `toml` containing `text`. */
function lineOf(toml: string, text: string): number {
  const index = toml.split('\n').findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`fixture bug: ${JSON.stringify(text)} not in the TOML`);
  return index + 1;
}

function parseError(toml: string, file = FILE): RuntimeConfigError {
  try {
    parseRuntimeConfig(toml, file);
  } catch (error) {
    if (error instanceof RuntimeConfigError) return error;
    throw error;
  }
  throw new Error('expected parseRuntimeConfig to throw');
}

/** A plain-object view of a config, so deepEqual compares the Map too. */
function plain(config: RuntimeConfig): unknown {
  return { ...config, keyValueStores: Object.fromEntries(config.keyValueStores) };
}

interface BadCase {
  readonly name: string;
  readonly toml: string;
  /** Key path the message names after the line, e.g. `key_value_store.cache.type`. */
  readonly key: string;
  /** The message points at the line containing this text. */
  readonly at: string;
  /** Fragments the message must contain (what is wrong, and how to fix it). */
  readonly says: readonly (string | RegExp)[];
  /** Text that must never appear (secrets). */
  readonly hides?: readonly string[];
}

const bad: readonly BadCase[] = [
  // ── top level ──
  {
    name: 'a misspelt top-level key lists the accepted keys',
    toml: 'stat_dir = ".spin"\n',
    key: 'stat_dir',
    at: 'stat_dir',
    says: ['unknown key "stat_dir"', 'Keys accepted at the top level: state_dir, log_dir, max_instance_memory, key_value_store'],
  },
  {
    name: 'state_dir must be a string',
    toml: '# state\nstate_dir = 5\n',
    key: 'state_dir',
    at: 'state_dir = 5',
    says: ['expected a string, got an integer', 'Write state_dir as a quoted path'],
  },
  {
    name: 'log_dir must be a string',
    toml: 'log_dir = ["logs"]\n',
    key: 'log_dir',
    at: 'log_dir',
    says: ['expected a string, got an array'],
  },
  {
    name: 'max_instance_memory of 0 is refused',
    toml: 'state_dir = ".spin"\nmax_instance_memory = 0\n',
    key: 'max_instance_memory',
    at: 'max_instance_memory',
    says: ['must be greater than 0, got 0', 'Write a whole number of bytes greater than 0'],
  },
  {
    name: 'a negative max_instance_memory is refused',
    toml: 'max_instance_memory = -1\n',
    key: 'max_instance_memory',
    at: 'max_instance_memory',
    says: ['must be greater than 0, got -1'],
  },
  {
    name: 'max_instance_memory written as a string with a unit is refused',
    toml: 'max_instance_memory = "64MB"\n',
    key: 'max_instance_memory',
    at: 'max_instance_memory',
    says: ['expected a positive integer, got a string', 'without quotes'],
  },
  {
    name: 'a float max_instance_memory is refused even when whole',
    toml: 'max_instance_memory = 67108864.0\n',
    key: 'max_instance_memory',
    at: 'max_instance_memory',
    says: ['expected a positive integer, got a float'],
  },
  {
    name: 'a max_instance_memory beyond what a number holds exactly is refused',
    toml: 'max_instance_memory = 9223372036854775807\n',
    key: 'max_instance_memory',
    at: 'max_instance_memory',
    says: ['9223372036854775807 is too large'],
  },
  // ── unsupported tables ──
  {
    name: 'sqlite_database is recognised and refused with an alternative',
    toml: 'state_dir = ".spin"\n\n[sqlite_database.default]\ntype = "spin"\n',
    key: 'sqlite_database',
    at: '[sqlite_database.default]',
    says: ['spinet does not support SQLite databases yet', 'key-value store'],
  },
  {
    name: 'llm_compute is recognised and refused',
    toml: '[llm_compute]\ntype = "remote_http"\nurl = "https://llm.example.com"\n',
    key: 'llm_compute',
    at: '[llm_compute]',
    says: ['spinet does not support Serverless AI (llm_compute) yet', 'outbound HTTP'],
  },
  {
    name: 'client_tls is recognised and refused',
    toml: '[[client_tls]]\ncomponent_ids = ["a"]\nhosts = ["example.com"]\n',
    key: 'client_tls',
    at: '[[client_tls]]',
    says: ['spinet does not support client TLS settings yet', 'NODE_EXTRA_CA_CERTS'],
  },
  {
    name: 'outbound_networking is recognised and refused',
    toml: '\n[outbound_networking]\nblock_networks = ["10.0.0.0/8"]\n',
    key: 'outbound_networking',
    at: '[outbound_networking]',
    says: ['spinet does not support [outbound_networking] settings yet', 'allowed_outbound_hosts'],
  },
  // ── key_value_store ──
  {
    name: 'key_value_store must be a table of stores',
    toml: 'key_value_store = "redis"\n',
    key: 'key_value_store',
    at: 'key_value_store',
    says: ['expected a table, got a string', '[key_value_store.default]'],
  },
  {
    name: 'a store without a type asks for one',
    toml: '[key_value_store.default]\npath = "kv"\n',
    key: 'key_value_store.default',
    at: '[key_value_store.default]',
    says: ['a key-value store needs a type', 'Set type to one of "spin", "redis"'],
  },
  {
    name: 'an unknown store type lists the accepted ones',
    toml: '[key_value_store.cache]\ntype = "memcached"\n',
    key: 'key_value_store.cache.type',
    at: 'memcached',
    says: ['unknown key-value store type "memcached"', 'Set type to one of "spin", "redis"'],
  },
  {
    name: 'an Azure Cosmos DB store is refused with the alternatives',
    toml: '[key_value_store.default]\ntype = "azure_cosmos"\naccount = "acct"\nkey = "k"\n',
    key: 'key_value_store.default.type',
    at: 'azure_cosmos',
    says: ['spinet does not support Azure Cosmos DB key-value stores', 'Use type = "spin"', 'type = "redis"'],
  },
  {
    name: 'an AWS DynamoDB store is refused with the alternatives',
    toml: '[key_value_store.default]\n\ntype = "aws_dynamo"\nregion = "eu-west-1"\ntable = "t"\n',
    key: 'key_value_store.default.type',
    at: 'aws_dynamo',
    says: ['spinet does not support AWS DynamoDB key-value stores', 'type = "redis"'],
  },
  {
    name: 'a spin store with a redis key is refused with its accepted keys',
    toml: '[key_value_store.default]\ntype = "spin"\nurl = "redis://localhost"\n',
    key: 'key_value_store.default.url',
    at: 'url =',
    says: ['unknown key "url"', 'Keys accepted in key_value_store.default: type, path'],
  },
  {
    name: 'a spin store path must not be empty',
    toml: '[key_value_store.default]\ntype = "spin"\npath = ""\n',
    key: 'key_value_store.default.path',
    at: 'path =',
    says: ['the path is empty', 'Omit path to use the default'],
  },
  {
    name: 'a spin store path must be a string',
    toml: '[key_value_store.default]\ntype = "spin"\npath = true\n',
    key: 'key_value_store.default.path',
    at: 'path =',
    says: ['expected a string, got a boolean'],
  },
  {
    name: 'a redis store needs a url',
    toml: '[key_value_store.sessions]\ntype = "redis"\n',
    key: 'key_value_store.sessions',
    at: '[key_value_store.sessions]',
    says: ['a redis store needs a url', 'url = "redis://localhost:6379"'],
  },
  {
    name: 'a redis url with another scheme is refused, its password redacted',
    toml: '[key_value_store.sessions]\ntype = "redis"\nurl = "http://admin:hunter2@cache.internal:6379"\n',
    key: 'key_value_store.sessions.url',
    at: 'url =',
    says: ['"http://admin:***@cache.internal:6379" is not a usable Redis URL', 'the scheme is "http"', 'rediss://'],
    hides: ['hunter2'],
  },
  {
    name: 'a redis url that does not parse is refused, its password redacted',
    toml: '[key_value_store.sessions]\ntype = "redis"\nurl = "redis://admin:s3cr3t@cache internal:6379"\n',
    key: 'key_value_store.sessions.url',
    at: 'url =',
    says: ['"redis://admin:***@cache internal:6379" is not a usable Redis URL: it does not parse as a URL'],
    hides: ['s3cr3t'],
  },
  {
    name: 'a redis url without a host is refused',
    toml: '[key_value_store.sessions]\ntype = "redis"\nurl = "redis://"\n',
    key: 'key_value_store.sessions.url',
    at: 'url =',
    says: ['is not a usable Redis URL: it has no host'],
  },
  {
    name: 'a redis url must be a string',
    toml: '[key_value_store.sessions]\ntype = "redis"\nurl = { host = "localhost" }\n',
    key: 'key_value_store.sessions.url',
    at: 'url =',
    says: ['expected a string, got a table'],
  },
  {
    name: 'a redis store with a separate password key is refused',
    toml: '[key_value_store.sessions]\ntype = "redis"\nurl = "redis://localhost"\npassword = "hunter2"\n',
    key: 'key_value_store.sessions.password',
    at: 'password',
    says: ['unknown key "password"', 'type, url'],
    hides: ['hunter2'],
  },
  {
    name: 'a store type must be a string',
    toml: '[key_value_store.default]\ntype = ["spin"]\n',
    key: 'key_value_store.default.type',
    at: 'type =',
    says: ['expected a string, got an array'],
  },
  {
    name: 'a mixed-case store label is refused',
    toml: '[key_value_store.Sessions]\ntype = "spin"\n',
    key: 'key_value_store.Sessions',
    at: '[key_value_store.Sessions]',
    says: ['invalid store label "Sessions"', 'kebab-case or snake_case', 'key_value_stores'],
  },
  {
    name: 'a store label starting with a digit is refused',
    toml: '[key_value_store.default]\ntype = "spin"\n\n[key_value_store.1cache]\ntype = "spin"\n',
    key: 'key_value_store.1cache',
    at: '[key_value_store.1cache]',
    says: ['invalid store label "1cache"'],
  },
  {
    name: 'a store label with a dot (quoted key) is refused',
    toml: '[key_value_store."my.cache"]\ntype = "spin"\n',
    key: 'key_value_store."my.cache"',
    at: 'my.cache',
    says: ['invalid store label "my.cache"'],
  },
  {
    name: 'a store that is not a table is refused',
    toml: '[key_value_store]\ndefault = "spin"\n',
    key: 'key_value_store.default',
    at: 'default =',
    says: ['expected a table, got a string'],
  },
  // ── variables providers ──
  {
    name: 'a single [variables_provider] table asks for [[variables_provider]]',
    toml: '[variables_provider]\ntype = "env"\n',
    key: 'variables_provider',
    at: '[variables_provider]',
    says: ['expected an array of tables, got a table', '[[variables_provider]] table (two pairs of brackets)'],
  },
  {
    name: 'a provider without a type asks for one',
    toml: '[[variables_provider]]\nprefix = "APP"\n',
    key: 'variables_provider[0]',
    at: '[[variables_provider]]',
    says: ['a variables provider needs a type', 'Set type to one of "env", "static"'],
  },
  {
    name: 'a Vault provider is refused with the alternatives',
    toml: '[[variables_provider]]\ntype = "vault"\nurl = "http://vault:8200"\ntoken = "root"\nmount = "secret"\n',
    key: 'variables_provider[0].type',
    at: 'vault',
    says: ['spinet does not support the HashiCorp Vault variables provider', 'Use type = "env"', 'type = "static"'],
  },
  {
    name: 'an Azure Key Vault provider is refused with the alternatives',
    toml: '[[variables_provider]]\ntype = "env"\n\n[[variables_provider]]\ntype = "azure_key_vault"\nvault_url = "https://v.vault.azure.net"\n',
    key: 'variables_provider[1].type',
    at: 'azure_key_vault',
    says: ['spinet does not support the Azure Key Vault variables provider', 'type = "env"'],
  },
  {
    name: 'an unknown provider type lists the accepted ones',
    toml: '[[variables_provider]]\ntype = "consul"\n',
    key: 'variables_provider[0].type',
    at: 'consul',
    says: ['unknown variables provider type "consul"', 'Set type to one of "env", "static"'],
  },
  {
    name: 'an env provider with a misspelt key lists its keys',
    toml: '[[variables_provider]]\ntype = "env"\nprefx = "APP"\n',
    key: 'variables_provider[0].prefx',
    at: 'prefx',
    says: ['unknown key "prefx"', 'Keys accepted in variables_provider[0]: type, prefix, dotenv_path'],
  },
  {
    name: 'an env prefix must be a string',
    toml: '[[variables_provider]]\ntype = "env"\nprefix = 1\n',
    key: 'variables_provider[0].prefix',
    at: 'prefix',
    says: ['expected a string, got an integer', 'prefix = "MYAPP"'],
  },
  {
    name: 'an empty dotenv_path is refused',
    toml: '[[variables_provider]]\ntype = "env"\ndotenv_path = ""\n',
    key: 'variables_provider[0].dotenv_path',
    at: 'dotenv_path',
    says: ['the path is empty', 'Omit dotenv_path to use the default'],
  },
  {
    name: 'a static provider needs values',
    toml: '[[variables_provider]]\ntype = "static"\n',
    key: 'variables_provider[0]',
    at: '[[variables_provider]]',
    says: ['a static provider needs a values table', 'values = {'],
  },
  {
    name: 'static values must be a table',
    toml: '[[variables_provider]]\ntype = "static"\nvalues = ["a"]\n',
    key: 'variables_provider[0].values',
    at: 'values',
    says: ['expected a table, got an array'],
  },
  {
    name: 'a non-string static value is refused without echoing it',
    toml: '[[variables_provider]]\ntype = "static"\nvalues = { api_host = "example.com", api_pin = 739164 }\n',
    key: 'variables_provider[0].values.api_pin',
    at: 'api_pin',
    says: ['expected a string, got an integer', 'Quote the value'],
    hides: ['739164'],
  },
  {
    name: 'a static provider with an unknown key is refused',
    toml: '[[variables_provider]]\ntype = "static"\nvalues = {}\nprefix = "X"\n',
    key: 'variables_provider[0].prefix',
    at: 'prefix',
    says: ['unknown key "prefix"', 'type, values'],
  },
  {
    name: 'config_provider errors name config_provider',
    toml: '[[config_provider]]\ntype = "vault"\n',
    key: 'config_provider[0].type',
    at: 'vault',
    says: ['HashiCorp Vault'],
  },
  {
    name: 'variables_provider and config_provider together are refused',
    toml: '[[variables_provider]]\ntype = "env"\n\n[[config_provider]]\ntype = "env"\n',
    key: 'config_provider',
    at: '[[config_provider]]',
    says: ['both variables_provider and its older alias config_provider are written', 'keep only that one'],
  },
  // ── outbound limits ──
  {
    name: 'outbound_http max_connections of 0 is refused',
    toml: '[outbound_http]\nmax_connections = 0\n',
    key: 'outbound_http.max_connections',
    at: 'max_connections',
    says: ['must be greater than 0, got 0', 'whole number of connections'],
  },
  {
    name: 'outbound_redis with an unknown key lists max_connections',
    toml: '[outbound_redis]\nmax_conns = 4\n',
    key: 'outbound_redis.max_conns',
    at: 'max_conns',
    says: ['unknown key "max_conns"', 'Keys accepted in outbound_redis: max_connections'],
  },
  {
    name: 'outbound_redis must be a table',
    toml: 'outbound_redis = 16\n',
    key: 'outbound_redis',
    at: 'outbound_redis',
    says: ['expected a table, got an integer', 'max_connections'],
  },
  {
    name: 'outbound_http max_connections must be an integer',
    toml: '[outbound_http]\nmax_connections = "64"\n',
    key: 'outbound_http.max_connections',
    at: 'max_connections',
    says: ['expected a positive integer, got a string'],
  },
];

t.test('bad runtime configs are refused with file, line, key path, problem and fix', async (t) => {
  t.ok(bad.length >= 25, `at least 25 cases (have ${bad.length})`);
  for (const c of bad) {
    t.test(c.name, async (t) => {
      const error = parseError(c.toml);
      t.equal(error.code, 'SPINET_ERR_RUNTIME_CONFIG');
      t.equal(error.name, 'RuntimeConfigError');
      const prefix = `${FILE}:${lineOf(c.toml, c.at)}: ${c.key}: `;
      t.ok(error.message.startsWith(prefix), `starts with ${JSON.stringify(prefix)}; got ${JSON.stringify(error.message)}`);
      // "<what is wrong>. <how to fix>." — a sentence after the problem, ending in a period.
      t.match(error.message.slice(prefix.length), /^[^\n]+\. [^\n]+\.$/, 'problem, then fix, on one line');
      for (const fragment of c.says) t.match(error.message, fragment);
      for (const secret of c.hides ?? []) t.notMatch(error.message, secret, `does not echo ${secret}`);
    });
  }
});

t.test('a TOML syntax error gives file:line:col and never quotes the source', async (t) => {
  const toml = [
    '[key_value_store.sessions]',
    'type = "redis"',
    'url = "redis://admin:hunter2@cache:6379"',
    'oops = = 1',
  ].join('\n');
  const error = parseError(toml);
  t.equal(error.code, 'SPINET_ERR_RUNTIME_CONFIG');
  t.match(error.message, /^\/srv\/app\/runtime-config\.toml:4:8: TOML syntax error: .+\. Fix the TOML at that position/);
  t.notMatch(error.message, 'hunter2', 'the surrounding lines (with a password) are not shown');
  t.notMatch(error.message, '\n', 'one line');
  t.ok(error.cause, 'keeps smol-toml\'s error as the cause');
});

t.test('a duplicated table is a syntax error with its position', async (t) => {
  const toml = '[outbound_http]\nmax_connections = 1\n[outbound_http]\nmax_connections = 2\n';
  t.match(parseError(toml).message, /^\/srv\/app\/runtime-config\.toml:3:\d+: TOML syntax error: /);
});

t.test('a good config with every field is read and resolved', async (t) => {
  const toml = `# spinet runtime config
state_dir = ".spin"
log_dir = ".spin/logs"
max_instance_memory = 67108864

[key_value_store.default]
type = "spin"
path = "data/kv"

[key_value_store.sessions]
type = "redis"
url = "redis://user:pass@localhost:6379/2"

[key_value_store.tls_cache]
type = "redis"
url = "rediss://cache.example.com"

[key_value_store.scratch]
type = "spin"

[[variables_provider]]
type = "env"
prefix = "MYAPP"
dotenv_path = "../secrets/.env"

[[variables_provider]]
type = "static"
values = { api_host = "example.com", "api-port" = "443" }

[[variables_provider]]
type = "env"

[outbound_http]
max_connections = 64

[outbound_redis]
max_connections = 16
`;
  const config = parseRuntimeConfig(toml, FILE);
  t.same(plain(config), {
    path: FILE,
    stateDir: `${DIR}/.spin`,
    logDir: `${DIR}/.spin/logs`,
    maxInstanceMemory: 67108864,
    keyValueStores: {
      default: { type: 'spin', path: `${DIR}/data/kv` },
      sessions: { type: 'redis', url: 'redis://user:pass@localhost:6379/2' },
      tls_cache: { type: 'redis', url: 'rediss://cache.example.com' },
      scratch: { type: 'spin' },
    },
    variablesProviders: [
      { type: 'env', prefix: 'MYAPP', dotenvPath: '/srv/secrets/.env' },
      { type: 'static', values: { api_host: 'example.com', 'api-port': '443' } },
      { type: 'env', prefix: DEFAULT_ENV_PREFIX },
    ],
    outboundHttp: { maxConnections: 64 },
    outboundRedis: { maxConnections: 16 },
  });
  t.strictSame([...config.keyValueStores.keys()], ['default', 'sessions', 'tls_cache', 'scratch'], 'stores keep file order');
  t.equal(typeof config.maxInstanceMemory, 'number', 'a number, not a BigInt');
  t.notOk('path' in (config.keyValueStores.get('scratch') ?? {}), 'no path key when none is written');
  t.notOk('dotenvPath' in (config.variablesProviders[2] ?? {}), 'no dotenvPath key when none is written');
});

t.test('an empty file gives the empty config, with its path', async (t) => {
  const config = parseRuntimeConfig('# nothing here\n', FILE);
  t.same(plain(config), { ...(plain(EMPTY_RUNTIME_CONFIG) as object), path: FILE });
  t.strictSame(Object.keys(config).sort(), ['keyValueStores', 'outboundHttp', 'outboundRedis', 'path', 'variablesProviders']);
});

t.test('EMPTY_RUNTIME_CONFIG has nothing configured', async (t) => {
  t.equal(EMPTY_RUNTIME_CONFIG.path, undefined);
  t.equal(EMPTY_RUNTIME_CONFIG.stateDir, undefined);
  t.equal(EMPTY_RUNTIME_CONFIG.keyValueStores.size, 0);
  t.strictSame(EMPTY_RUNTIME_CONFIG.variablesProviders, []);
  t.strictSame(EMPTY_RUNTIME_CONFIG.outboundHttp, {});
  t.strictSame(EMPTY_RUNTIME_CONFIG.outboundRedis, {});
});

t.test('state_dir and log_dir written as "" are unset, as in Spin', async (t) => {
  const config = parseRuntimeConfig('state_dir = ""\nlog_dir = ""\n', FILE);
  t.equal(config.stateDir, undefined);
  t.equal(config.logDir, undefined);
  t.notOk('stateDir' in config);
});

t.test('relative paths resolve against the config file directory, absolute ones stay', async (t) => {
  const toml = `state_dir = "/var/lib/spinet"
log_dir = "../logs"
[key_value_store.default]
type = "spin"
path = "/data/kv.db"
[key_value_store.local]
type = "spin"
path = "./kv/../store"
[[variables_provider]]
type = "env"
dotenv_path = ".env"
`;
  const relative = parseRuntimeConfig(toml, path.join('conf', 'rc.toml'));
  const confDir = path.resolve('conf');
  t.equal(relative.path, path.join(confDir, 'rc.toml'));
  t.equal(relative.stateDir, '/var/lib/spinet');
  t.equal(relative.logDir, path.resolve('logs'));
  t.same(relative.keyValueStores.get('default'), { type: 'spin', path: '/data/kv.db' });
  t.same(relative.keyValueStores.get('local'), { type: 'spin', path: path.join(confDir, 'store') });
  t.same(relative.variablesProviders[0], { type: 'env', prefix: 'SPIN_VARIABLE', dotenvPath: path.join(confDir, '.env') });
  // Messages name the file as the user wrote it.
  t.match(parseError('bogus = 1\n', path.join('conf', 'rc.toml')).message, /^conf\/rc\.toml:1: bogus: /);
});

t.test('config_provider is accepted as the older name of variables_provider', async (t) => {
  const config = parseRuntimeConfig('[[config_provider]]\ntype = "static"\nvalues = { greeting = "hi" }\n', FILE);
  t.same(config.variablesProviders, [{ type: 'static', values: { greeting: 'hi' } }]);
});

t.test('an env provider keeps an empty prefix as written', async (t) => {
  const config = parseRuntimeConfig('[[variables_provider]]\ntype = "env"\nprefix = ""\n', FILE);
  t.same(config.variablesProviders, [{ type: 'env', prefix: '' }]);
});

t.test('inline-table spellings mean the same as table headers', async (t) => {
  const config = parseRuntimeConfig(
    'key_value_store = { default = { type = "spin" }, user-sessions = { type = "redis", url = "redis://r" } }\n' +
      'variables_provider = [{ type = "env", prefix = "X" }]\noutbound_http = { max_connections = 8 }\n',
    FILE,
  );
  t.same(plain(config), {
    path: FILE,
    keyValueStores: { default: { type: 'spin' }, 'user-sessions': { type: 'redis', url: 'redis://r' } },
    variablesProviders: [{ type: 'env', prefix: 'X' }],
    outboundHttp: { maxConnections: 8 },
    outboundRedis: {},
  });
});

t.test('store labels in kebab-case and snake_case are accepted', async (t) => {
  const config = parseRuntimeConfig(
    '[key_value_store.user-sessions]\ntype = "spin"\n[key_value_store.user_sessions2]\ntype = "spin"\n[key_value_store.a]\ntype = "spin"\n',
    FILE,
  );
  t.strictSame([...config.keyValueStores.keys()], ['user-sessions', 'user_sessions2', 'a']);
});

t.test('a byte order mark is ignored', async (t) => {
  const config = parseRuntimeConfig('\uFEFFstate_dir = "s"\n', FILE);
  t.equal(config.stateDir, `${DIR}/s`);
});

t.test('static values are exactly the strings written', async (t) => {
  const config = parseRuntimeConfig(
    '[[variables_provider]]\ntype = "static"\nvalues = { token = "a=b", empty = "", multi = """x\ny""" }\n',
    FILE,
  );
  const provider = config.variablesProviders[0];
  if (provider?.type !== 'static') return t.fail('expected a static provider');
  t.same({ ...provider.values }, { token: 'a=b', empty: '', multi: 'x\ny' });
  t.ok(Object.isFrozen(provider.values));
});

t.test('redactUrl hides passwords and only passwords', async (t) => {
  t.equal(redactUrl('redis://user:pass@host:6379/0'), 'redis://user:***@host:6379/0');
  t.equal(redactUrl('redis://:pass@host'), 'redis://:***@host');
  t.equal(redactUrl('rediss://user:p@ss@host'), 'rediss://user:***@host', 'up to the last @');
  t.equal(redactUrl('redis://host:6379'), 'redis://host:6379', 'nothing to hide');
  t.equal(redactUrl('redis://user@host'), 'redis://user@host', 'a user name alone is kept');
  t.equal(redactUrl('user:pass@host'), 'user:***@host', 'no scheme');
});

t.test('loadRuntimeConfig', async (t) => {
  t.test('reads a file and resolves against its directory', async (t) => {
    const dir = t.testdir({
      conf: {
        'runtime-config.toml': '[key_value_store.default]\ntype = "spin"\npath = "kv"\n\n[[variables_provider]]\ntype = "env"\ndotenv_path = "app.env"\n',
      },
    });
    const file = path.join(dir, 'conf', 'runtime-config.toml');
    const config = await loadRuntimeConfig(file);
    t.equal(config.path, file);
    t.same(config.keyValueStores.get('default'), { type: 'spin', path: path.join(dir, 'conf', 'kv') });
    t.same(config.variablesProviders, [{ type: 'env', prefix: 'SPIN_VARIABLE', dotenvPath: path.join(dir, 'conf', 'app.env') }]);
  });

  t.test('reports problems with the path as given', async (t) => {
    const dir = t.testdir({});
    const file = path.join(dir, 'rc.toml');
    writeFileSync(file, 'state_dir = ".spin"\n[sqlite_database.default]\ntype = "spin"\n');
    await t.rejects(loadRuntimeConfig(file), {
      code: 'SPINET_ERR_RUNTIME_CONFIG',
      message: `${file}:2: sqlite_database: spinet does not support SQLite databases yet. Remove the [sqlite_database] tables and keep data in a key-value store ([key_value_store.<label>]) instead.`,
    });
  });

  t.test('a missing file is a clear error', async (t) => {
    const dir = t.testdir({});
    const file = path.join(dir, 'nope.toml');
    const error = await loadRuntimeConfig(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof RuntimeConfigError);
    t.equal((error as RuntimeConfigError).message, `${file}: runtime config file not found. Check the --runtime-config-file path (relative paths start at the working directory).`);
    t.match((error as RuntimeConfigError).cause, { code: 'ENOENT' });
  });

  t.test('a directory is a clear error', async (t) => {
    const dir = t.testdir({});
    mkdirSync(path.join(dir, 'rc.toml'));
    await t.rejects(loadRuntimeConfig(path.join(dir, 'rc.toml')), {
      code: 'SPINET_ERR_RUNTIME_CONFIG',
      message: /rc\.toml: is a directory, not a runtime config file\. Pass the path of the TOML file itself\./,
    });
  });
});
