/**
 * A multi-tenant gateway for benchmarks, run as a child process: `node dist/bench/tenant-gateway.js
 * HOST:PORT NAME=APP_DIR...` deploys each app as tenant NAME (reached as NAME.bench.test) on a gateway
 * configured from the environment (SPINET_*), then prints "serving on". Built on the same
 * buildGateway and deployApp as `spinet serve`, without its app store.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { buildGateway } from '../server/app.js';
import { loadConfig } from '../server/config.js';

/** The base domain tenants are reached under. */
export const BENCH_DOMAIN = 'bench.test';

async function main(): Promise<void> {
  const [listen = '127.0.0.1:3300', ...apps] = process.argv.slice(2);
  const config = loadConfig({ listen, stateDir: mkdtempSync(path.join(os.tmpdir(), 'spinet-bench-state-')) });
  const gw = await buildGateway(config, { tenancy: { baseDomain: BENCH_DOMAIN, pathPrefix: false } });
  for (const spec of apps) {
    const [name, dir] = spec.split('=') as [string, string];
    await gw.deployApp(dir, { name });
  }
  const address = await gw.fastify.listen({ host: config.host, port: config.port });
  process.stdout.write(`serving on ${address}\n`);
  process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((err: unknown) => {
    process.stderr.write(`tenant gateway failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
