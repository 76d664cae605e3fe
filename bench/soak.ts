/**
 * `npm run bench:soak -- --minutes N`: mixed load for N minutes on one multi-tenant gateway (its own
 * process): a healthy hello, key-value increments, static files (a page and a 256 KiB file) and the
 * evil tenant's whole repertoire, all at once. Every 15 s it samples the gateway's RSS (from /proc,
 * worker threads included) and its V8 heap (from /metrics), then reports the series and the RSS
 * trend after warm-up: a leak of instances, streams or handles shows as steady growth.
 *
 * Usage: npm run bench:soak -- [--minutes N] [--warmup-minutes W] [--out FILE]
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../server/free-port.js';
import { BENCH_DOMAIN } from './tenant-gateway.js';
import { EVIL_PATHS, rssMiB, startTenantGateway, stopGateway, writeBenchApps } from './bench-apps.js';

interface SamplePoint {
  readonly minute: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly instances: number;
}


async function scrape(port: number): Promise<{ heapMiB: number; instances: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { host: `metrics.${BENCH_DOMAIN}` } });
  const text = await res.text();
  let heap = 0;
  let instances = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('nodejs_heap_size_used_bytes ')) heap = Number(line.split(' ')[1]);
    if (line.startsWith('spinet_instances_started_total{')) instances += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { heapMiB: heap / 1024 / 1024, instances };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'warmup-minutes': { type: 'string', default: '2' }, out: { type: 'string' } } });
  const minutes = Number(values.minutes);
  const warmup = Math.min(Number(values['warmup-minutes']), minutes / 2);
  const seconds = Math.round(minutes * 60);
  const apps = await writeBenchApps(await mkdtemp(path.join(os.tmpdir(), 'spinet-soak-')));
  const port = await freePort();
  const gw = await startTenantGateway(port, apps);
  const started = Date.now();
  const host = (app: string): Record<string, string> => ({ host: `${app}.${BENCH_DOMAIN}` });
  const url = `http://127.0.0.1:${port}`;
  const loads = [
    autocannon({ url, headers: host('healthy'), connections: 4, overallRate: 40, duration: seconds, timeout: 10 }),
    autocannon({ url, headers: host('kv'), connections: 2, overallRate: 15, duration: seconds, timeout: 10, requests: [{ method: 'GET', path: '/app/kv/count' }] }),
    autocannon({ url, headers: host('static'), connections: 4, overallRate: 100, duration: seconds, timeout: 10, requests: [{ method: 'GET', path: '/' }, { method: 'GET', path: '/data.bin' }] }),
    ...EVIL_PATHS.map((p) => autocannon({ url: `${url}${p}`, headers: host('evil'), connections: 1, duration: seconds, timeout: 10 })),
  ];
  const samples: SamplePoint[] = [];
  const sample = async (): Promise<void> => {
    const [rss, m] = await Promise.all([rssMiB(gw.pid!), scrape(port)]);
    samples.push({ minute: (Date.now() - started) / 60_000, rssMiB: rss, heapMiB: m.heapMiB, instances: m.instances });
    const s = samples.at(-1)!;
    process.stderr.write(`${s.minute.toFixed(2)} min: RSS ${s.rssMiB.toFixed(0)} MiB, heap ${s.heapMiB.toFixed(0)} MiB, ${s.instances} instances\n`);
  };
  await sample();
  const timer = setInterval(() => void sample().catch(() => {}), 15_000);
  const results = await Promise.all(loads);
  clearInterval(timer);
  await sample();
  await stopGateway(gw);

  const after = samples.filter((s) => s.minute >= warmup);
  const rssSlope = slope(after.map((s) => s.minute), after.map((s) => s.rssMiB));
  const heapSlope = slope(after.map((s) => s.minute), after.map((s) => s.heapMiB));
  const names = ['healthy', 'kv /app/kv/count', 'static / and /data.bin', ...EVIL_PATHS.map((p) => `evil ${p}`)];
  const loadLines = results.map((r, i) => {
    const codes = Object.entries(r.statusCodeStats ?? {}).map(([c, { count }]) => `${c === "undefined" ? "cut off mid-response" : c}: ${count ?? 0}`).join(', ');
    return `| ${names[i]} | ${r.requests.total} | ${r.latency.p50} | ${r.latency.p99} | ${codes} | ${r.errors + r.timeouts} |`;
  });
  const series = samples.filter((_, i) => i % 4 === 0 || i === samples.length - 1).map((s) => `| ${s.minute.toFixed(1)} | ${s.rssMiB.toFixed(0)} | ${s.heapMiB.toFixed(0)} | ${s.instances} |`);
  const rssAfter = after.map((s) => s.rssMiB);
  const report = [
    `Soak: ${minutes} min of mixed load on one gateway (workers=${process.env.SPINET_WORKERS ?? os.availableParallelism()}), node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    '| tenant | requests | p50 ms | p99 ms | statuses | transport errors |',
    '|---|---|---|---|---|---|',
    ...loadLines,
    '',
    '| minute | RSS MiB | V8 heap used MiB | Wasm instances started |',
    '|---|---|---|---|',
    ...series,
    '',
    `After ${warmup} min warm-up: RSS ${Math.min(...rssAfter).toFixed(0)}–${Math.max(...rssAfter).toFixed(0)} MiB, trend ${rssSlope >= 0 ? '+' : ''}${rssSlope.toFixed(2)} MiB/min; heap trend ${heapSlope >= 0 ? '+' : ''}${heapSlope.toFixed(2)} MiB/min.`,
    '',
  ].join('\n');
  process.stdout.write(`\n${report}`);
  if (values.out) await writeFile(values.out, report);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
