/**
 * `npm run bench`: measures, in one run and on the same machine state, bare Fastify against spinet
 * serving the third-party Rust component and spinet serving the TypeScript hello guest. Each server
 * runs as its own process; autocannon drives it from this one. Rounds are interleaved so drift in the
 * machine's load hits every scenario alike; the table reports medians and ratios to bare Fastify.
 *
 * Usage: npm run bench -- [--rounds N] [--duration S] [--connections C] [--out FILE]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = path.resolve(root, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm');

interface Scenario {
  readonly name: string;
  readonly start: (port: number) => ChildProcess;
}

interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
}

function waitListening(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/listening|serving on/.test(out)) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening:\n${out}`)));
  });
}

async function measure(url: string, duration: number, connections: number): Promise<Sample> {
  const r = await autocannon({ url, duration, connections, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      workers: { type: 'string', default: String(os.availableParallelism()) },
      out: { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (!existsSync(fixture)) throw new Error(`missing ${fixture}: the bench needs ../shared/fixtures beside the repo`);
  const helloWasm = path.join(root, 'components', 'hello', 'dist', 'hello.wasm');
  if (!existsSync(helloWasm)) throw new Error(`missing ${helloWasm}: run npm run build:components first`);

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'spinet-bench-'));
  const rustApp = path.join(tmp, 'rust-hello');
  await import('node:fs/promises').then((fs) => fs.mkdir(rustApp));
  await writeFile(
    path.join(rustApp, 'spin.toml'),
    `spin_manifest_version = 2\n[application]\nname = "rust-hello"\n[[trigger.http]]\nroute = "/..."\ncomponent = "hello"\n[component.hello]\nsource = ${JSON.stringify(fixture)}\n`,
  );
  const main = path.join(root, 'dist', 'server', 'main.js');
  const gatewayEnv = { ...process.env, SPINET_ACCESS_LOG: 'false', SPINET_LOG_LEVEL: 'warn', SPINET_WORKERS: values.workers };
  const spinet = (app: string) => (port: number) =>
    spawn(process.execPath, [main, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], { env: gatewayEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const scenarios: Scenario[] = [
    { name: 'bare Fastify hello', start: (port) => spawn(process.execPath, [path.join(root, 'dist', 'bench', 'bare-fastify.js'), `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] }) },
    { name: 'spinet + hello_wasi_http.wasm (Rust)', start: spinet(rustApp) },
    { name: 'spinet + components/hello (TypeScript)', start: spinet(path.join(root, 'components', 'hello')) },
  ];

  const samples = new Map<string, Sample[]>(scenarios.map((s) => [s.name, []]));
  let port = 3200;
  for (let round = 1; round <= rounds; round++) {
    for (const s of scenarios) {
      const p = port++;
      const child = s.start(p);
      try {
        await waitListening(child, s.name);
        const url = `http://127.0.0.1:${p}/`;
        await measure(url, 2, connections); // warm-up: JIT, lazy compilation, worker glue
        const sample = await measure(url, duration, connections);
        samples.get(s.name)!.push(sample);
        process.stderr.write(`round ${round} ${s.name}: ${sample.rps.toFixed(0)} req/s p50 ${sample.p50} ms p99 ${sample.p99} ms errors ${sample.errors} non-2xx ${sample.non2xx}\n`);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  }

  const base = samples.get(scenarios[0]!.name)!;
  const baseRps = median(base.map((x) => x.rps));
  const baseP99 = median(base.map((x) => x.p99));
  const lines = [
    `| scenario | req/s (median of ${rounds}) | p50 ms | p99 ms | req/s vs bare Fastify | p99 vs bare Fastify | errors + non-2xx |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const s of scenarios) {
    const xs = samples.get(s.name)!;
    const rps = median(xs.map((x) => x.rps));
    const p99 = median(xs.map((x) => x.p99));
    lines.push(
      `| ${s.name} | ${rps.toFixed(0)} | ${median(xs.map((x) => x.p50)).toFixed(1)} | ${p99.toFixed(1)} | ${(rps / baseRps).toFixed(3)} | ${(p99 / baseP99).toFixed(2)}× | ${xs.reduce((a, x) => a + x.errors + x.non2xx, 0)} |`,
    );
  }
  const table = `${lines.join('\n')}\n\nautocannon -c ${connections} -d ${duration}, ${rounds} interleaved rounds, spinet workers=${values.workers}, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})\n`;
  process.stdout.write(`\n${table}`);
  if (values.out) await writeFile(values.out, table);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
