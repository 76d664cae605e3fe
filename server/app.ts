/**
 * buildGateway(config): the whole gateway, assembled but not listening (tests use `inject()`, the
 * CLI calls `listen`). Loads the app before returning, so a broken manifest or component fails here,
 * before any port is opened.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from './config.js';
import { Executor } from './wasm/executor.js';
import { ComponentCache } from './wasm/component-cache.js';
import { TenantRegistry } from './tenants/tenant-registry.js';
import { loadApp } from './tenants/loaded-app.js';
import { registerHttpTrigger } from './triggers/http.js';
import { registerMetricsRoute } from './plugins/metrics.js';
import { buildMetrics } from './observability/metrics.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { loggerOptions } from './observability/logger.js';
import type { Logger } from './observability/logger.js';

/** A built gateway and the parts tests and the CLI reach into. */
export interface Gateway {
  readonly fastify: FastifyInstance;
  readonly executor: Executor;
  readonly cache: ComponentCache;
  readonly tenants: TenantRegistry;
  readonly metrics: GatewayMetrics;
  /** Stops taking requests, lets in-flight ones finish (up to the configured grace), frees workers. */
  close(): Promise<void>;
}

/** Extra knobs for embedding and tests. */
export interface BuildOptions {
  /** A pino-compatible logger instance or options; defaults to the config's level on stdout. */
  readonly logger?: Record<string, unknown> | boolean;
}

/** Assembles the gateway for `config` and loads its app. Never listens. */
export async function buildGateway(config: GatewayConfig, opts: BuildOptions = {}): Promise<Gateway> {
  const fastify = Fastify({
    logger: opts.logger ?? loggerOptions(config.logLevel, false),
    logController: new LogController({ disableRequestLogging: !config.accessLog }),
    // Keep-alive sockets must not hold shutdown hostage.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Spin matches on the raw path; let every path reach the catch-all route.
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 65535 },
  });
  const log = fastify.log as unknown as Logger;
  const executor = new Executor({ workers: config.workers, maxQueue: config.maxQueue, logger: log.child({ module: 'executor' }) });
  let metrics: GatewayMetrics | undefined;
  const cache = new ComponentCache({
    onPrepared: (c) => {
      if (c.transpileMs > 0) metrics?.compileDuration.observe({ phase: 'transpile' }, c.transpileMs / 1000);
      metrics?.compileDuration.observe({ phase: 'compile' }, c.compileMs / 1000);
    },
    maxBytes: config.cacheMaxBytes,
    diskCacheDir: config.cacheDir === '' ? undefined : config.cacheDir,
    maxInstanceMemory: config.maxInstanceMemory,
    onEvict: (digest) => executor.dropComponent(digest),
  });
  metrics = buildMetrics({ cache, executor });
  const tenants = new TenantRegistry();
  try {
    const app = await loadApp(config.manifest, cache, log);
    tenants.replaceAll([app]);
  } catch (err) {
    await executor.close(0);
    throw err;
  }
  registerMetricsRoute(fastify, metrics);
  registerHttpTrigger(fastify, { tenants, executor, config, metrics });

  let closing: Promise<void> | undefined;
  return {
    fastify,
    executor,
    cache,
    tenants,
    metrics,
    close() {
      closing ??= (async () => {
        // Fastify's close waits for in-flight requests (which wait for their guests) before resolving.
        await fastify.close();
        await executor.close(config.shutdownGraceMs);
      })();
      return closing;
    },
  };
}
