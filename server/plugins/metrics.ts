/**
 * `GET /metrics` on the gateway port: the Prometheus exposition of the gateway's registry.
 * A static route, so it takes precedence over an app's catch-all; an app route named exactly
 * `/metrics` is shadowed (documented in the README).
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from '../observability/metrics.js';

/** Registers the scrape endpoint. */
export function registerMetricsRoute(fastify: FastifyInstance, metrics: GatewayMetrics): void {
  fastify.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
