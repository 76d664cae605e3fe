/**
 * Gateway configuration: one schema, read from flags and environment variables, validated with clear
 * errors, returned frozen. Flags win over environment variables, which win over defaults.
 */
import os from 'node:os';
import path from 'node:path';
import { ConfigInvalidError } from './errors.js';
import { redactUrl } from './capabilities/redact-url.js';

/** Everything the gateway needs to start. */
export interface GatewayConfig {
  /** spin.toml path or a directory containing one. */
  readonly manifest: string;
  readonly host: string;
  readonly port: number;
  /** Worker threads that run guests. */
  readonly workers: number;
  /** Requests that may wait for a worker before 503. */
  readonly maxQueue: number;
  /** Wall-clock limit per guest run, in milliseconds (504 past it). */
  readonly deadlineMs: number;
  /** Request body limit in bytes (413 past it). */
  readonly maxBodyBytes: number;
  /** Request body bytes read before a worker is taken (all of a smaller body). */
  readonly bodyBufferBytes: number;
  /** Time a client has to deliver those bytes (→ 408). */
  readonly bodyTimeoutMs: number;
  /** Response body limit in bytes (past it the response is cut off; 500 if nothing was sent yet). */
  readonly maxResponseBytes: number;
  /** Cap on each guest instance's linear memory, in bytes (a guest growing past it fails → 500). */
  readonly maxInstanceMemory: number;
  /** Precompile cache bound in bytes. */
  readonly cacheMaxBytes: number;
  /** On-disk transpile cache directory; empty string disables it. */
  readonly cacheDir: string;
  readonly logLevel: string;
  /** Whether to log every request (Fastify's access log). */
  readonly accessLog: boolean;
  /** How long shutdown waits for in-flight requests, in milliseconds. */
  readonly shutdownGraceMs: number;
  /** Spin runtime config file (key-value stores, variable providers), absolute; undefined = none. */
  readonly runtimeConfigFile: string | undefined;
  /** Where apps keep state (the embedded key-value store); undefined = `.spin` next to each spin.toml. */
  readonly stateDir: string | undefined;
  /** `--variable` arguments as typed (`name=value`, `name=@file`, `@file.json`, `@file.toml`). */
  readonly variables: readonly string[];
  /** Largest key-value value a guest may store, in bytes. */
  readonly kvMaxValueBytes: number;
  /**
   * A separate listener for operators (/metrics and the status page), e.g. 127.0.0.1:9090; when set,
   * those routes leave the gateway port. Undefined = served on the gateway port.
   */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
}

/** The names of environment variables, per config key, for docs and messages. */
export const ENV_NAMES: Readonly<Record<keyof GatewayConfig, string>> = {
  manifest: 'SPINET_MANIFEST',
  host: 'SPINET_LISTEN',
  port: 'SPINET_LISTEN',
  workers: 'SPINET_WORKERS',
  maxQueue: 'SPINET_MAX_QUEUE',
  deadlineMs: 'SPINET_DEADLINE_MS',
  maxBodyBytes: 'SPINET_MAX_BODY_BYTES',
  bodyBufferBytes: 'SPINET_BODY_BUFFER_BYTES',
  bodyTimeoutMs: 'SPINET_BODY_TIMEOUT_MS',
  maxInstanceMemory: 'SPINET_MAX_INSTANCE_MEMORY',
  maxResponseBytes: 'SPINET_MAX_RESPONSE_BYTES',
  cacheMaxBytes: 'SPINET_CACHE_MAX_BYTES',
  cacheDir: 'SPINET_CACHE_DIR',
  logLevel: 'SPINET_LOG_LEVEL',
  accessLog: 'SPINET_ACCESS_LOG',
  shutdownGraceMs: 'SPINET_SHUTDOWN_GRACE_MS',
  runtimeConfigFile: 'SPINET_RUNTIME_CONFIG_FILE',
  stateDir: 'SPINET_STATE_DIR',
  variables: '(--variable only)',
  kvMaxValueBytes: 'SPINET_KV_MAX_VALUE_BYTES',
  metricsListen: 'SPINET_METRICS_LISTEN',
};

/** Flags the CLI parsed (all optional, strings as typed). */
export interface ConfigFlags {
  readonly manifest?: string | undefined;
  readonly listen?: string | undefined;
  readonly workers?: string | undefined;
  readonly deadlineMs?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly runtimeConfigFile?: string | undefined;
  readonly stateDir?: string | undefined;
  readonly variables?: readonly string[] | undefined;
  readonly metricsListen?: string | undefined;
}

