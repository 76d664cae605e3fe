/**
 * Spin's host interfaces as componentize-js exposes them to guests (fermyon:spin@2.0.0). A function
 * whose WIT result is an error throws an Error whose `payload` is the error variant ({ tag, val? }).
 */
declare module 'fermyon:spin/key-value@2.0.0' {
  export type Error = { tag: 'store-table-full' } | { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };
  export class Store {
    static open(label: string): Store;
    get(key: string): Uint8Array | undefined;
    set(key: string, value: Uint8Array): void;
    delete(key: string): void;
    exists(key: string): boolean;
    getKeys(): string[];
    [Symbol.dispose](): void;
  }
}

declare module 'fermyon:spin/variables@2.0.0' {
  export type Error = { tag: 'invalid-name' | 'undefined' | 'provider' | 'other'; val: string };
  export function get(name: string): string;
}

declare module 'fermyon:spin/redis@2.0.0' {
  export type Error = { tag: 'invalid-address' } | { tag: 'too-many-connections' } | { tag: 'type-error' } | { tag: 'other'; val: string };
  export type RedisParameter = { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };
  export type RedisResult = { tag: 'nil' } | { tag: 'status'; val: string } | { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };
  export class Connection {
    static open(address: string): Connection;
    publish(channel: string, payload: Uint8Array): void;
    get(key: string): Uint8Array | undefined;
    set(key: string, value: Uint8Array): void;
    incr(key: string): bigint;
    del(keys: string[]): number;
    sadd(key: string, values: string[]): number;
    smembers(key: string): string[];
    srem(key: string, values: string[]): number;
    execute(command: string, args: RedisParameter[]): RedisResult[];
    [Symbol.dispose](): void;
  }
}
