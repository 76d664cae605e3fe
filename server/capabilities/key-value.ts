/**
 * Key-value backends for `fermyon:spin/key-value@2.0.0`.
 *
 * - Embedded (runtime config `type = "spin"`, and the `default` store when nothing is configured):
 *   LMDB through lmdb-js (prebuilt binaries from npm, no compiler), in `<state_dir>/spinet-kv`. Writes
 *   are committed to disk before the guest's `set` returns, so data survives a crash or restart. Keys
 *   are namespaced by app and store label, so apps sharing a state directory never see each other's keys.
 * - Redis (`type = "redis"`, `url = ...`): keys as written, like Spin's Redis store, so Spin apps and
 *   spinet apps pointed at the same database share data. Under `spinet serve`, where one runtime config
 *   serves every tenant, keys get the app's name as a prefix (`<app>:<key>`) so tenants stay apart.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Database, RootDatabase } from 'lmdb';
import type { RedisClients } from './redis-clients.js';
import { HostCallError } from './host-session.js';

/** Limits a guest's keys and values are held to (Spin's SQLite store has none; a gateway needs them). */
export interface KvLimits {
  /** Longest key, in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** Largest value, in bytes. */
  readonly maxValueBytes: number;
}

export const DEFAULT_KV_LIMITS: KvLimits = Object.freeze({ maxKeyBytes: 1024, maxValueBytes: 16 * 1024 * 1024 });

/** One store as a component sees it. */
export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  keys(): Promise<string[]>;
  /** Human-readable backend, for logs (never includes credentials). */
  readonly describe: string;
}

/** Checks a key and (optionally) a value against the limits; the error names the limit and the size. */
export function checkKv(limits: KvLimits, key: string, value?: Uint8Array): void {
  const keyBytes = Buffer.byteLength(key, 'utf8');
  if (keyBytes > limits.maxKeyBytes) {
    throw new HostCallError({ tag: 'other', val: `key is ${keyBytes} bytes; the limit is ${limits.maxKeyBytes} bytes` });
  }
  if (value !== undefined && value.length > limits.maxValueBytes) {
    throw new HostCallError({
      tag: 'other',
      val: `value for key "${key.length > 64 ? `${key.slice(0, 64)}…` : key}" is ${value.length} bytes; the limit is ${limits.maxValueBytes} bytes (SPINET_KV_MAX_VALUE_BYTES)`,
    });
  }
}

function backendFailure(what: string, err: unknown): HostCallError {
  return new HostCallError({ tag: 'other', val: `${what}: ${err instanceof Error ? err.message : String(err)}` });
}

const SEP = 0x00;

// lmdb (a native addon and its msgpack stack) loads when an app first opens an embedded store, not in
// every gateway's start-up; its CommonJS build, so that opening stays synchronous.
const require = createRequire(import.meta.url);
let lmdb: typeof import('lmdb') | undefined;

/** The embedded LMDB environments, one per directory, shared by every app that uses it. */
export class EmbeddedKv {
  readonly #envs = new Map<string, RootDatabase<Buffer, Buffer>>();

  /** The store `label` of `app` in the LMDB environment at `dir` (created on first use). */
  store(dir: string, app: string, label: string): KvStore {
    const db = this.#env(dir);
    const prefix = Buffer.concat([Buffer.from(app, 'utf8'), Buffer.of(SEP), Buffer.from(label, 'utf8'), Buffer.of(SEP)]);
    return new LmdbStore(db, prefix, `embedded store "${label}" in ${dir}`);
  }

  #env(dir: string): RootDatabase<Buffer, Buffer> {
    const resolved = path.resolve(dir);
    let db = this.#envs.get(resolved);
    if (!db) {
      mkdirSync(resolved, { recursive: true });
      lmdb ??= require('lmdb') as typeof import('lmdb');
      db = lmdb.open<Buffer, Buffer>({ path: resolved, encoding: 'binary', keyEncoding: 'binary', compression: false });
      this.#envs.set(resolved, db);
    }
    return db;
  }

  /** Flushes and closes every environment. */
  async close(): Promise<void> {
    const envs = [...this.#envs.values()];
    this.#envs.clear();
    await Promise.all(envs.map((db) => db.close()));
  }
}

class LmdbStore implements KvStore {
  constructor(
    readonly db: Database<Buffer, Buffer>,
    readonly prefix: Buffer,
    readonly describe: string,
  ) {}

  #key(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key, 'utf8')]);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const v = this.db.getBinary(this.#key(key));
      return v === undefined ? undefined : new Uint8Array(v);
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    try {
      await this.db.put(this.#key(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.db.remove(this.#key(key));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return this.db.doesExist(this.#key(key));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async keys(): Promise<string[]> {
    const end = Buffer.from(this.prefix);
    end[end.length - 1] = SEP + 1;
    const out: string[] = [];
    try {
      for (const k of this.db.getKeys({ start: this.prefix, end })) out.push((k as Buffer).subarray(this.prefix.length).toString('utf8'));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
    return out;
  }
}

/** A store kept in Redis (runtime config `type = "redis"`). */
export class RedisKvStore implements KvStore {
  /**
   * @param keyPrefix put before every key in Redis and taken off in `keys()` (a tenant's namespace);
   * must hold no glob characters (app names cannot).
   */
  constructor(
    readonly clients: RedisClients,
    readonly url: string,
    readonly describe: string,
    readonly keyPrefix = '',
  ) {}

  #k(key: string): string {
    return this.keyPrefix + key;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const v = await this.clients.get(this.url).getBuffer(this.#k(key));
      return v === null ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    try {
      await this.clients.get(this.url).set(this.#k(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.clients.get(this.url).del(this.#k(key));
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await this.clients.get(this.url).exists(this.#k(key))) > 0;
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
  }

  async keys(): Promise<string[]> {
    // SCAN, not KEYS: a big database must not stall Redis for everyone else.
    const client = this.clients.get(this.url);
    const out = new Set<string>();
    try {
      let cursor = '0';
      do {
        const [next, batch] = this.keyPrefix === '' ? await client.scan(cursor, 'COUNT', 1000) : await client.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 1000);
        for (const k of batch) out.add(k.slice(this.keyPrefix.length));
        cursor = next;
      } while (cursor !== '0');
    } catch (err) {
      throw backendFailure(this.describe, err);
    }
    return [...out];
  }
}
