/**
 * Spin's runtime config file (`spin up --runtime-config-file`), the subset spinet serves: the state and log
 * directories, an instance memory cap, key-value store backends per label, variables providers and outbound
 * connection limits. Modelled on spinframework/spin crates/runtime-config.
 *
 * Like Spin, every key must be understood: an unknown key is an error, never silently ignored. Keys Spin
 * knows but spinet does not serve (SQLite, LLM, client TLS, Vault, Cosmos DB, ...) are refused with a message
 * that says so and what to use instead. Relative paths resolve against the runtime config file's directory.
 *
 * Every problem is thrown as a RuntimeConfigError worded `<file>:<line>: <key path>: <what>. <fix>.`
 * Errors end up in logs, so they never echo a value that may be secret: Redis passwords are redacted, static
 * variable values and TOML source lines are never quoted.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { formatKeyPath } from '../manifest/manifest-diagnostics.js';
import { storeLabelProblem } from '../manifest/spin-ids.js';
import { buildTomlLocator, type KeyPath, type TomlLocator } from '../manifest/toml-locator.js';

/** The runtime config file is missing, not TOML, or breaks a rule (SPINET_ERR_RUNTIME_CONFIG). */
import { RuntimeConfigError } from '../errors.js';
import { redactUrl } from './redact-url.js';
export { redactUrl };
export { RuntimeConfigError };

/** Backend of one key-value store label. */
export type KeyValueStoreConfig =
  /** spinet's embedded store; `path` (absolute) is where it keeps its data, else the default location. */
  | { readonly type: 'spin'; readonly path?: string }
  /** A Redis server; `url` is a redis:// or rediss:// URL (it may hold a password: never log it). */
  | { readonly type: 'redis'; readonly url: string };

/** One source of application variable values, consulted in the order written. */
export type VariablesProviderConfig =
  /** Environment variables `<prefix>_<NAME>`, falling back to the dotenv file at `dotenvPath` (absolute). */
  | { readonly type: 'env'; readonly prefix: string; readonly dotenvPath?: string }
  /** Fixed values by variable name. */
  | { readonly type: 'static'; readonly values: Readonly<Record<string, string>> };

/** A parsed and validated runtime config. */
export interface RuntimeConfig {
  /** Absolute path of the file, when loaded from one. */
  readonly path?: string;
  /** Absolute state directory; unset when absent or written as `""` (Spin's "no state dir"). */
  readonly stateDir?: string;
  /** Absolute log directory; unset when absent or `""`. spinet logs to stdout; the value is kept as written. */
  readonly logDir?: string;
  /** Cap on one instance's linear memory, in bytes. */
  readonly maxInstanceMemory?: number;
  /** Store label → backend, in file order. Labels not listed use spinet's defaults (Spin: "default" only). */
  readonly keyValueStores: ReadonlyMap<string, KeyValueStoreConfig>;
  /**
   * The configured providers, in file order. Spin always consults one more after these, an `env` provider with
   * prefix `SPIN_VARIABLE` and dotenv file `.env` in the working directory; it is not included here.
   */
  readonly variablesProviders: readonly VariablesProviderConfig[];
  readonly outboundHttp: { readonly maxConnections?: number };
  readonly outboundRedis: { readonly maxConnections?: number };
}

/** The runtime config when no file is given. */
export const EMPTY_RUNTIME_CONFIG: RuntimeConfig = Object.freeze({
  keyValueStores: new Map<string, KeyValueStoreConfig>(),
  variablesProviders: Object.freeze([]) as readonly VariablesProviderConfig[],
  outboundHttp: Object.freeze({}),
  outboundRedis: Object.freeze({}),
});

/** Prefix of the env provider when `prefix` is not written (Spin's DEFAULT_ENV_PREFIX). */
export const DEFAULT_ENV_PREFIX = 'SPIN_VARIABLE';

// ── what is accepted ──────────────────────────────────────────────────────────────

const TOP_LEVEL_KEYS = [
  'state_dir',
  'log_dir',
  'max_instance_memory',
  'key_value_store',
  'variables_provider',
  'config_provider',
  'outbound_http',
  'outbound_redis',
] as const;

interface Refusal {
  readonly what: string;
  readonly fix: string;
}

