/**
 * Spin's Redis trigger: each `[[trigger.redis]]` subscribes to a channel; every message runs the
 * component's `fermyon:spin/inbound-redis.handle-message` in a fresh instance on the same executor as
 * HTTP. Messages on one channel are handled in order, one at a time (every component subscribed to the
 * channel gets each message, concurrently, as in Spin).
 *
 * Better than Spin: a lost connection is retried with backoff and the subscriptions are restored
 * (Spin's trigger exits), a failed handler is logged with channel, app and component and counted, and
 * the HTTP side never waits on Redis: start-up does not require Redis to be up.
 */
import { Redis } from 'ioredis';
import type { Executor } from '../wasm/executor.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import { effectiveLimits, guestOutputLog } from '../tenants/loaded-app.js';
import type { LoadedApp, RedisSubscription, RunLimits } from '../tenants/loaded-app.js';
import { recordInstance } from '../observability/metrics.js';
import { redactUrl } from '../capabilities/redact-url.js';

/** Redis trigger settings. */
export interface RedisTriggerOptions {
  readonly executor: Executor;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The gateway's limits (its deadline applies per message unless the app or component sets its own). */
  readonly limits: RunLimits;
  /** Messages waiting per channel before new ones are dropped (and counted). */
  readonly maxQueue?: number;
}

interface Listener {
  readonly app: LoadedApp;
  readonly subscription: RedisSubscription;
}

/** The messages of one channel on one server, handled strictly in order. */
class ChannelQueue {
  readonly #pending: Buffer[] = [];
  #running: Promise<void> | undefined;
  readonly listeners: Listener[] = [];

  constructor(
    readonly channel: string,
    readonly trigger: RedisTrigger,
  ) {}

  push(payload: Buffer, max: number): boolean {
    if (this.#pending.length >= max) return false;
    this.#pending.push(payload);
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
    return true;
  }

  async #drain(): Promise<void> {
    for (let payload = this.#pending.shift(); payload !== undefined; payload = this.#pending.shift()) {
      await Promise.all(this.listeners.map((l) => this.trigger.dispatch(l, payload!)));
    }
  }

  /** Resolves when the message being handled (if any) and those queued are done. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  clear(): number {
    return this.#pending.splice(0).length;
  }
}

/** One subscriber connection per Redis address, shared by every app subscribing there. */
class Subscriber {
  readonly client: Redis;
  readonly channels = new Map<string, ChannelQueue>();
  #connectedOnce = false;
  #down = false;

  constructor(
    readonly address: string,
    trigger: RedisTrigger,
    logger: Logger,
    metrics: GatewayMetrics,
    maxQueue: number,
  ) {
    const shown = redactUrl(address);
    this.client = new Redis(address, {
      // Subscriptions are restored after every reconnect; retry forever with a capped backoff.
      autoResubscribe: true,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 4), 3000),
      connectTimeout: 3000,
    });
    let lastError = 0;
    this.client.on('error', (err: Error) => {
      const now = Date.now();
      if (now - lastError < 10_000) return;
      lastError = now;
      logger.warn({ redis: shown, err: err.message }, 'redis trigger: connection error (retrying)');
    });
    this.client.on('ready', () => {
      metrics.redisConnected.set({ address: shown }, 1);
      if (this.#down) logger.info({ redis: shown, channels: [...this.channels.keys()] }, 'redis trigger: reconnected and resubscribed');
      else if (!this.#connectedOnce) logger.info({ redis: shown, channels: [...this.channels.keys()] }, 'redis trigger: subscribed');
      this.#connectedOnce = true;
      this.#down = false;
    });
    this.client.on('close', () => {
      metrics.redisConnected.set({ address: shown }, 0);
      if (!this.#down && this.#connectedOnce && this.client.status !== 'end') logger.warn({ redis: shown }, 'redis trigger: disconnected; reconnecting');
      this.#down = true;
    });
    metrics.redisConnected.set({ address: shown }, 0);
    this.client.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const queue = this.channels.get(channel.toString('utf8'));
      if (!queue) return;
      if (!queue.push(message, maxQueue)) trigger.dropped(queue, maxQueue);
    });
  }

  async subscribe(channel: string): Promise<void> {
    // Resolves once subscribed; while Redis is down ioredis queues it and subscribes on connect.
    await this.client.subscribe(channel);
  }
}

/** The Redis trigger of a gateway: subscriptions for every loaded app. */
export class RedisTrigger {
  readonly #opts: RedisTriggerOptions & { maxQueue: number };
  readonly #subscribers = new Map<string, Subscriber>();
  #closed = false;
  #droppedLogged = 0;

  constructor(opts: RedisTriggerOptions) {
    this.#opts = { ...opts, maxQueue: opts.maxQueue ?? 10_000 };
  }

