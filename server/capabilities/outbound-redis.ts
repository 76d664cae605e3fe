/**
 * `fermyon:spin/redis@2.0.0` on the gateway thread: a guest's Redis commands, over the pooled clients,
 * for addresses its `allowed_outbound_hosts` permit. A denied or malformed address is `invalid-address`
 * (Spin's behaviour); a failing server is `other(message)`; a wrong-type value is `type-error`.
 */
import { Buffer } from 'node:buffer';
import type { RedisClients } from './redis-clients.js';
import { redactUrl } from './redact-url.js';
import { HostCallError } from './host-session.js';

type RedisParameter = { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };
type RedisResult = { tag: 'nil' } | { tag: 'status'; val: string } | { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };

/**
 * Commands `execute` refuses: connections are pooled and pipelined across guests, so anything that
 * changes connection state (SELECT, AUTH, SUBSCRIBE mode, MONITOR) or blocks the connection (BLPOP and
 * friends) would leak into or stall other guests' commands.
 */
const CONNECTION_STATE_COMMANDS = new Set([
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'monitor', 'select', 'swapdb',
  'auth', 'hello', 'client', 'reset', 'quit', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'readonly', 'readwrite',
  'blpop', 'brpop', 'brpoplpush', 'blmove', 'blmpop', 'bzpopmin', 'bzpopmax', 'bzmpop', 'wait', 'waitaof', 'shutdown',
  'debug', 'sync', 'psync', 'replicaof', 'slaveof', 'failover',
]);

/** Parses a guest's Redis address; undefined when it is not a redis:// or rediss:// URL with a host. */
export function parseRedisAddress(address: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') return undefined;
  return url;
}

function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function failure(address: string, err: unknown): HostCallError {
  const message = err instanceof Error ? err.message : String(err);
  if (/WRONGTYPE|not an integer|out of range/i.test(message)) return new HostCallError({ tag: 'type-error' }, `${redactUrl(address)}: ${message}`);
  return new HostCallError({ tag: 'other', val: message }, `${redactUrl(address)}: ${message}`);
}

/**
 * Commands whose reply is a RESP simple string (status). ioredis hands simple and bulk strings over
 * alike, as Buffers, so the command decides which of Spin's `status` and `binary` a reply becomes.
 */
const STATUS_COMMANDS = new Set(['set', 'setex', 'psetex', 'mset', 'type', 'rename', 'lset', 'ltrim', 'hmset', 'flushdb', 'flushall', 'restore', 'pfmerge', 'save', 'bgsave', 'bgrewriteaof']);

function repliesWithStatus(command: string, params: ReadonlyArray<string | Buffer>): boolean {
  const c = command.toLowerCase();
  if (c === 'ping') return params.length === 0; // PING <message> echoes the message as a bulk string
  // SET ... GET answers with the old value.
  if (c === 'set') return !params.some((p) => String(p).toUpperCase() === 'GET');
  return STATUS_COMMANDS.has(c);
}

function toResults(value: unknown, out: RedisResult[], status = false): RedisResult[] {
  if (value === null || value === undefined) out.push({ tag: 'nil' });
  else if (typeof value === 'number') out.push({ tag: 'int64', val: BigInt(value) });
  else if (Buffer.isBuffer(value)) {
    out.push(status ? { tag: 'status', val: value.toString('latin1') } : { tag: 'binary', val: bytes(value) });
  }
  else if (typeof value === 'string') out.push({ tag: 'status', val: value });
  else if (Array.isArray(value)) for (const v of value) toResults(v, out, false); // Spin flattens bulk replies
  else out.push({ tag: 'status', val: String(value) });
  return out;
}

/** Runs one `fermyon:spin/redis` operation (after the caller checked the address is allowed). */
export async function redisOperation(clients: RedisClients, op: string, address: string, args: readonly unknown[]): Promise<unknown> {
  const client = clients.get(address);
  try {
    switch (op) {
      case 'publish':
        await client.publish(args[0] as string, Buffer.from(args[1] as Uint8Array));
        return undefined;
      case 'get': {
        const v = await client.getBuffer(args[0] as string);
        return v === null ? undefined : bytes(v);
      }
      case 'set':
        await client.set(args[0] as string, Buffer.from(args[1] as Uint8Array));
        return undefined;
      case 'incr':
        return BigInt(await client.incr(args[0] as string));
      case 'del': {
        const keys = args[0] as string[];
        return keys.length === 0 ? 0 : await client.del(...keys);
      }
      case 'sadd': {
        const values = args[1] as string[];
        return values.length === 0 ? 0 : await client.sadd(args[0] as string, ...values);
      }
      case 'smembers':
        return await client.smembers(args[0] as string);
      case 'srem': {
        const values = args[1] as string[];
        return values.length === 0 ? 0 : await client.srem(args[0] as string, ...values);
      }
      case 'execute': {
        const command = args[0] as string;
        if (CONNECTION_STATE_COMMANDS.has(command.toLowerCase())) {
          throw new HostCallError({ tag: 'other', val: `the ${command.toUpperCase()} command is not available to guests: spinet shares Redis connections between guests` });
        }
        if ((args[1] as RedisParameter[]).some((p) => p.tag === 'binary' && /^block$/i.test(Buffer.from(p.val).toString('latin1')))) {
          throw new HostCallError({ tag: 'other', val: 'blocking reads (BLOCK) are not available to guests: spinet shares Redis connections between guests' });
        }
        const params = (args[1] as RedisParameter[]).map((p) => (p.tag === 'int64' ? p.val.toString() : Buffer.from(p.val)));
        const reply = await client.callBuffer(command, ...params);
        return toResults(reply, [], repliesWithStatus(command, params) && !Array.isArray(reply));
      }
      default:
        throw new HostCallError({ tag: 'other', val: `unknown redis operation ${op}` });
    }
  } catch (err) {
    if (err instanceof HostCallError) throw err;
    throw failure(address, err);
  }
}
