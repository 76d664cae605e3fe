/**
 * Keeping replicas that share one app store in line. After a change to the store a replica publishes
 * `{app, action, version}` on the Redis channel `spinet:fleet:<store id>`; every replica subscribes
 * and brings that app in line with the store (`AppService.sync`: the current version is loaded and
 * compiled before it takes traffic, as on deploy). Pub/sub delivers at most once, so a periodic
 * re-sync of every app (and one after each reconnect) catches what was missed, and is all there is
 * when no Redis is configured.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AppChange } from './app-service.js';
import { TENANT_NAME } from './tenant-registry.js';
import { redactUrl } from '../capabilities/redact-url.js';
import { logConnectionErrors } from '../capabilities/redis-clients.js';
import type { Logger } from '../observability/logger.js';

/** What fleet sync needs from the app service. */
export interface FleetMember {
  sync(app: string): Promise<void>;
  syncAll(): Promise<void>;
}

/** Fleet settings. */
export interface FleetSyncOptions {
  readonly member: FleetMember;
  /** The shared store's id (`AppStore.id()`): replicas of other stores on the same Redis are not disturbed. */
  readonly storeId: string;
  /** `redis://` or `rediss://` URL for change messages; none: the periodic re-sync alone. */
  readonly redisUrl?: string | undefined;
  /** Milliseconds between re-syncs of every app; 0 turns the periodic re-sync off. */
  readonly resyncMs: number;
  readonly logger: Logger;
}

/** The message on the fleet channel. */
interface FleetMessage extends AppChange {
  /** The publishing replica (it ignores its own messages). */
  readonly from: string;
}

/** The channel name for a store. */
export function fleetChannel(storeId: string): string {
  return `spinet:fleet:${storeId}`;
}

/** Parses a fleet message; undefined for anything malformed (the channel is not trusted to be tidy). */
export function parseFleetMessage(text: string): FleetMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m.app !== 'string' || !TENANT_NAME.test(m.app)) return undefined;
  if (m.action !== 'deploy' && m.action !== 'rollback' && m.action !== 'remove') return undefined;
  if (typeof m.from !== 'string' || m.from.length > 64) return undefined;
  if (m.version !== undefined && !Number.isSafeInteger(m.version)) return undefined;
  return { app: m.app, action: m.action, from: m.from, ...(typeof m.version === 'number' ? { version: m.version } : {}) };
}

function redisClient(url: string, logger: Logger, role: string): Redis {
  const client = new Redis(url, {
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 1,
    // Never hold start-up or a deploy on Redis: publish fails fast while it is down.
    enableOfflineQueue: false,
    // The subscriber subscribes on each 'ready' itself.
    autoResubscribe: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 3000),
  });
  logConnectionErrors(client, logger, { redis: redactUrl(url), role }, 'fleet redis connection error (retrying; the periodic re-sync covers the gap)');
  return client;
}

/** One replica's part in the fleet: publishes its changes, applies the others'. */
export class FleetSync {
  /** This replica's id in messages. */
  readonly replicaId = randomBytes(6).toString('hex');
  readonly channel: string;
  readonly #opts: FleetSyncOptions;
  readonly #log: Logger;
  #pub: Redis | undefined;
  #sub: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #resyncing: Promise<void> | undefined;
  #closed = false;

  constructor(opts: FleetSyncOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.channel = fleetChannel(opts.storeId);
  }

  /** Subscribes (without waiting for Redis) and starts the periodic re-sync. */
  start(): void {
    const { redisUrl, resyncMs } = this.#opts;
    if (redisUrl !== undefined) {
      this.#pub = redisClient(redisUrl, this.#log, 'publish');
      const sub = (this.#sub = redisClient(redisUrl, this.#log, 'subscribe'));
      let connectedBefore = false;
      sub.on('ready', () => {
        // Subscribe on every (re)connection; what was published while disconnected is lost, so re-sync.
        sub.subscribe(this.channel).catch((err: Error) => this.#log.warn({ redis: redactUrl(redisUrl), err: err.message }, 'fleet subscription failed; retrying on reconnect'));
        if (connectedBefore) void this.resync('reconnected');
        connectedBefore = true;
      });
      sub.on('message', (channel: string, text: string) => {
        if (channel !== this.channel) return;
        const msg = parseFleetMessage(text);
        if (!msg) {
          this.#log.warn({ channel, bytes: text.length }, 'ignored a malformed fleet message');
          return;
        }
        if (msg.from === this.replicaId) return;
        this.#opts.member.sync(msg.app).catch(() => {
          // sync logged it; the app stays as it was here.
        });
      });
    }
    if (resyncMs > 0) {
      this.#timer = setInterval(() => void this.resync('periodic'), resyncMs);
      this.#timer.unref();
    }
    this.#log.info({ channel: this.channel, redis: redisUrl === undefined ? null : redactUrl(redisUrl), resyncMs, replica: this.replicaId }, 'fleet sync started');
  }

  /** Tells the other replicas about a change this one made (AppService's onChange). */
  async publish(change: AppChange): Promise<void> {
    if (!this.#pub || this.#closed) return;
    const msg: FleetMessage = { ...change, from: this.replicaId };
    await this.#pub.publish(this.channel, JSON.stringify(msg));
  }

  /** Brings every app in line with the store; one re-sync at a time. */
  resync(why: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#resyncing ??= this.#opts.member
      .syncAll()
      .catch((err: unknown) => this.#log.warn({ why, err: (err as Error).message }, 'fleet re-sync failed; trying again at the next one'))
      .finally(() => (this.#resyncing = undefined));
    return this.#resyncing;
  }

  /** Stops listening and closes the Redis connections. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled(
      [this.#sub, this.#pub].map(async (c) => {
        if (!c) return;
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
    await this.#resyncing;
  }
}
