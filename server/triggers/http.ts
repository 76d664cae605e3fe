/**
 * The HTTP trigger: every request that reaches the gateway is matched against the app's Spin routes
 * and handed to the executor (or answered from a static_response), and the guest's response is
 * streamed back. Clients see Spin's statuses: 404 empty for no route, 500 empty for guest failures;
 * spinet adds 504 for deadlines, 413 for oversized bodies, 408 for bodies that do not arrive in
 * time (read before a worker is taken, see body-prefetch.ts) and 503 when overloaded.
 */
import rateLimit from '@fastify/rate-limit';
import { serveStatic } from '../plugins/static-files.js';
import { prefetchBody } from './body-prefetch.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { appendSpinHeaders, isSpinHeader } from '../routing/spin-headers.js';
import type { SpinHeaderInput } from '../routing/spin-headers.js';
import type { Executor, RunHandle } from '../wasm/executor.js';
import { effectiveLimits, guestOutputLog } from '../tenants/loaded-app.js';
import type { LoadedApp, StaticSite } from '../tenants/loaded-app.js';
import type { TenantRegistry } from '../tenants/tenant-registry.js';
import type { GatewayConfig } from '../config.js';
import { RequestSeries, instanceRecorder, statusClass } from '../observability/metrics.js';
import type { GatewayMetrics, InstanceRecorder } from '../observability/metrics.js';
import { lazyChildLoggerFactory } from '../observability/logger.js';
import type { Logger } from '../observability/logger.js';

/** What the trigger needs from the gateway. */
export interface HttpTriggerOptions {
  readonly tenants: TenantRegistry;
  readonly executor: Executor;
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
}

/** Client headers never forwarded to guests: hop-by-hop (Spin strips Connection too). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** nginx's "client closed request": what a request whose client left before any response counts as. */
const CLIENT_CLOSED_REQUEST = 499;

const STATUS_FOR_CODE: Record<string, number> = {
  SPINET_ERR_WASM_DEADLINE: 504,
  SPINET_ERR_HTTP_BODY_TOO_LARGE: 413,
  SPINET_ERR_WASM_OVERLOADED: 503,
  SPINET_ERR_WASM_EXECUTOR_CLOSED: 503,
};

function hasBody(req: FastifyRequest): boolean {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const len = h['content-length'];
  return len !== undefined && len !== '0';
}