/** Parses `host:port` (IPv6 in brackets) with a clear error. */
export function parseListen(value: string, source: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigInvalidError(`${source}: "${value}" is not a listen address; use host:port, e.g. 127.0.0.1:3000 or [::1]:3000`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

function intFrom(value: string | undefined, fallback: number, source: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigInvalidError(`${source}: "${value}" must be an integer between ${min} and ${max}`);
  }
  return n;
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : path.resolve(value);
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Builds the frozen gateway config from flags and an environment (process.env by default). */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const listenRaw = flags.listen ?? env.SPINET_LISTEN ?? env.SPIN_HTTP_LISTEN_ADDR ?? '127.0.0.1:3000';
  const listenSource = flags.listen ? '--listen' : env.SPINET_LISTEN ? 'SPINET_LISTEN' : env.SPIN_HTTP_LISTEN_ADDR ? 'SPIN_HTTP_LISTEN_ADDR' : 'default listen address';
  const { host, port } = parseListen(listenRaw, listenSource);
  const logLevel = flags.logLevel ?? env.SPINET_LOG_LEVEL ?? 'info';
  if (!LEVELS.has(logLevel)) {
    throw new ConfigInvalidError(`${flags.logLevel ? '--log-level' : 'SPINET_LOG_LEVEL'}: "${logLevel}" is not a log level; use one of ${[...LEVELS].join(', ')}`);
  }
  const accessLogRaw = env.SPINET_ACCESS_LOG ?? 'true';
  if (!['true', 'false', '1', '0'].includes(accessLogRaw)) {
    throw new ConfigInvalidError(`SPINET_ACCESS_LOG: "${accessLogRaw}" must be true or false`);
  }
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const config: GatewayConfig = {
    manifest: path.resolve(flags.manifest ?? env.SPINET_MANIFEST ?? '.'),
    host,
    port,
    workers: intFrom(flags.workers ?? env.SPINET_WORKERS, Math.max(2, cpus), flags.workers ? '--workers' : 'SPINET_WORKERS', 1, 256),
    maxQueue: intFrom(env.SPINET_MAX_QUEUE, 1024, 'SPINET_MAX_QUEUE', 0, 1_000_000),
    deadlineMs: intFrom(flags.deadlineMs ?? env.SPINET_DEADLINE_MS, 30_000, flags.deadlineMs ? '--deadline-ms' : 'SPINET_DEADLINE_MS', 1, 3_600_000),
    maxBodyBytes: intFrom(env.SPINET_MAX_BODY_BYTES, 32 * 1024 * 1024, 'SPINET_MAX_BODY_BYTES', 0, 2 ** 40),
    bodyBufferBytes: intFrom(env.SPINET_BODY_BUFFER_BYTES, 64 * 1024, 'SPINET_BODY_BUFFER_BYTES', 1, 64 * 1024 * 1024),
    bodyTimeoutMs: intFrom(env.SPINET_BODY_TIMEOUT_MS, 10_000, 'SPINET_BODY_TIMEOUT_MS', 1, 3_600_000),
    maxResponseBytes: intFrom(env.SPINET_MAX_RESPONSE_BYTES, 256 * 1024 * 1024, 'SPINET_MAX_RESPONSE_BYTES', 0, 2 ** 40),
    maxInstanceMemory: intFrom(
      env.SPINET_MAX_INSTANCE_MEMORY ?? env.SPIN_MAX_INSTANCE_MEMORY,
      128 * 1024 * 1024,
      env.SPINET_MAX_INSTANCE_MEMORY !== undefined ? 'SPINET_MAX_INSTANCE_MEMORY' : 'SPIN_MAX_INSTANCE_MEMORY',
      65536,
      4 * 1024 * 1024 * 1024,
    ),
    cacheMaxBytes: intFrom(env.SPINET_CACHE_MAX_BYTES, 512 * 1024 * 1024, 'SPINET_CACHE_MAX_BYTES', 1024 * 1024, 2 ** 40),
    cacheDir: env.SPINET_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'spinet', 'transpiled'),
    logLevel,
    accessLog: accessLogRaw === 'true' || accessLogRaw === '1',
    shutdownGraceMs: intFrom(env.SPINET_SHUTDOWN_GRACE_MS, 10_000, 'SPINET_SHUTDOWN_GRACE_MS', 0, 600_000),
    runtimeConfigFile: optionalPath(flags.runtimeConfigFile ?? env.SPINET_RUNTIME_CONFIG_FILE ?? env.RUNTIME_CONFIG_FILE),
    stateDir: optionalPath(flags.stateDir ?? env.SPINET_STATE_DIR),
    variables: Object.freeze([...(flags.variables ?? [])]),
    metricsListen:
      (flags.metricsListen ?? env.SPINET_METRICS_LISTEN ?? '') === ''
        ? undefined
        : parseListen((flags.metricsListen ?? env.SPINET_METRICS_LISTEN)!, flags.metricsListen ? '--metrics-listen' : 'SPINET_METRICS_LISTEN'),
    kvMaxValueBytes: intFrom(env.SPINET_KV_MAX_VALUE_BYTES, 16 * 1024 * 1024, 'SPINET_KV_MAX_VALUE_BYTES', 1, 1024 * 1024 * 1024),
  };
  return Object.freeze(config);
}

