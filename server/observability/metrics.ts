/**
 * Every Prometheus metric spinet exports, defined once (name, help, labels, buckets), on a registry
 * per gateway so tests and embedders never share global state. Labels are bounded: app, component,
 * route pattern as written in spin.toml (never the raw path), status class, outcome.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ComponentCache } from '../wasm/component-cache.js';
import type { Executor } from '../wasm/executor.js';

/** Latency buckets in seconds, from sub-millisecond instantiation to the 30 s default deadline. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The gateway's metrics. */
export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'app' | 'component' | 'route' | 'status_class'>;
  readonly requestDuration: Histogram<'app' | 'component' | 'route' | 'status_class'>;
  readonly instancesStarted: Counter<'app' | 'component'>;
  readonly instantiateDuration: Histogram<'app' | 'component'>;
  readonly guestDuration: Histogram<'app' | 'component'>;
  readonly guestFailures: Counter<'app' | 'component' | 'reason'>;
  readonly compileDuration: Histogram<'phase'>;
  readonly redisMessages: Counter<'app' | 'component' | 'channel' | 'outcome'>;
  readonly redisConnected: Gauge<'address'>;
  readonly staticFiles: Counter<'app' | 'component' | 'status_class'>;
  readonly processFaults: Counter<'kind'>;
}

/** Records a finished run's instance (started, instantiate and call time); runs that never instantiated are skipped. */
export function recordInstance(m: GatewayMetrics, labels: { app: string; component: string }, r: { readonly instantiateUs: number; readonly callUs: number; readonly outcome: string }): void {
  if (r.instantiateUs === 0 && r.outcome !== 'ok') return;
  m.instancesStarted.inc(labels);
  m.instantiateDuration.observe(labels, r.instantiateUs / 1e6);
  m.guestDuration.observe(labels, r.callUs / 1e6);
}

/** Status class label: `2xx` … `5xx`. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Builds the registry; cache and executor state are read at scrape time. */
export function buildMetrics(sources: { cache: ComponentCache; executor: Executor }): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { cache, executor } = sources;
  const httpLabels = ['app', 'component', 'route', 'status_class'] as const;
  const m: GatewayMetrics = {
    registry,
    requests: new Counter({ name: 'spinet_http_requests_total', help: 'HTTP requests served by Spin apps, by route pattern and status class', labelNames: httpLabels, registers: [registry] }),
    requestDuration: new Histogram({
      name: 'spinet_http_request_duration_seconds',
      help: 'Time from request to response head for Spin app routes',
      labelNames: httpLabels,
      buckets: SECONDS,
      registers: [registry],
    }),
    instancesStarted: new Counter({ name: 'spinet_instances_started_total', help: 'Fresh component instances started (one per request)', labelNames: ['app', 'component'], registers: [registry] }),
    instantiateDuration: new Histogram({
      name: 'spinet_instantiate_duration_seconds',
      help: 'Time to instantiate a fresh component instance, as the worker measured it',
      labelNames: ['app', 'component'],
      buckets: SECONDS,
      registers: [registry],
    }),
    guestDuration: new Histogram({
      name: 'spinet_guest_call_duration_seconds',
      help: 'Time inside the guest handler call, as the worker measured it',
      labelNames: ['app', 'component'],
      buckets: SECONDS,
      registers: [registry],
    }),
    guestFailures: new Counter({
      name: 'spinet_guest_failures_total',
      help: 'Guest runs that failed, by reason (trap, memory, response_limit, exit, instantiate, deadline, crash, no_response)',
      labelNames: ['app', 'component', 'reason'],
      registers: [registry],
    }),
    redisMessages: new Counter({
      name: 'spinet_redis_messages_total',
      help: 'Redis trigger messages handled, by outcome (ok, error, trap, exit, instantiate, deadline, crash, rejected, dropped)',
      labelNames: ['app', 'component', 'channel', 'outcome'],
      registers: [registry],
    }),
    redisConnected: new Gauge({
      name: 'spinet_redis_subscriber_connected',
      help: 'Whether the Redis trigger subscriber for an address is connected (1) or reconnecting (0); the address is shown without its password',
      labelNames: ['address'],
      registers: [registry],
    }),
    processFaults: new Counter({
      name: 'spinet_process_faults_total',
      help: 'Unhandled promise rejections and uncaught exceptions in the gateway process (each one is a spinet bug)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    staticFiles: new Counter({
      name: 'spinet_static_files_served_total',
      help: 'Responses from spin-fileserver components served natively, by status class',
      labelNames: ['app', 'component', 'status_class'],
      registers: [registry],
    }),
    compileDuration: new Histogram({
      name: 'spinet_component_compile_duration_seconds',
      help: 'Time to prepare a component for the precompile cache, by phase (transpile, compile)',
      labelNames: ['phase'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'spinet_instances_in_flight',
    help: 'Component instances running now',
    registers: [registry],
    collect() {
      this.set(executor.load.running);
    },
  });
  new Gauge({
    name: 'spinet_requests_waiting',
    help: 'Requests waiting for an executor worker',
    registers: [registry],
    collect() {
      this.set(executor.load.queued);
    },
  });
  const cacheCounter = (name: string, help: string, read: () => number): void => {
    // Counters read from the cache's own tallies at scrape time; prom-client has no "set" for
    // counters, so increment by the difference.
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  cacheCounter('spinet_precompile_cache_hits_total', 'Precompile cache lookups that found a compiled component', () => cache.stats.hits);
  cacheCounter('spinet_precompile_cache_misses_total', 'Precompile cache lookups that had to compile', () => cache.stats.misses);
  cacheCounter('spinet_precompile_cache_evictions_total', 'Compiled components evicted to stay within the byte bound', () => cache.stats.evictions);
  new Gauge({
    name: 'spinet_precompile_cache_bytes',
    help: 'Bytes held by the precompile cache (core modules and glue)',
    registers: [registry],
    collect() {
      this.set(cache.size.bytes);
    },
  });
  new Gauge({
    name: 'spinet_precompile_cache_entries',
    help: 'Compiled components in the precompile cache',
    registers: [registry],
    collect() {
      this.set(cache.size.entries);
    },
  });
  return m;
}
