/**
 * `npm run bench:players -- --players N`: Finicky Whiskers under N simulated players at human click
 * rates. Each player plays real 30-second games in a loop, as the front-end does: GET /session, a
 * click (GET /tally) every 120–330 ms with 80% of them on the wanted food, GET /score once a second,
 * and at the end GET /score plus POST /highscore. The gateway runs as its own process (`spinet demo`
 * with a private Redis); the report gives requests/s, Wasm instances/s (from the gateway's own
 * spinet_instances_started_total, Redis-trigger runs included), latency per endpoint, transport errors,
 * and non-2xx answers (mostly clicks the server refuses because they arrived after the session's 30 s
 * window: what players see when the gateway is saturated).
 *
 * Usage: npm run bench:players -- [--players N[,N...]] [--seconds S] [--out FILE]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { appendFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { freePort } from '../server/free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

type Endpoint = 'session' | 'tally' | 'score' | 'highscore';

interface Stats {
  readonly latencies: Record<Endpoint, number[]>;
  errors: number;
  non2xx: number;
  requests: number;
  clicks: number;
  games: number;
}


function startGateway(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'server', 'main.js'), 'demo', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, SPINET_ACCESS_LOG: 'false', SPINET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const poll = setInterval(() => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        clearInterval(poll);
        resolve(child);
      });
      s.once('error', () => s.destroy());
    }, 200);
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`gateway exited with ${code}:\n${out}`));
    });
  });
}

async function instancesStarted(base: string, dispatcher: Agent): Promise<number> {
  const res = await request(`${base}/metrics`, { dispatcher });
  const text = await res.body.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('spinet_instances_started_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function call(stats: Stats, dispatcher: Agent, endpoint: Endpoint, url: string, init?: { method: 'POST'; body: string }): Promise<string | undefined> {
  const t0 = performance.now();
  stats.requests++;
  try {
    const res = await request(url, { dispatcher, ...(init ? { method: init.method, body: init.body, headers: { 'content-type': 'application/json' } } : {}) });
    const body = await res.body.text();
    stats.latencies[endpoint].push(performance.now() - t0);
    if (res.statusCode >= 300) {
      stats.non2xx++;
      return undefined;
    }
    return body;
  } catch {
    stats.errors++;
    return undefined;
  }
}

/** One player: games back to back until `until`. */
async function player(base: string, dispatcher: Agent, stats: Stats, until: number): Promise<void> {
  const foods = ['chicken', 'fish', 'beef', 'veg'];
  while (performance.now() < until) {
    // The server's 30-second window starts when it creates the session, so the player's clock starts
    // when it asks for one (as the front-end does), not when the answer arrives.
    const start = performance.now();
    const session = await call(stats, dispatcher, 'session', `${base}/session`);
    if (!session) {
      await sleep(1000);
      continue;
    }
    const { id, menu } = JSON.parse(session) as { id: string; menu: Array<{ demand: string; offset: number }> };
    const end = Math.min(start + 29_500, until);
    const wanted = (): string => {
      const t = performance.now() - start;
      let d = menu[0]?.demand ?? 'fish';
      for (const m of menu) if (m.offset <= t) d = m.demand;
      return d;
    };
    const poller = (async () => {
      while (performance.now() < end) {
        await call(stats, dispatcher, 'score', `${base}/score?ulid=${id}`);
        await sleep(1000);
      }
    })();
    while (performance.now() < end) {
      const want = wanted();
      const food = Math.random() < 0.8 ? want : foods[Math.floor(Math.random() * 4)]!;
      stats.clicks++;
      await call(stats, dispatcher, 'tally', `${base}/tally?ulid=${id}&food=${food}&correct=${food === want}`);
      await sleep(120 + Math.random() * 210);
    }
    await poller;
    if (performance.now() >= until) break;
    const card = await call(stats, dispatcher, 'score', `${base}/score?ulid=${id}`);
    const total = card ? (JSON.parse(card) as { total: number }).total : 0;
    await call(stats, dispatcher, 'highscore', `${base}/highscore`, { method: 'POST', body: JSON.stringify({ score: total, ulid: id, username: '' }) });
    stats.games++;
  }
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function runLevel(players: number, seconds: number): Promise<string> {
  const port = await freePort();
  const gateway = await startGateway(port);
  const base = `http://127.0.0.1:${port}`;
  const dispatcher = new Agent({ connections: Math.max(4, players * 2), keepAliveTimeout: 10_000 });
  try {
    // Warm up: first instances of each component compile lazily inside the engine.
    const warm: Stats = { latencies: { session: [], tally: [], score: [], highscore: [] }, errors: 0, non2xx: 0, requests: 0, clicks: 0, games: 0 };
    await player(base, dispatcher, warm, performance.now() + 3000);
    const stats: Stats = { latencies: { session: [], tally: [], score: [], highscore: [] }, errors: 0, non2xx: 0, requests: 0, clicks: 0, games: 0 };
    const before = await instancesStarted(base, dispatcher);
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    await Promise.all(Array.from({ length: players }, async (_, i) => {
      await sleep((i * 1000) / players); // players arrive over the first second
      await player(base, dispatcher, stats, until);
    }));
    const elapsed = (performance.now() - t0) / 1000;
    // Trigger runs finish shortly after their clicks: give the queue a moment before reading the count.
    await sleep(1500);
    const instances = (await instancesStarted(base, dispatcher)) - before;
    const all = Object.values(stats.latencies).flat();
    return `| ${players} | ${(stats.requests / elapsed).toFixed(0)} | ${(stats.clicks / elapsed).toFixed(0)} | ${(instances / elapsed).toFixed(0)} | ${pct(all, 50).toFixed(1)} | ${pct(all, 99).toFixed(1)} | ${pct(stats.latencies.tally, 99).toFixed(1)} | ${pct(stats.latencies.score, 99).toFixed(1)} | ${stats.errors} | ${stats.non2xx} |`;
  } finally {
    await dispatcher.close();
    gateway.kill('SIGTERM');
    await once(gateway, 'exit');
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { players: { type: 'string', default: '10' }, seconds: { type: 'string', default: '40' }, out: { type: 'string' } } });
  const levels = values.players.split(',').map(Number);
  const seconds = Number(values.seconds);
  const header = [
    `Finicky Whiskers players, ${seconds} s per level (node ${process.version}, ${(await import('node:os')).cpus().length} CPUs)`,
    '',
    '| players | req/s | clicks/s | Wasm instances/s | p50 ms | p99 ms | tally p99 ms | score p99 ms | errors | non-2xx |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  process.stdout.write(`${header.join('\n')}\n`);
  const rows: string[] = [];
  for (const n of levels) {
    const row = await runLevel(n, seconds);
    rows.push(row);
    process.stdout.write(`${row}\n`);
  }
  if (values.out) await appendFile(values.out, `${[...header, ...rows].join('\n')}\n\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:players failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