const KV_FIX = 'Use type = "spin" (spinet\'s embedded store, optional path) or type = "redis" (with a url) instead.';
const VARIABLES_FIX =
  'Use type = "env" (environment variables, optional prefix and dotenv_path) or type = "static" (a values table) instead.';

/** Top-level tables Spin knows that spinet does not serve. */
const UNSUPPORTED_TABLES: ReadonlyMap<string, Refusal> = new Map([
  [
    'sqlite_database',
    {
      what: 'spinet does not support SQLite databases yet',
      fix: 'Remove the [sqlite_database] tables and keep data in a key-value store ([key_value_store.<label>]) instead.',
    },
  ],
  [
    'llm_compute',
    {
      what: 'spinet does not support Serverless AI (llm_compute) yet',
      fix: 'Remove the [llm_compute] table and call an inference service over outbound HTTP instead.',
    },
  ],
  [
    'client_tls',
    {
      what: 'spinet does not support client TLS settings yet',
      fix: 'Remove the [[client_tls]] entries; outbound HTTPS trusts Node\'s CA store (add a custom CA with the NODE_EXTRA_CA_CERTS environment variable).',
    },
  ],
  [
    'outbound_networking',
    {
      what: 'spinet does not support [outbound_networking] settings yet',
      fix: 'Remove the table and restrict outbound access per component with allowed_outbound_hosts in spin.toml instead.',
    },
  ],
  [
    'blob_store',
    {
      what: 'spinet does not support blob stores yet',
      fix: 'Remove the [blob_store] tables and keep data in a key-value store ([key_value_store.<label>]) instead.',
    },
  ],
]);

const KV_TYPES = ['spin', 'redis'] as const;
const UNSUPPORTED_KV_TYPES: ReadonlyMap<string, Refusal> = new Map([
  ['azure_cosmos', { what: 'spinet does not support Azure Cosmos DB key-value stores', fix: KV_FIX }],
  ['aws_dynamo', { what: 'spinet does not support AWS DynamoDB key-value stores', fix: KV_FIX }],
]);

const VARIABLES_TYPES = ['env', 'static'] as const;
const UNSUPPORTED_VARIABLES_TYPES: ReadonlyMap<string, Refusal> = new Map([
  ['vault', { what: 'spinet does not support the HashiCorp Vault variables provider', fix: VARIABLES_FIX }],
  ['open_bao', { what: 'spinet does not support the OpenBao variables provider', fix: VARIABLES_FIX }],
  ['azure_key_vault', { what: 'spinet does not support the Azure Key Vault variables provider', fix: VARIABLES_FIX }],
]);

// ── TOML value helpers ────────────────────────────────────────────────────────────

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** What kind of TOML value `value` is, for "expected X, got Y" (never the value itself: it may be secret). */
function kindOf(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'bigint') return 'an integer';
  if (typeof value === 'number') return 'a float';
  if (typeof value === 'boolean') return 'a boolean';
  if (value instanceof Date) return 'a date-time';
  if (Array.isArray(value)) return 'an array';
  return 'a table';
}

/** The value at `at` in `root`, or `undefined`. */
function valueAt(root: Table, at: KeyPath): unknown {
  let value: unknown = root;
  for (const segment of at) {
    if (typeof segment === 'number') value = Array.isArray(value) ? value[segment] : undefined;
    else value = isTable(value) && Object.hasOwn(value, segment) ? value[segment] : undefined;
  }
  return value;
}

function quoteList(items: readonly string[]): string {
  return items.map((item) => `"${item}"`).join(', ');
}

/** Reads one runtime config document, raising every problem with its file, line and key path. */
class ConfigReader {
  constructor(
    /** The file as the caller named it, so users recognise it. */
    private readonly file: string,
    /** Directory relative paths resolve against. */
    private readonly baseDir: string,
    private readonly locator: TomlLocator,
    private readonly root: Table,
  ) {}

