/**
 * Pooled Redis connections, one ioredis client per address, shared by every app and guest that talks to
 * that address (outbound Redis and Redis-backed key-value stores). A client is created on first use and
 * reconnects by itself; commands fail fast (instead of queueing forever) while Redis is unreachable, so a
 * guest gets an error rather than running into its deadline.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { redactUrl } from './redact-url.js';

// ioredis loads when a guest first talks to Redis, not in every gateway's start-up (CommonJS, so
// `get` stays synchronous).
const require = createRequire(import.meta.url);
let ioredis: typeof import('ioredis') | undefined;

export interface RedisClientOptions {
  /** Milliseconds a single command may take before it fails. */
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

export class RedisClients {
  readonly #clients = new Map<string, Redis>();
  readonly #logger: Logger;
  readonly #opts: Required<RedisClientOptions>;
  #closed = false;

  constructor(logger: Logger, opts: RedisClientOptions = {}) {
    this.#logger = logger;
    this.#opts = { commandTimeoutMs: opts.commandTimeoutMs ?? 5000, connectTimeoutMs: opts.connectTimeoutMs ?? 2000 };
  }

  /** The client for `url` (`redis://` or `rediss://`), created on first use. */
  get(url: string): Redis {
    if (this.#closed) throw new Error('the gateway is shutting down');
    let client = this.#clients.get(url);
    if (!client) {
      ioredis ??= require('ioredis') as typeof import('ioredis');
      client = new ioredis.Redis(url, {
        lazyConnect: false,
        connectTimeout: this.#opts.connectTimeoutMs,
        commandTimeout: this.#opts.commandTimeoutMs,
        // One retry per command, then the caller gets the error; reconnection itself goes on forever.
        maxRetriesPerRequest: 1,
        enableOfflineQueue: true,
        retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 3000),
      });
      logConnectionErrors(client, this.#logger, { redis: redactUrl(url) }, 'redis connection error (retrying)');
      this.#clients.set(url, client);
    }
    return client;
  }

  /** Closes every client (shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(
      clients.map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/**
 * Logs an ioredis client's connection errors at most every 10 s (it retries on its own). Without a
 * listener, those errors would be unhandled 'error' events.
 */
export function logConnectionErrors(client: Redis, logger: Logger, fields: Record<string, unknown>, message: string): void {
  let lastLogged = 0;
  client.on('error', (err: Error) => {
    const now = Date.now();
    if (now - lastLogged < 10_000) return;
    lastLogged = now;
    logger.warn({ ...fields, err: err.message }, message);
  });
}