  /** Subscribes to every `[[trigger.redis]]` of `app`. Does not wait for Redis to be reachable. */
  start(app: LoadedApp): void {
    for (const subscription of app.redisTriggers) {
      let sub = this.#subscribers.get(subscription.address);
      if (!sub) {
        sub = new Subscriber(subscription.address, this, this.#opts.logger, this.#opts.metrics, this.#opts.maxQueue);
        this.#subscribers.set(subscription.address, sub);
      }
      let queue = sub.channels.get(subscription.channel);
      if (!queue) {
        queue = new ChannelQueue(subscription.channel, this);
        sub.channels.set(subscription.channel, queue);
        const shown = redactUrl(subscription.address);
        sub.subscribe(subscription.channel).catch((err: Error) => {
          if (!this.#closed) this.#opts.logger.error({ redis: shown, channel: subscription.channel, err: err.message }, 'redis trigger: subscribe failed');
        });
      }
      queue.listeners.push({ app, subscription });
    }
  }

  /**
   * Swaps one app's subscriptions for another's (a redeploy; either side may be undefined for a first
   * deploy or a removal) without a gap: the new listeners are added before the old ones go, so a
   * channel both versions use stays subscribed and its queued messages go to the new version.
   * Messages already running on the old version finish there. Channels left without listeners are
   * unsubscribed, and connections left without channels are closed.
   */
  replace(old: LoadedApp | undefined, next: LoadedApp | undefined): void {
    if (this.#closed) return;
    if (next) this.start(next);
    if (!old || old === next) return;
    for (const [address, sub] of this.#subscribers) {
      for (const [channel, queue] of sub.channels) {
        const kept = queue.listeners.filter((l) => l.app !== old);
        if (kept.length === queue.listeners.length) continue;
        queue.listeners.splice(0, queue.listeners.length, ...kept);
        if (kept.length > 0) continue;
        sub.channels.delete(channel);
        queue.clear();
        sub.client.unsubscribe(channel).catch(() => {});
      }
      if (sub.channels.size === 0) {
        this.#subscribers.delete(address);
        sub.client.quit().catch(() => sub.client.disconnect());
      }
    }
  }

  /** Runs one message in a fresh instance of the listener's component. */
  async dispatch(listener: Listener, payload: Buffer): Promise<void> {
    const { app, subscription } = listener;
    const component = subscription.component;
    const labels = { app: app.name, component: component.id, channel: subscription.channel };
    const log = this.#opts.logger.child(labels);
    let prepared;
    try {
      prepared = await app.prepared(component);
    } catch (err) {
      log.error({ err }, 'redis trigger: component could not be loaded');
      this.#opts.metrics.redisMessages.inc({ ...labels, outcome: 'instantiate' });
      return;
    }
    const run = this.#opts.executor.run({
      component: prepared,
      handler: component.handler,
      configKey: component.configKey,
      config: component.config,
      // A copy that owns its memory (Buffers from ioredis may share a pooled slab).
      message: new Uint8Array(payload),
      body: null,
      maxBodyBytes: 0,
      deadlineMs: effectiveLimits(this.#opts.limits, app, component.id).deadlineMs,
      onLog: guestOutputLog(log, app),
      host: component.capabilities.session(),
    });
    const r = await run.done;
    const guestLabels = { app: app.name, component: component.id };
    recordInstance(this.#opts.metrics, guestLabels, r);
    this.#opts.metrics.redisMessages.inc({ ...labels, outcome: r.outcome });
    if (r.outcome !== 'ok' && r.outcome !== 'rejected' && r.outcome !== 'error') this.#opts.metrics.guestFailures.inc({ ...guestLabels, reason: r.outOfMemory ? 'memory' : r.outcome });
    if (r.outcome === 'ok') log.debug({ instantiateUs: r.instantiateUs, callUs: r.callUs }, 'redis message handled');
    else log.warn({ outcome: r.outcome, guestError: r.message, bytes: payload.length }, 'redis trigger: handler failed; message dropped');
  }

  /** A channel's queue was full: the message is dropped, counted and (rate-limited) logged. */
  dropped(queue: ChannelQueue, max: number): void {
    for (const l of queue.listeners) {
      this.#opts.metrics.redisMessages.inc({ app: l.app.name, component: l.subscription.component.id, channel: queue.channel, outcome: 'dropped' });
    }
    const now = Date.now();
    if (now - this.#droppedLogged > 10_000) {
      this.#droppedLogged = now;
      this.#opts.logger.warn({ channel: queue.channel, max }, 'redis trigger: channel queue full; dropping messages');
    }
  }

  /**
   * Stops taking messages, lets those already received (being handled or queued) finish up to
   * `graceMs`, and closes the subscriber connections. Messages not started by then are dropped and
   * logged: pub/sub delivers at most once, so a message received is a message owed a run.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const queues: ChannelQueue[] = [];
    for (const sub of this.#subscribers.values()) {
      sub.client.removeAllListeners('messageBuffer');
      queues.push(...sub.channels.values());
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(queues.map((q) => q.idle())), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const q of queues) {
      const dropped = q.clear();
      if (dropped > 0) this.#opts.logger.warn({ channel: q.channel, dropped }, 'redis trigger: shutdown grace ran out; queued messages dropped');
    }
    await Promise.all(
      [...this.#subscribers.values()].map(async (s) => {
        try {
          await s.client.quit();
        } catch {
          s.client.disconnect();
        }
      }),
    );
    this.#subscribers.clear();
  }
}
