/**
 * spinet's guest SDK: Spin's host interfaces with the shape of Spin's JS SDK, so a guest reads like one
 * written for Spin (`Kv.openDefault().get(key)`, `Variables.get(name)`, `Redis.open(address).publish(...)`).
 * Outbound HTTP needs no SDK: StarlingMonkey's `fetch` uses wasi:http/outgoing-handler.
 *
 * Host errors surface as `SpinError` with the WIT error variant's tag (`access-denied`, `invalid-address`, ...).
 */
import { Store } from 'fermyon:spin/key-value@2.0.0';
import { get as getVariable } from 'fermyon:spin/variables@2.0.0';
import { Connection } from 'fermyon:spin/redis@2.0.0';
import type { RedisParameter, RedisResult } from 'fermyon:spin/redis@2.0.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A host call failed; `tag` is the WIT error case, `detail` its message when it has one. */
export class SpinError extends Error {
  constructor(
    readonly tag: string,
    readonly detail: string | undefined,
    what: string,
  ) {
    super(`${what}: ${tag}${detail ? ` (${detail})` : ''}`);
    this.name = 'SpinError';
  }
}

function hostCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const payload = (err as { payload?: { tag?: string; val?: unknown } }).payload;
    if (payload && typeof payload.tag === 'string') throw new SpinError(payload.tag, typeof payload.val === 'string' ? payload.val : undefined, what);
    throw err;
  }
}

function toBytes(value: Uint8Array | string | object): Uint8Array {
  // Byte lists from the host are typed arrays but not always this realm's Uint8Array: check the shape.
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));
}

/** An open key-value store. */
export class KvStore {
  constructor(private readonly store: Store, readonly label: string) {}
  /** The value's bytes, or null when the key is absent. */
  get(key: string): Uint8Array | null {
    return hostCall(`kv get ${key}`, () => this.store.get(key)) ?? null;
  }
  getString(key: string): string | null {
    const v = this.get(key);
    return v === null ? null : decoder.decode(v);
  }
  getJson<T = unknown>(key: string): T | null {
    const v = this.getString(key);
    return v === null ? null : (JSON.parse(v) as T);
  }
  /** Stores bytes, a string (UTF-8) or any other value as JSON. */
  set(key: string, value: Uint8Array | string | object): void {
    hostCall(`kv set ${key}`, () => this.store.set(key, toBytes(value)));
  }
  delete(key: string): void {
    hostCall(`kv delete ${key}`, () => this.store.delete(key));
  }
  exists(key: string): boolean {
    return hostCall(`kv exists ${key}`, () => this.store.exists(key));
  }
  getKeys(): string[] {
    return hostCall('kv get-keys', () => this.store.getKeys());
  }
}

export const Kv = {
  /** Opens the store `label`; the component's `key_value_stores` must list it. */
  open(label: string): KvStore {
    return new KvStore(hostCall(`kv open ${label}`, () => Store.open(label)), label);
  },
  openDefault(): KvStore {
    return Kv.open('default');
  },
};

export const Variables = {
  /** The component variable's value, or null when the component has no such variable. */
  get(name: string): string | null {
    try {
      return hostCall(`variable ${name}`, () => getVariable(name));
    } catch (err) {
      if (err instanceof SpinError && err.tag === 'undefined') return null;
      throw err;
    }
  },
};

/** A Redis connection (pooled by the gateway). */
export class RedisConnection {
  constructor(private readonly conn: Connection, readonly address: string) {}
  publish(channel: string, payload: Uint8Array | string): void {
    hostCall(`redis publish ${channel}`, () => this.conn.publish(channel, toBytes(payload)));
  }
  get(key: string): Uint8Array | null {
    return hostCall(`redis get ${key}`, () => this.conn.get(key)) ?? null;
  }
  getString(key: string): string | null {
    const v = this.get(key);
    return v === null ? null : decoder.decode(v);
  }
  set(key: string, value: Uint8Array | string): void {
    hostCall(`redis set ${key}`, () => this.conn.set(key, toBytes(value)));
  }
  incr(key: string): bigint {
    return hostCall(`redis incr ${key}`, () => this.conn.incr(key));
  }
  del(...keys: string[]): number {
    return hostCall('redis del', () => this.conn.del(keys));
  }
  sadd(key: string, ...values: string[]): number {
    return hostCall(`redis sadd ${key}`, () => this.conn.sadd(key, values));
  }
  smembers(key: string): string[] {
    return hostCall(`redis smembers ${key}`, () => this.conn.smembers(key));
  }
  srem(key: string, ...values: string[]): number {
    return hostCall(`redis srem ${key}`, () => this.conn.srem(key, values));
  }
  /** Any other command; strings and Uint8Arrays are sent as binary, bigints and numbers as integers. */
  execute(command: string, ...args: Array<string | Uint8Array | bigint | number>): RedisResult[] {
    const params: RedisParameter[] = args.map((a) =>
      typeof a === 'bigint' || typeof a === 'number' ? { tag: 'int64', val: BigInt(a) } : { tag: 'binary', val: toBytes(a) },
    );
    return hostCall(`redis ${command}`, () => this.conn.execute(command, params));
  }
}

export const Redis = {
  /** Connects to `address` (redis://host:port); the component's `allowed_outbound_hosts` must allow it. */
  open(address: string): RedisConnection {
    return new RedisConnection(hostCall(`redis open ${address}`, () => Connection.open(address)), address);
  },
};
