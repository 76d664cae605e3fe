/**
 * Spin's own host interfaces (`fermyon:spin/key-value|variables|redis@2.0.0`) on the worker side. Each
 * call goes to the gateway thread, which owns the backends, the secrets and the permission checks
 * (server/capabilities/); these classes only shape values the way jco passes them.
 */
import { callHost } from './host-channel.js';
import type { CallResult } from './host-channel.js';

type Err = { tag: 'err'; val: unknown };
type Ok<T> = { tag: 'ok'; val: T };

/** Spin's limit of open stores per instance (`store-table-full` past it). */
const MAX_OPEN_STORES = 256;
let openStores = 0;
let openConnections = 0;
/** Outbound Redis connections one instance may hold (Spin answers `too-many-connections` past it). */
const MAX_OPEN_CONNECTIONS = 64;

/** Forgets per-instance counters (called when an instance starts or ends). */
export function resetInstance(): void {
  openStores = 0;
  openConnections = 0;
}

function result<T>(r: CallResult): Ok<T> | Err {
  return r.ok ? { tag: 'ok', val: r.value as T } : { tag: 'err', val: r.error };
}

/** `fermyon:spin/key-value.store`. */
export class Store {
  #label: string | undefined;
  private constructor(label: string) {
    this.#label = label;
  }

  /** WIT `open`: the gateway checks the label against the component's `key_value_stores`. */
  static open(label: string): Store | Err {
    if (openStores >= MAX_OPEN_STORES) return { tag: 'err', val: { tag: 'store-table-full' } };
    const r = callHost('kv.open', label);
    if (!r.ok) return { tag: 'err', val: r.error };
    openStores++;
    return new Store(label);
  }

  #label_(): string {
    if (this.#label === undefined) throw new Error('key-value store used after it was dropped');
    return this.#label;
  }

  /** WIT `get`: none when absent. */
  get(key: string): Ok<Uint8Array | undefined> | Err {
    return result(callHost('kv.get', this.#label_(), key));
  }
  /** WIT `set`. */
  set(key: string, value: Uint8Array): Ok<undefined> | Err {
    return result(callHost('kv.set', this.#label_(), key, value));
  }
  /** WIT `delete`. */
  delete(key: string): Ok<undefined> | Err {
    return result(callHost('kv.delete', this.#label_(), key));
  }
  /** WIT `exists`. */
  exists(key: string): Ok<boolean> | Err {
    return result(callHost('kv.exists', this.#label_(), key));
  }
  /** WIT `get-keys`. */
  getKeys(): Ok<string[]> | Err {
    return result(callHost('kv.keys', this.#label_()));
  }
  [Symbol.dispose](): void {
    if (this.#label !== undefined) openStores--;
    this.#label = undefined;
  }
}

/** WIT `fermyon:spin/variables.get`. */
export function getVariable(name: string): Ok<string> | Err {
  return result(callHost('var.get', name));
}

/** `fermyon:spin/redis.connection`. */
export class Connection {
  #address: string | undefined;
  private constructor(address: string) {
    this.#address = address;
  }

  /** WIT `open`: the gateway checks the address against `allowed_outbound_hosts`. */
  static open(address: string): Connection | Err {
    if (openConnections >= MAX_OPEN_CONNECTIONS) return { tag: 'err', val: { tag: 'too-many-connections' } };
    const r = callHost('redis.open', address);
    if (!r.ok) return { tag: 'err', val: r.error };
    openConnections++;
    return new Connection(address);
  }

  #addr(): string {
    if (this.#address === undefined) throw new Error('redis connection used after it was dropped');
    return this.#address;
  }

  publish(channel: string, payload: Uint8Array): Ok<undefined> | Err {
    return result(callHost('redis.publish', this.#addr(), channel, payload));
  }
  get(key: string): Ok<Uint8Array | undefined> | Err {
    return result(callHost('redis.get', this.#addr(), key));
  }
  set(key: string, value: Uint8Array): Ok<undefined> | Err {
    return result(callHost('redis.set', this.#addr(), key, value));
  }
  incr(key: string): Ok<bigint> | Err {
    return result(callHost('redis.incr', this.#addr(), key));
  }
  del(keys: string[]): Ok<number> | Err {
    return result(callHost('redis.del', this.#addr(), keys));
  }
  sadd(key: string, values: string[]): Ok<number> | Err {
    return result(callHost('redis.sadd', this.#addr(), key, values));
  }
  smembers(key: string): Ok<string[]> | Err {
    return result(callHost('redis.smembers', this.#addr(), key));
  }
  srem(key: string, values: string[]): Ok<number> | Err {
    return result(callHost('redis.srem', this.#addr(), key, values));
  }
  execute(command: string, args: Array<{ tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array }>): Ok<unknown[]> | Err {
    return result(callHost('redis.execute', this.#addr(), command, args));
  }
  [Symbol.dispose](): void {
    if (this.#address !== undefined) openConnections--;
    this.#address = undefined;
  }
}