  /**
   * Line of `at`. A table only ever written through deeper headers (`[sqlite_database.default]` defines
   * `sqlite_database`) has no line of its own, so its first written descendant stands in for it.
   */
  private lineOf(at: KeyPath): number | undefined {
    if (at.length === 0) return undefined;
    let probe: KeyPath = at;
    let value: unknown = valueAt(this.root, at);
    for (let depth = 0; depth < 8; depth++) {
      const exact = this.locator.exactLineOf(probe);
      if (exact !== undefined) return exact;
      const first: string | number | undefined = Array.isArray(value)
        ? value.length > 0 ? 0 : undefined
        : isTable(value) ? Object.keys(value)[0] : undefined;
      if (first === undefined) break;
      probe = [...probe, first];
      value = (value as Record<string | number, unknown>)[first];
    }
    return this.locator.lineOf(at);
  }

  /** Throws `<file>:<line>: <key path>: <what>. <fix>` (`fix` is one or more full sentences). */
  fail(at: KeyPath, what: string, fix: string): never {
    const line = this.lineOf(at);
    const where = line === undefined ? this.file : `${this.file}:${line}`;
    const key = at.length > 0 ? ` ${formatKeyPath(at)}:` : '';
    throw new RuntimeConfigError(`${where}:${key} ${what}. ${fix}`);
  }

  /** Rejects any key of `table` not in `accepted`; keys in `refused` get their own explanation. */
  checkKeys(
    table: Table,
    at: KeyPath,
    accepted: readonly string[],
    refused: ReadonlyMap<string, Refusal> = new Map(),
  ): void {
    for (const key of Object.keys(table)) {
      if (accepted.includes(key)) continue;
      const refusal = refused.get(key);
      if (refusal !== undefined) this.fail([...at, key], refusal.what, refusal.fix);
      const where = at.length === 0 ? 'at the top level' : `in ${formatKeyPath(at)}`;
      this.fail(
        [...at, key],
        `unknown key ${JSON.stringify(key)}`,
        `Keys accepted ${where}: ${accepted.join(', ')}. Check the spelling or remove it.`,
      );
    }
  }

  table(value: unknown, at: KeyPath, fix: string): Table {
    if (!isTable(value)) this.fail(at, `expected a table, got ${kindOf(value)}`, fix);
    return value;
  }

  string(value: unknown, at: KeyPath, fix: string): string {
    if (typeof value !== 'string') this.fail(at, `expected a string, got ${kindOf(value)}`, fix);
    return value;
  }

  optionalString(table: Table, key: string, at: KeyPath, fix: string): string | undefined {
    const value = table[key];
    return value === undefined ? undefined : this.string(value, [...at, key], fix);
  }

  /** A positive integer that a JS number holds exactly. */
  positiveInteger(table: Table, key: string, at: KeyPath, unit: string): number | undefined {
    const value = table[key];
    if (value === undefined) return undefined;
    const here = [...at, key];
    const fix = `Write a whole number of ${unit} greater than 0, without quotes (e.g. ${key} = ${key === 'max_instance_memory' ? '134217728' : '32'}).`;
    if (typeof value !== 'bigint') this.fail(here, `expected a positive integer, got ${kindOf(value)}`, fix);
    if (value <= 0n) this.fail(here, `must be greater than 0, got ${value}`, fix);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(here, `${value} is too large`, fix);
    return Number(value);
  }

  /** A path that must not be empty, made absolute against the config file's directory. */
  resolvedPath(table: Table, key: string, at: KeyPath, fix: string): string | undefined {
    const value = this.optionalString(table, key, at, fix);
    if (value === undefined) return undefined;
    if (value.length === 0) this.fail([...at, key], 'the path is empty', `${fix} Omit ${key} to use the default.`);
    return path.resolve(this.baseDir, value);
  }

  /** A directory where `""` means unset, as Spin treats state_dir and log_dir. */
  directory(table: Table, key: string): string | undefined {
    const value = this.optionalString(table, key, [], `Write ${key} as a quoted path, relative to this file or absolute ("" for none).`);
    if (value === undefined || value.length === 0) return undefined;
    return path.resolve(this.baseDir, value);
  }

  /** `[<key>]` with only max_connections (outbound_http, outbound_redis). */
  connectionLimits(table: Table, key: string): { maxConnections?: number } {
    const value = table[key];
    if (value === undefined) return {};
    const at = [key];
    const section = this.table(value, at, `Write it as a [${key}] table with an optional max_connections = <number>.`);
    this.checkKeys(section, at, ['max_connections']);
    const maxConnections = this.positiveInteger(section, 'max_connections', at, 'connections');
    return maxConnections === undefined ? {} : { maxConnections };
  }

