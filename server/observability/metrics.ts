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

/** One labelled series of a counter, bound once (see `bindCounter`). */
export interface BoundCounter {
  inc(value?: number): void;
}

/** One labelled series of a histogram, bound once (see `bindHistogram`). */
export interface BoundHistogram {
  observe(value: number): void;
}

/**
 * prom-client's per-series state, which it keeps in `hashMap` (prom-client 15). Binding a series
 * finds its entry once and then updates it directly: prom-client's `inc`/`observe` validate every
 * label and rebuild the series key on every call (~3 µs a call on the gateway thread, five calls a
 * request). test/observability/bound-metrics.test.ts checks that the exposition is the same either way.
 */
interface SeriesEntry {
  labels: Record<string, string | number>;
  value?: number;
  sum?: number;
  count?: number;
  bucketValues?: Record<string, number>;
}
interface MetricInternals {
  readonly labelNames: readonly string[];
  hashMap: Record<string, SeriesEntry>;
  readonly upperBounds?: readonly number[];
}

/** The key and entry of `labels`' series in `metric`, once it exists. */
function findSeries(metric: MetricInternals, labels: Readonly<Record<string, string>>): [string, SeriesEntry] | undefined {
  const map = metric.hashMap;
  if (map === null || typeof map !== 'object') return undefined;
  for (const key in map) {
    const e = map[key]!;
    if (e && typeof e === 'object' && metric.labelNames.every((n) => e.labels?.[n] === labels[n])) return [key, e];
  }
  return undefined;
}

/** A counter series for fixed `labels` whose `inc` costs a property lookup and an add. */
export function bindCounter<T extends string>(counter: Counter<T>, labels: Readonly<Record<T, string>>): BoundCounter {
  const metric = counter as unknown as MetricInternals;
  let key: string | undefined;
  let entry: SeriesEntry | undefined;
  return {
    inc(value = 1): void {
      // The series exists and is still the registry's (reset() replaces the map): add to it.
      if (entry !== undefined && metric.hashMap[key!] === entry && Number.isFinite(value) && value >= 0 && typeof entry.value === 'number') {
        entry.value += value;
        return;
      }
      counter.inc(labels as Partial<Record<T, string>>, value);
      [key, entry] = findSeries(metric, labels) ?? [undefined, undefined];
    },
  };
}

/** A histogram series for fixed `labels` whose `observe` costs a bucket search and three adds. */
export function bindHistogram<T extends string>(histogram: Histogram<T>, labels: Readonly<Record<T, string>>): BoundHistogram {
  const metric = histogram as unknown as MetricInternals;
  const bounds = metric.upperBounds ?? [];
  // prom-client keys buckets by the bound's string form; computed once, not per observation.
  const bucketKeys = bounds.map(String);
  let key: string | undefined;
  let entry: SeriesEntry | undefined;
  return {
    observe(value: number): void {
      if (entry !== undefined && metric.hashMap[key!] === entry && Number.isFinite(value) && typeof entry.sum === 'number' && typeof entry.count === 'number' && entry.bucketValues) {
        entry.sum += value;
        entry.count += 1;
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            const b = bucketKeys[i]!;
            if (typeof entry.bucketValues[b] === 'number') entry.bucketValues[b] += 1;
            break;
          }
        }
        return;
      }
      histogram.observe(labels as Partial<Record<T, string>>, value);
      [key, entry] = findSeries(metric, labels) ?? [undefined, undefined];
    },
  };
}

/** Records a finished run's instance for one component (`recordInstance` with its series bound once). */
export type InstanceRecorder = (r: { readonly instantiateUs: number; readonly callUs: number; readonly outcome: string }) => void;

/** `recordInstance` for fixed labels, with the three series bound once. */
export function instanceRecorder(m: GatewayMetrics, labels: { app: string; component: string }): InstanceRecorder {
  const started = bindCounter(m.instancesStarted, labels);
  const instantiate = bindHistogram(m.instantiateDuration, labels);
  const call = bindHistogram(m.guestDuration, labels);
  return (r) => {
    if (r.instantiateUs === 0 && r.outcome !== 'ok') return;
    started.inc();
    instantiate.observe(r.instantiateUs / 1e6);
    call.observe(r.callUs / 1e6);
  };
}

/** The request count and duration series of one route (app, component, route pattern), per status class. */
export class RequestSeries {
  readonly #m: GatewayMetrics;
  readonly #labels: { readonly app: string; readonly component: string; readonly route: string };
  readonly #byClass: Array<{ requests: BoundCounter; duration: BoundHistogram } | undefined> = [];

  constructor(m: GatewayMetrics, labels: { app: string; component: string; route: string }) {
    this.#m = m;
    this.#labels = labels;
  }

  /** Counts one finished request with its status and duration in seconds. */
  record(status: number, seconds: number): void {
    const c = Math.floor(status / 100);
    let s = this.#byClass[c];
    if (!s) {
      const l = { ...this.#labels, status_class: statusClass(status) };
      this.#byClass[c] = s = { requests: bindCounter(this.#m.requests, l), duration: bindHistogram(this.#m.requestDuration, l) };
    }
    s.requests.inc();
    s.duration.observe(seconds);
  }
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
      help: "Time to prepare a component for the precompile cache, by phase (plan: spinet's linker plans its linking; transpile: jco's glue, for components it cannot link; compile: the core modules)",
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