/** `spinet serve`'s settings: the gateway's config plus the app store, tenancy, admin API and fleet. */
export interface ServeConfig {
  readonly gateway: GatewayConfig;
  /** The app store directory, absolute. */
  readonly storeDir: string;
  /** App `<name>` answers on `<name>.<baseDomain>`. */
  readonly baseDomain: string;
  /** Whether `/<app>/...` reaches app `<app>` on hosts no app claims. */
  readonly pathPrefix: boolean;
  readonly adminListen: { readonly host: string; readonly port: number };
  /** The admin API's bearer token; undefined only with adminLocalOnly on loopback. */
  readonly adminToken: string | undefined;
  readonly adminLocalOnly: boolean;
  /** Redis URL for fleet change messages; undefined = the periodic re-sync alone. */
  readonly fleetRedis: string | undefined;
  /** Milliseconds between re-syncs of every app with the store; 0 = never. */
  readonly fleetResyncMs: number;
}

/** Flags `spinet serve` parsed, on top of the gateway's. */
export interface ServeFlags extends ConfigFlags {
  readonly store?: string | undefined;
  readonly baseDomain?: string | undefined;
  readonly noPathPrefix?: boolean | undefined;
  readonly adminListen?: string | undefined;
  readonly adminLocalOnly?: boolean | undefined;
  readonly fleetRedis?: string | undefined;
  readonly fleetResyncMs?: string | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Builds the frozen `spinet serve` config from flags and an environment; ConfigInvalidError naming the source and fix. */
export function loadServeConfig(flags: ServeFlags = {}, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const storeDir = path.resolve(flags.store ?? env.SPINET_STORE ?? '.spinet-store');
  const adminListen = parseListen(flags.adminListen ?? env.SPINET_ADMIN_LISTEN ?? '127.0.0.1:3001', flags.adminListen ? '--admin-listen' : 'SPINET_ADMIN_LISTEN');
  const adminToken = env.SPINET_ADMIN_TOKEN === '' ? undefined : env.SPINET_ADMIN_TOKEN;
  const adminLocalOnly = flags.adminLocalOnly === true;
  if (adminToken === undefined && !adminLocalOnly) {
    throw new ConfigInvalidError('the admin API needs a token: set SPINET_ADMIN_TOKEN, or pass --admin-local-only to run it without one on 127.0.0.1');
  }
  if (adminLocalOnly && !LOOPBACK.has(adminListen.host)) {
    throw new ConfigInvalidError(`--admin-local-only: the admin API must listen on loopback (127.0.0.1 or ::1), not ${adminListen.host}; set SPINET_ADMIN_TOKEN to listen elsewhere`);
  }
  const pathPrefixRaw = env.SPINET_PATH_PREFIX ?? 'true';
  if (!['true', 'false', '1', '0'].includes(pathPrefixRaw)) throw new ConfigInvalidError(`SPINET_PATH_PREFIX: "${pathPrefixRaw}" must be true or false`);
  const fleetRedis = (flags.fleetRedis ?? env.SPINET_FLEET_REDIS) || undefined;
  if (fleetRedis !== undefined && !/^rediss?:\/\/[^/]/.test(fleetRedis)) {
    throw new ConfigInvalidError(`${flags.fleetRedis ? '--fleet-redis' : 'SPINET_FLEET_REDIS'}: "${redactUrl(fleetRedis)}" is not a redis:// or rediss:// URL`);
  }
  const fleetResyncMs = intFrom(flags.fleetResyncMs ?? env.SPINET_FLEET_RESYNC_MS, 30_000, flags.fleetResyncMs ? '--fleet-resync-ms' : 'SPINET_FLEET_RESYNC_MS', 0, 86_400_000);
  const gateway = loadConfig({ ...flags, stateDir: flags.stateDir ?? env.SPINET_STATE_DIR ?? path.join(storeDir, 'state') }, env);
  return Object.freeze({
    gateway,
    storeDir,
    baseDomain: flags.baseDomain ?? env.SPINET_BASE_DOMAIN ?? 'localhost',
    pathPrefix: flags.noPathPrefix !== true && (pathPrefixRaw === 'true' || pathPrefixRaw === '1'),
    adminListen,
    adminToken,
    adminLocalOnly,
    fleetRedis,
    fleetResyncMs,
  });
}