  keyValueStores(root: Table): Map<string, KeyValueStoreConfig> {
    const stores = new Map<string, KeyValueStoreConfig>();
    const value = root.key_value_store;
    if (value === undefined) return stores;
    const tableFix = 'Write one table per store label, e.g. [key_value_store.default] with type = "spin".';
    const all = this.table(value, ['key_value_store'], tableFix);
    for (const [label, config] of Object.entries(all)) {
      const at = ['key_value_store', label];
      const problem = storeLabelProblem(label);
      if (problem !== undefined) {
        this.fail(
          at,
          `invalid store label ${JSON.stringify(label)}: ${problem}`,
          'Rename it (e.g. "user-sessions" or "user_sessions") and use the same label in the components\' key_value_stores.',
        );
      }
      stores.set(label, this.keyValueStore(this.table(config, at, tableFix), at));
    }
    return stores;
  }

  private keyValueStore(store: Table, at: KeyPath): KeyValueStoreConfig {
    const type = this.type(store, at, KV_TYPES, UNSUPPORTED_KV_TYPES, 'key-value store');
    if (type === 'spin') {
      this.checkKeys(store, at, ['type', 'path']);
      const storePath = this.resolvedPath(store, 'path', at, 'Write path as a quoted path, relative to this file or absolute.');
      return storePath === undefined ? { type } : { type, path: storePath };
    }
    this.checkKeys(store, at, ['type', 'url']);
    const urlFix = 'Write url = "redis://<host>:<port>" (or rediss:// for TLS), e.g. url = "redis://localhost:6379".';
    if (store.url === undefined) this.fail(at, 'a redis store needs a url', urlFix);
    const url = this.string(store.url, [...at, 'url'], urlFix);
    const problem = redisUrlProblem(url);
    if (problem !== undefined) {
      this.fail([...at, 'url'], `${JSON.stringify(redactUrl(url))} is not a usable Redis URL: ${problem}`, urlFix);
    }
    return { type, url };
  }

  variablesProviders(root: Table): VariablesProviderConfig[] {
    const hasNew = root.variables_provider !== undefined;
    const hasOld = root.config_provider !== undefined;
    if (hasNew && hasOld) {
      this.fail(
        ['config_provider'],
        'both variables_provider and its older alias config_provider are written',
        'Move the [[config_provider]] entries into [[variables_provider]] and keep only that one.',
      );
    }
    const key = hasOld ? 'config_provider' : 'variables_provider';
    const value = root[key];
    if (value === undefined) return [];
    const arrayFix = `Write each provider as its own [[${key}]] table (two pairs of brackets).`;
    if (!Array.isArray(value)) this.fail([key], `expected an array of tables, got ${kindOf(value)}`, arrayFix);
    return value.map((entry, index) => this.variablesProvider(this.table(entry, [key, index], arrayFix), [key, index]));
  }

