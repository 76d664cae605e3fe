/**
 * `npm run bench:noisy`: does a tenant full of evil guests hurt its neighbours? One multi-tenant
 * gateway (its own process) serves a healthy hello app and an evil app (endless loops, memory hogs,
 * deep recursion, huge, slow and header-bomb responses, writes after finishing, late throws; deadline
 * 2 s). The healthy app gets the same fixed-rate load alone ("solo") and while the evil app is
 * hammered by many connections ("noisy"); rounds alternate the order so machine drift hits both. The
 * report gives the healthy app's latency and error rate in both, as noisy/solo ratios (medians over
 * rounds), and what the evil tenant's requests got.
 *
 * Usage: npm run bench:noisy -- [--rounds N] [--duration S] [--rate R] [--evil-connections C] [--out FILE]
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../server/free-port.js';
import { BENCH_DOMAIN } from './tenant-gateway.js';
import { EVIL_PATHS, median, startTenantGateway, stopGateway, writeBenchApps } from './bench-apps.js';

interface Healthy {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly total: number;
  readonly failed: number;
}

async function healthyLoad(port: number, seconds: number, rate: number): Promise<Healthy> {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    headers: { host: `healthy.${BENCH_DOMAIN}` },
    connections: 8,
    overallRate: rate,
    duration: seconds,
    timeout: 10,
  });
  const total = r.requests.total;
  return { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, total, failed: r.errors + r.timeouts + r.non2xx };
}

/** Every evil path at once, on its own connections (one load per path, so no path waits behind another). */
async function evilLoad(port: number, seconds: number, connections: number): Promise<{ total: number; errors: number; statuses: Map<string, number> }> {
  const perPath = Math.max(1, Math.round(connections / EVIL_PATHS.length));
  const results = await Promise.all(
    EVIL_PATHS.map((p) => autocannon({ url: `http://127.0.0.1:${port}${p}`, headers: { host: `evil.${BENCH_DOMAIN}` }, connections: perPath, duration: seconds, timeout: 10 })),
  );
  const statuses = new Map<string, number>();
  for (const r of results) for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
    const label = code === 'undefined' ? 'cut off mid-response' : code;
    statuses.set(label, (statuses.get(label) ?? 0) + (count ?? 0));
  }
  return { total: results.reduce((a, r) => a + r.requests.total, 0), errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0), statuses };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '20' },
      rate: { type: 'string', default: '40' },
      'evil-connections': { type: 'string', default: '16' },
      out: { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.duration);
  const rate = Number(values.rate);
  const evilConnections = Number(values['evil-connections']);
  const apps = await writeBenchApps(await mkdtemp(path.join(os.tmpdir(), 'spinet-noisy-')));
  const solo: Healthy[] = [];
  const noisy: Healthy[] = [];
  const evilStatus = new Map<string, number>();
  let evilErrors = 0;
  let evilTotal = 0;
  for (let round = 1; round <= rounds; round++) {
    const port = await freePort();
    const gw = await startTenantGateway(port, { healthy: apps.healthy, evil: apps.evil });
    try {
      await healthyLoad(port, 3, rate); // warm-up
      const order = round % 2 === 1 ? ['solo', 'noisy'] : ['noisy', 'solo'];
      for (const kind of order) {
        if (kind === 'solo') {
          const h = await healthyLoad(port, seconds, rate);
          solo.push(h);
          process.stderr.write(`round ${round} solo:  p50 ${h.p50} ms p99 ${h.p99} ms max ${h.max} ms, ${h.failed}/${h.total} failed\n`);
        } else {
          const evil = evilLoad(port, seconds + 2, evilConnections);
          await sleep(2000); // let the evil load take hold first
          const h = await healthyLoad(port, seconds, rate);
          const e = await evil;
          noisy.push(h);
          evilTotal += e.total;
          evilErrors += e.errors;
          for (const [code, n] of e.statuses) evilStatus.set(code, (evilStatus.get(code) ?? 0) + n);
          process.stderr.write(`round ${round} noisy: p50 ${h.p50} ms p99 ${h.p99} ms max ${h.max} ms, ${h.failed}/${h.total} failed; evil: ${e.total} requests, ${e.errors} transport errors\n`);
        }
        await sleep(3000); // let deadlines and retired workers settle between phases
      }
    } finally {
      await stopGateway(gw);
    }
  }
  const row = (name: string, xs: Healthy[]): string => {
    const rateFailed = xs.reduce((a, x) => a + x.failed, 0) / Math.max(1, xs.reduce((a, x) => a + x.total, 0));
    return `| ${name} | ${median(xs.map((x) => x.p50)).toFixed(1)} | ${median(xs.map((x) => x.p99)).toFixed(1)} | ${median(xs.map((x) => x.max)).toFixed(0)} | ${(rateFailed * 100).toFixed(2)}% | ${xs.reduce((a, x) => a + x.total, 0)} |`;
  };
  const p99Ratio = median(noisy.map((x) => x.p99)) / median(solo.map((x) => x.p99));
  const p50Ratio = median(noisy.map((x) => x.p50)) / median(solo.map((x) => x.p50));
  const statuses = [...evilStatus.entries()].sort().map(([c, n]) => `${c}: ${n}`).join(', ');
  const table = [
    `| healthy app (${rate} req/s offered) | p50 ms | p99 ms | max ms | failed | requests |`,
    '|---|---|---|---|---|---|',
    row('solo', solo),
    row(`noisy (evil app hammered, ${evilConnections} connections)`, noisy),
    '',
    `noisy/solo: p50 ×${p50Ratio.toFixed(2)}, p99 ×${p99Ratio.toFixed(2)} (medians of ${rounds} rounds, ${seconds} s each)`,
    `evil tenant: ${evilTotal} requests (${statuses}), ${evilErrors} transport errors/timeouts`,
    `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), workers=${process.env.SPINET_WORKERS ?? os.availableParallelism()}`,
    '',
  ].join('\n');
  process.stdout.write(`\n${table}`);
  if (values.out) await writeFile(values.out, table);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