/** Builds the guest's header list: client headers minus spin-* and hop-by-hop, plus Spin's own. */
function guestHeaders(rawHeaders: readonly string[], spin: SpinHeaderInput): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (isSpinHeader(name) || HOP_BY_HOP.has(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  appendSpinHeaders(out, spin);
  return out;
}

function headerObject(flat: readonly string[]): Record<string, string | string[]> {
  const obj: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const prev = obj[name];
    if (prev === undefined) obj[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else obj[name] = [prev, value];
  }
  return obj;
}

function sendWellKnown(app: LoadedApp | undefined, path: string, reply: FastifyReply): FastifyReply {
  if (path === '/.well-known/spin/health') return reply.code(200).type('text/plain').send('OK');
  if (path === '/.well-known/spin/info' && app) {
    return reply.code(200).send({ name: app.name, ...(app.manifest.version ? { version: app.manifest.version } : {}) });
  }
  return reply.code(404).send();
}

type RateCheck = (request: FastifyRequest) => Promise<{ isExceeded: boolean; ttlInSeconds: number }>;

/** Registers the catch-all route that serves Spin apps. */
export async function registerHttpTrigger(fastify: FastifyInstance, opts: HttpTriggerOptions): Promise<void> {
  const { tenants, executor, config, metrics } = opts;

  // Per-app request rate limits ([application.tool.spinet] rate_limit): one counter per app, whoever
  // the client, so one app's flood cannot take the gateway from the others.
  await fastify.register(rateLimit, { global: false });
  const limiters = new WeakMap<LoadedApp, RateCheck>();
  const rateLimiterFor = (app: LoadedApp): RateCheck => {
    let check = limiters.get(app);
    if (!check) {
      const rl = app.manifest.limits!.rateLimit!;
      check = fastify.createRateLimit({ max: rl.requests, timeWindow: rl.perSeconds * 1000, keyGenerator: () => `app:${app.name}` }) as RateCheck;
      limiters.set(app, check);
    }
    return check;
  };

  // Request loggers are built only when something is logged: a request that goes well logs nothing,
  // and pino's children cost ~2-8 µs each. Set on the instance the trigger's routes live on (the
  // Fastify options in app.ts would be the more natural home).
  fastify.setChildLoggerFactory(lazyChildLoggerFactory as unknown as Parameters<FastifyInstance['setChildLoggerFactory']>[0]);

  // Metric series bound once per route (or app, for unmatched paths) and component, not looked up
  // by label set on every request: prom-client validates and re-keys labels on each call.
  const routeSeries = new WeakMap<object, RequestSeries>();
  const seriesFor = (key: object, labels: { app: string; component: string; route: string }): RequestSeries => {
    let s = routeSeries.get(key);
    if (!s) routeSeries.set(key, (s = new RequestSeries(metrics, labels)));
    return s;
  };
  const instanceSeries = new WeakMap<object, { record: InstanceRecorder; labels: { app: string; component: string } }>();

  // Bodies are streamed to guests untouched: no parsing, no buffering.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    let rawUrl = request.raw.url ?? '/';
    if (!rawUrl.startsWith('/')) {
      // Absolute-form (`GET http://host/x`, as sent to proxies) or `*`: route on its path, as hyper
      // hands Spin the URI's path.
      try {
        const u = new URL(rawUrl);
        rawUrl = `${u.pathname}${u.search}`;
      } catch {
        return reply.code(400).send();
      }
    }
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const tenant = tenants.identify(request, path);
    // Routes match the path below a tenant's prefix (`/<app>/...`); the guest still gets the full URL.
    const routePath = tenant?.path ?? path;
    if (routePath.startsWith('/.well-known/spin/')) return sendWellKnown(tenant?.app, routePath, reply);
    if (!tenant) return reply.code(404).send();
    const app = tenant.app;
    // This request runs on this version to the end, even if a redeploy swaps the app meanwhile.
    const leave = tenants.enter(app);
    // One 'close' listener per request does everything that waits for the response to end, in this
    // order: leave the app version, count the request, then stop a guest whose client went away.
    let series: RequestSeries | undefined;
    let started = 0;
    let site: StaticSite | undefined;
    let run: RunHandle | undefined;
    const raw = reply.raw;
    raw.on('close', () => {
      leave();
      // Closed before any status went out: the client left (nginx's 499), not the default 200.
      const status = raw.headersSent ? raw.statusCode : CLIENT_CLOSED_REQUEST;
      if (series) series.record(status, (performance.now() - started) / 1000);
      if (site) metrics.staticFiles.inc({ app: app.name, component: site.id, status_class: statusClass(status) });
      // The response (not the request: its 'close' fires once the body is read) closing before it
      // finished means the client went away; the guest's further writes then fail fast.
      if (run && !raw.writableFinished) run.cancel();
    });
    const match = app.router.match(routePath);
    if (!match) {
      series = seriesFor(app, { app: app.name, component: '', route: '' });
      started = performance.now();
      return reply.code(404).send();
    }

    const target = match.entry.target;
    series = seriesFor(match.entry, { app: app.name, component: target.kind === 'component' ? target.component : '', route: match.entry.raw });
    started = performance.now();
    if (target.kind === 'static') {
      const sr = app.staticResponses.get(target.triggerIndex)!;
      return reply.code(sr.statusCode).headers(sr.headers).send(sr.body ?? '');
    }
    site = app.staticSites.get(target.component);
    if (site) return serveStatic(request, reply, site, match.pathInfo);
    const component = app.components.get(target.component)!;
    const log = (request.log as unknown as Logger).child({ app: app.name, component: component.id });
    const limits = effectiveLimits(config, app, component.id);

    if (app.manifest.limits?.rateLimit) {
      const verdict = await rateLimiterFor(app)(request);
      if (verdict.isExceeded) {
        log.warn({ limit: app.manifest.limits.rateLimit }, 'app rate limit exceeded');
        return reply.code(429).header('retry-after', String(Math.max(1, verdict.ttlInSeconds))).send();
      }
    }

    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) {
      log.warn({ contentLength: declared, limit: limits.maxBodyBytes }, 'request body too large');
      return reply.code(413).send();
    }

    const host = request.headers.host ?? `${config.host}:${config.port}`;
    const scheme = request.protocol === 'https' ? 'https' : 'http';
    const socket = request.raw.socket;
    const clientAddr = socket.remoteFamily === 'IPv6' ? `[${socket.remoteAddress}]:${socket.remotePort ?? 0}` : `${socket.remoteAddress ?? '127.0.0.1'}:${socket.remotePort ?? 0}`;
    const spin: SpinHeaderInput = { scheme, host, pathAndQuery: rawUrl, clientAddr, match, basePath: tenant.basePath };

    let prepared;
    try {
      prepared = await app.prepared(component);
    } catch (err) {
      log.error({ err }, 'component could not be loaded');
      return reply.code(500).send();
    }

    let body: Readable | null = null;
    if (hasBody(request)) {
      const pre = await prefetchBody(request.raw, { bufferBytes: config.bodyBufferBytes, timeoutMs: config.bodyTimeoutMs, maxBodyBytes: limits.maxBodyBytes });
      if (pre.kind !== 'ready') {
        if (pre.kind === 'aborted') {
          log.info({ received: pre.bytes }, 'client went away while sending its request body');
          return reply.code(400).send();
        }
        // The rest of the body is not wanted: close the connection once the answer is out.
        reply.header('connection', 'close');
        if (pre.kind === 'too-large') {
          log.warn({ received: pre.bytes, limit: limits.maxBodyBytes }, 'request body too large');
          return reply.code(413).send();
        }
        log.warn({ received: pre.bytes, timeoutMs: config.bodyTimeoutMs }, `request body too slow: the first ${config.bodyBufferBytes} bytes (or the whole body) did not arrive within ${config.bodyTimeoutMs} ms`);
        return reply.code(408).send();
      }
      body = pre.body;
    }

    run = executor.run({
      component: prepared,
      handler: component.handler,
      configKey: component.configKey,
      config: component.config,
      head: {
        method: request.raw.method ?? 'GET',
        pathWithQuery: rawUrl,
        scheme,
        authority: host,
        headers: guestHeaders(request.raw.rawHeaders, spin),
      },
      body,
      maxBodyBytes: limits.maxBodyBytes,
      maxResponseBytes: limits.maxResponseBytes,
      deadlineMs: limits.deadlineMs,
      // Guests print what they like; secrets they were given must still not reach the log.
      onLog: guestOutputLog(log, app),
      host: component.capabilities.session(),
    });
    let instances = instanceSeries.get(component);
    if (!instances) {
      const labels = { app: app.name, component: component.id };
      instanceSeries.set(component, (instances = { record: instanceRecorder(metrics, labels), labels }));
    }
    const guestLabels = instances.labels;
    const recordInstance = instances.record;
    let noResponse = false;
    void run.done.then((r) => {
      recordInstance(r);
      if (r.cancelled === 'client-gone') {
        if (r.outcome === 'rejected') {
          log.info({ outcome: r.outcome }, 'client went away while its request waited for a worker; it did not run');
          return;
        }
        // A guest that ran past its deadline or took its worker down did so on its own account.
        if (r.outcome === 'deadline' || r.outcome === 'crash') {
          metrics.guestFailures.inc({ ...guestLabels, reason: r.outcome });
          log.warn({ outcome: r.outcome, guestError: r.message, clientGone: true }, 'guest failed');
          return;
        }
        // The client left; whatever the guest did after its writes started failing is not its fault.
        log.info({ outcome: r.outcome }, 'client went away before the response finished; guest stopped');
        return;
      }
      if (r.cancelled === 'response-limit') {
        metrics.guestFailures.inc({ ...guestLabels, reason: 'response_limit' });
        log.warn({ limit: limits.maxResponseBytes }, `guest response cut off: it exceeds the limit of ${limits.maxResponseBytes} bytes`);
        return;
      }
      const failed = (r.outcome !== 'ok' && r.outcome !== 'rejected') || (r.outcome === 'ok' && noResponse);
      if (failed) metrics.guestFailures.inc({ ...guestLabels, reason: r.outOfMemory ? 'memory' : r.outcome === 'ok' ? 'no_response' : r.outcome });
      if (r.outcome !== 'ok') log.warn({ outcome: r.outcome, guestError: r.message, ...(r.outOfMemory ? { outOfMemory: true } : {}) }, 'guest failed');
      else if (noResponse && r.outOfMemory) log.warn({ outOfMemory: true }, 'guest ran out of memory (its linear memory reached the cap)');
      else log.debug({ instantiateUs: r.instantiateUs, callUs: r.callUs, queuedMs: Math.round(r.queuedMs), ...(r.ahead ? { ahead: true } : {}) }, 'guest finished');
    });
    let res;
    try {
      res = await run.response;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'SPINET_ERR_HTTP_CLIENT_GONE') {
        // Nobody to answer, and not the guest's failure: run.done logs it once, at info.
        return reply.code(CLIENT_CLOSED_REQUEST).send();
      }
      const status = STATUS_FOR_CODE[code] ?? 500;
      noResponse = code === 'SPINET_ERR_WASM_GUEST_FAILED';
      if (status === 503) reply.header('retry-after', '1');
      // The rest of an oversized body is not wanted: close the connection once the 413 is out,
      // instead of leaving the client uploading into a socket nobody reads.
      if (status === 413) reply.header('connection', 'close');
      log.warn({ err: { code, message: (err as Error).message }, status }, 'guest request failed');
      return reply.code(status).send();
    }
    if (res.status < 200) {
      log.warn({ status: res.status }, 'guest returned an informational status as its final response');
      if (!Buffer.isBuffer(res.body)) res.body.destroy();
      return reply.code(500).send();
    }
    try {
      reply.code(res.status).headers(headerObject(res.headers));
    } catch (err) {
      log.warn({ err }, 'guest returned an invalid response header');
      if (!Buffer.isBuffer(res.body)) res.body.destroy();
      reply.removeHeader('content-length');
      return reply.code(500).send();
    }
    if (Buffer.isBuffer(res.body)) {
      const declaredLength = reply.getHeader('content-length');
      if (declaredLength !== undefined && Number(declaredLength) !== res.body.length && request.method !== 'HEAD') {
        log.warn({ declared: declaredLength, actual: res.body.length }, 'guest response content-length does not match its body');
        reply.removeHeader('content-length');
        return reply.code(500).send();
      }
      return reply.send(res.body);
    }
    // Streamed: Node must not silently send fewer bytes than a declared content-length.
    reply.raw.strictContentLength = true;
    return reply.send(res.body);
  };

  fastify.route({ method: ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS', 'TRACE'], url: '/*', handler });
  fastify.route({ method: ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS', 'TRACE'], url: '/', handler });
}