  private variablesProvider(provider: Table, at: KeyPath): VariablesProviderConfig {
    const type = this.type(provider, at, VARIABLES_TYPES, UNSUPPORTED_VARIABLES_TYPES, 'variables provider');
    if (type === 'env') {
      this.checkKeys(provider, at, ['type', 'prefix', 'dotenv_path']);
      const prefix =
        this.optionalString(provider, 'prefix', at, 'Write prefix as a quoted string, e.g. prefix = "MYAPP".') ?? DEFAULT_ENV_PREFIX;
      const dotenvPath = this.resolvedPath(
        provider,
        'dotenv_path',
        at,
        'Write dotenv_path as a quoted path to a .env file, relative to this file or absolute.',
      );
      return dotenvPath === undefined ? { type, prefix } : { type, prefix, dotenvPath };
    }
    this.checkKeys(provider, at, ['type', 'values']);
    const valuesFix = 'Write values = { <variable> = "<value>", ... } with string values.';
    if (provider.values === undefined) this.fail(at, 'a static provider needs a values table', valuesFix);
    const valuesAt = [...at, 'values'];
    const table = this.table(provider.values, valuesAt, valuesFix);
    const values: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, value] of Object.entries(table)) {
      values[name] = this.string(value, [...valuesAt, name], 'Quote the value: variable values are always strings.');
    }
    return { type, values: Object.freeze(values) };
  }

  /** Reads the required `type` of a store or provider, refusing known-but-unsupported and unknown types. */
  private type<T extends string>(
    table: Table,
    at: KeyPath,
    accepted: readonly T[],
    refused: ReadonlyMap<string, Refusal>,
    kind: string,
  ): T {
    const fix = `Set type to one of ${quoteList(accepted)}.`;
    if (table.type === undefined) this.fail(at, `a ${kind} needs a type`, fix);
    const type = this.string(table.type, [...at, 'type'], fix);
    const refusal = refused.get(type);
    if (refusal !== undefined) this.fail([...at, 'type'], refusal.what, refusal.fix);
    if (!(accepted as readonly string[]).includes(type)) {
      this.fail([...at, 'type'], `unknown ${kind} type ${JSON.stringify(type)}`, fix);
    }
    return type as T;
  }
}

/** Why `url` cannot be used as a Redis URL, or `undefined`. */
function redisUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it does not parse as a URL';
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `the scheme is "${parsed.protocol.slice(0, -1)}", not "redis" or "rediss"`;
  }
  if (parsed.hostname.length === 0) return 'it has no host';
  return undefined;
}

/** Parses TOML, turning smol-toml's error into `file:line:col` without quoting the (possibly secret) source. */
function parseToml(text: string, file: string): Table {
  try {
    // Integers as BigInt so `64` and `64.0` stay distinguishable (and large values exact).
    return parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code block>". The code block shows source
    // lines, which may hold passwords or static variable values, so only the reason is kept.
    const reason = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    throw new RuntimeConfigError(
      `${file}:${error.line}:${error.column}: TOML syntax error: ${reason}. ` +
        'Fix the TOML at that position (quote strings, one key per line, no duplicate keys or tables).',
      { cause: error },
    );
  }
}

/**
 * Parses and validates runtime config `text`. `file` names it in messages and is the base for relative
 * paths (its directory); `path` in the result is its absolute form.
 */
export function parseRuntimeConfig(text: string, file: string): RuntimeConfig {
  // Editors on Windows may save a BOM, which TOML does not allow but users cannot see.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const root = parseToml(source, file);
  const absolute = path.resolve(file);
  const reader = new ConfigReader(file, path.dirname(absolute), buildTomlLocator(source), root);
  reader.checkKeys(root, [], TOP_LEVEL_KEYS, UNSUPPORTED_TABLES);

  const stateDir = reader.directory(root, 'state_dir');
  const logDir = reader.directory(root, 'log_dir');
  const maxInstanceMemory = reader.positiveInteger(root, 'max_instance_memory', [], 'bytes');
  const keyValueStores = reader.keyValueStores(root);
  const variablesProviders = reader.variablesProviders(root);
  const outboundHttp = reader.connectionLimits(root, 'outbound_http');
  const outboundRedis = reader.connectionLimits(root, 'outbound_redis');

  return {
    path: absolute,
    ...(stateDir === undefined ? {} : { stateDir }),
    ...(logDir === undefined ? {} : { logDir }),
    ...(maxInstanceMemory === undefined ? {} : { maxInstanceMemory }),
    keyValueStores,
    variablesProviders,
    outboundHttp,
    outboundRedis,
  };
}

/** Reads and parses the runtime config file at `file` (as given on the command line). */
export async function loadRuntimeConfig(file: string): Promise<RuntimeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const [what, fix] =
      code === 'ENOENT'
        ? ['runtime config file not found', 'Check the --runtime-config-file path (relative paths start at the working directory).']
        : code === 'EISDIR'
          ? ['is a directory, not a runtime config file', 'Pass the path of the TOML file itself.']
          : [`the runtime config file cannot be read (${code ?? String(error)})`, 'Check that the file exists and is readable.'];
    throw new RuntimeConfigError(`${file}: ${what}. ${fix}`, { cause: error });
  }
  return parseRuntimeConfig(text, file);
}
