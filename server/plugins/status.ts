/**
 * spinet's own status page: `GET /.well-known/spinet/status` (the page in public/status/) and
 * `GET /.well-known/spinet/status.json` (what it shows: apps and their routes, request counts from
 * the same counters Prometheus scrapes, executor load, precompile cache state, process memory).
 * Operator-facing: it lists every app's routes, so it is served on the metrics listener when one is
 * configured (SPINET_METRICS_LISTEN), and on the gateway port only when there is none.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { TenantRegistry } from '../tenants/tenant-registry.js';
import type { Executor } from '../wasm/executor.js';
import type { ComponentCache } from '../wasm/component-cache.js';

const STATUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'public', 'status');
const STARTED = Date.now();

/** What the status endpoint reads. */
export interface StatusSources {
  readonly tenants: TenantRegistry;
  readonly executor: Executor;
  readonly cache: ComponentCache;
  readonly metrics: GatewayMetrics;
  readonly cacheMaxBytes: number;
  readonly version: string;
}

type Tally = Map<string, number>;

async function counterBy(metric: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> }, key: (l: Record<string, string | number>) => string): Promise<Tally> {
  const out: Tally = new Map();
  for (const v of (await metric.get()).values) out.set(key(v.labels), (out.get(key(v.labels)) ?? 0) + v.value);
  return out;
}

/** The status document (also used by tests and the page). */
export async function statusDocument(s: StatusSources): Promise<Record<string, unknown>> {
  const requests = await counterBy(s.metrics.requests, (l) => `${l.app}\0${l.component}\0${l.route}\0${l.status_class}`);
  const instances = await counterBy(s.metrics.instancesStarted, (l) => `${l.app}\0${l.component}`);
  const redis = await counterBy(s.metrics.redisMessages, (l) => `${l.app}\0${l.component}\0${l.channel}\0${l.outcome}`);
  const failures = await counterBy(s.metrics.guestFailures, (l) => `${l.app}\0${l.component}`);
  const sumWhere = (t: Tally, pred: (parts: string[]) => boolean): number => {
    let n = 0;
    for (const [k, v] of t) if (pred(k.split('\0'))) n += v;
    return n;
  };
  const apps = s.tenants.list().map((app) => ({
    name: app.name,
    version: app.manifest.version ?? null,
    routes: app.router.routes().map((e) => {
      const target = e.target;
      const component = target.kind === 'component' ? target.component : null;
      const kind = target.kind === 'static' ? 'static-response' : component && app.staticSites.has(component) ? 'static-files' : 'component';
      const byClass: Record<string, number> = {};
      for (const [k, v] of requests) {
        const [a, , route, cls] = k.split('\0');
        if (a === app.name && route === e.raw) byClass[cls!] = (byClass[cls!] ?? 0) + v;
      }
      return { route: e.raw, component, kind, requests: byClass };
    }),
    redisTriggers: app.redisTriggers.map((t) => ({
      channel: t.channel,
      component: t.component.id,
      messages: sumWhere(redis, ([a, c, ch]) => a === app.name && c === t.component.id && ch === t.channel),
      failed: sumWhere(redis, ([a, c, ch, o]) => a === app.name && c === t.component.id && ch === t.channel && o !== 'ok'),
    })),
    components: [...new Set([...app.components.keys(), ...app.redisTriggers.map((t) => t.component.id)])].map((id) => {
      const c = app.components.get(id) ?? app.redisTriggers.find((t) => t.component.id === id)!.component;
      return {
        id,
        digest: c.digest.slice(0, 12),
        cached: s.cache.peek(c.digest) !== undefined,
        instancesStarted: instances.get(`${app.name}\0${id}`) ?? 0,
        failures: failures.get(`${app.name}\0${id}`) ?? 0,
      };
    }),
    requests: sumWhere(requests, ([a]) => a === app.name),
  }));
  const load = s.executor.load;
  const mem = process.memoryUsage();
  return {
    spinet: s.version,
    node: process.version,
    startedAt: new Date(STARTED).toISOString(),
    uptimeSeconds: Math.round((Date.now() - STARTED) / 1000),
    now: new Date().toISOString(),
    requests: sumWhere(requests, () => true),
    instancesStarted: sumWhere(instances, () => true),
    redisMessages: sumWhere(redis, () => true),
    executor: { workers: load.workers, running: load.running, queued: load.queued },
    cache: { entries: s.cache.size.entries, bytes: s.cache.size.bytes, maxBytes: s.cacheMaxBytes, ...s.cache.stats },
    process: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
    apps,
  };
}

/** Registers the page and its JSON on `fastify` (the gateway, or the metrics listener). */
export function registerStatusRoutes(fastify: FastifyInstance, sources: StatusSources): void {
  fastify.get('/.well-known/spinet/status.json', { logLevel: 'warn' }, async (_request, reply) => {
    return reply.header('cache-control', 'no-store').send(await statusDocument(sources));
  });
  fastify.get('/.well-known/spinet/status', { logLevel: 'warn' }, async (_request, reply) => reply.redirect('/.well-known/spinet/status/', 302));
  fastify.get('/.well-known/spinet/status/*', { logLevel: 'warn' }, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'] || 'index.html';
    // The page's own few files only: names without directories or dots up front.
    if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(rest)) return reply.code(404).send();
    return reply.header('cache-control', 'no-cache').sendFile(rest, STATUS_DIR);
  });
}
