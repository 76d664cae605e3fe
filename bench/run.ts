/**
 * `npm run bench`: measures, in one run and on the same machine state, bare Fastify against spinet
 * serving the third-party Rust component and spinet serving the TypeScript hello guest. Each server
 * runs as its own process; autocannon drives it from this one. Rounds are interleaved so drift in the
 * machine's load hits every scenario alike; the table reports medians and ratios to bare Fastify.
 * The engine floor (engine-floor.ts) bounds what any per-request-instance design on V8 can reach.
 *
 * Usage: npm run bench -- [--rounds N] [--duration S] [--connections C] [--out FILE]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { median, rssMiB, runScript, waitListening } from './bench-apps.js';

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
  /** Server process CPU time over the measurement, in cores (all its threads). */
  readonly cores: number;
  /** Server process resident memory at the end of the measurement. */
  readonly rssMiB: number;
}

/** A process and its descendants (jco serve runs its server in a child), with their CPU seconds, from /proc. */
async function processTree(pid: number): Promise<Array<{ pid: number; cpu: number }>> {
  const procs = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(entry), { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 }); // USER_HZ is 100 on Linux
    } catch {
      // exited meanwhile
    }
  }
  const tree: Array<{ pid: number; cpu: number }> = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    tree.push({ pid: p, cpu: procs.get(p)?.cpu ?? 0 });
    for (const [child, info] of procs) if (info.ppid === p) todo.push(child);
  }
  return tree;
}

/** utime + stime of a process and its descendants (all threads). */
async function cpuSeconds(pid: number): Promise<number> {
  return (await processTree(pid)).reduce((a, p) => a + p.cpu, 0);
}

/** RSS of a process and its descendants, MiB. */
async function treeRssMiB(pid: number): Promise<number> {
  let total = 0;
  for (const p of await processTree(pid)) total += await rssMiB(p.pid).catch(() => 0);
  return total;
}

/**
 * Stops a server started with `detached: true` and everything it started: `jco serve` runs its
 * server in a child process, which a SIGTERM to jco alone left running (and this bench waiting).
 */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  await exited;
}

async function measure(url: string, duration: number, connections: number): Promise<Omit<Sample, 'cores' | 'rssMiB'>> {
  const r = await autocannon({ url, duration, connections, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
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
    spawn(process.execPath, [main, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], { env: gatewayEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const jcoGlue = (app: string) => (port: number) =>
    spawn(process.execPath, [main, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], { env: { ...gatewayEnv, SPINET_LINKER: 'jco' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const jcoCli = path.join(path.dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))), 'jco.js');
  const jcoServe = (wasm: string) => (port: number) =>
    spawn(process.execPath, [jcoCli, 'serve', wasm, '--host', '127.0.0.1', '--port', String(port), '--isolate-requests', 'instance'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const N = {
    bare: 'bare Fastify hello',
    floor: 'engine floor: bare Fastify + new WebAssembly.Instance of the Rust fixture’s core modules per request, no call',
    rust: 'spinet + hello_wasi_http.wasm (Rust)',
    rustJco: 'spinet, jco glue (SPINET_LINKER=jco) + Rust',
    rustServe: 'jco serve --isolate-requests instance + Rust',
    ts: 'spinet + components/hello (TypeScript)',
    tsJco: 'spinet, jco glue (SPINET_LINKER=jco) + TypeScript',
    tsServe: 'jco serve --isolate-requests instance + TypeScript',
  } as const;
  const script = (name: string, ...args: string[]) => (port: number) => spawn(process.execPath, [path.join(root, 'dist', 'bench', name), `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const scenarios: Scenario[] = [
    { name: N.bare, start: script('bare-fastify.js') },
    { name: N.floor, start: script('engine-floor.js', fixture) },
    { name: N.rust, start: spinet(rustApp) },
    { name: N.rustJco, start: jcoGlue(rustApp) },
    { name: N.rustServe, start: jcoServe(fixture) },
    { name: N.ts, start: spinet(path.join(root, 'components', 'hello')) },
    { name: N.tsJco, start: jcoGlue(path.join(root, 'components', 'hello')) },
    { name: N.tsServe, start: jcoServe(helloWasm) },
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
        const cpu0 = await cpuSeconds(child.pid!);
        const t0 = performance.now();
        const measured = await measure(url, duration, connections);
        const cores = ((await cpuSeconds(child.pid!)) - cpu0) / ((performance.now() - t0) / 1000);
        const sample: Sample = { ...measured, cores, rssMiB: await treeRssMiB(child.pid!) };
        samples.get(s.name)!.push(sample);
        process.stderr.write(`round ${round} ${s.name}: ${sample.rps.toFixed(0)} req/s p50 ${sample.p50} ms p99 ${sample.p99} ms errors ${sample.errors} non-2xx ${sample.non2xx} server CPU ${cores.toFixed(2)} cores RSS ${sample.rssMiB.toFixed(0)} MiB\n`);
      } finally {
        await stopGroup(child);
      }
    }
  }

  const base = samples.get(scenarios[0]!.name)!;
  const baseRps = median(base.map((x) => x.rps));
  const baseP99 = median(base.map((x) => x.p99));
  const lines = [
    `| scenario | req/s (median of ${rounds}) | p50 ms | p99 ms | req/s vs bare Fastify | p99 vs bare Fastify | errors + non-2xx | server CPU (cores) | server RSS MiB |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of scenarios) {
    const xs = samples.get(s.name)!;
    const rps = median(xs.map((x) => x.rps));
    const p99 = median(xs.map((x) => x.p99));
    lines.push(
      `| ${s.name} | ${rps.toFixed(0)} | ${median(xs.map((x) => x.p50)).toFixed(1)} | ${p99.toFixed(1)} | ${(rps / baseRps).toFixed(3)} | ${(p99 / baseP99).toFixed(2)}× | ${xs.reduce((a, x) => a + x.errors + x.non2xx, 0)} | ${median(xs.map((x) => x.cores)).toFixed(2)} | ${median(xs.map((x) => x.rssMiB)).toFixed(0)} |`,
    );
  }
  const rpsOf = (name: string): number => median(samples.get(name)!.map((x) => x.rps));
  const ratio = (a: string, b: string): string => (rpsOf(b) > 0 ? `×${(rpsOf(a) / rpsOf(b)).toFixed(1)}` : `n/a (${b} answered nothing)`);
  lines.push(
    '',
    `spinet vs jco serve --isolate-requests instance, same component: Rust ${ratio(N.rust, N.rustServe)}, TypeScript ${ratio(N.ts, N.tsServe)} req/s; ` +
      `spinet's linker vs jco glue inside spinet: Rust ${ratio(N.rust, N.rustJco)}, TypeScript ${ratio(N.ts, N.tsJco)}. ` +
      `The engine floor reaches ${(rpsOf(N.floor) / baseRps).toFixed(3)} of bare Fastify's req/s; spinet + Rust reaches ${(rpsOf(N.rust) / rpsOf(N.floor)).toFixed(3)} of the floor's.`,
  );
  const cold = await coldStart(main, path.join(root, 'components', 'hello'), gatewayEnv, rounds);
  lines.push(
    '',
    `Cold start, components/hello (TypeScript, ${(Buffer.byteLength(await readFile(helloWasm)) / 2 ** 20).toFixed(1)} MiB), process spawn → first 200, median of ${rounds}: ` +
      `never-seen component (empty cache) ${cold.cold.toFixed(0)} ms; restart with a warm on-disk cache ${cold.warm.toFixed(0)} ms; bare Fastify process spawn → first 200 ${cold.bare.toFixed(0)} ms.`,
  );
  const instantiate = await runScript(path.join(root, 'dist', 'bench', 'instantiate.js'), ['--rounds', String(rounds)]);
  const first = await runScript(path.join(root, 'dist', 'bench', 'first-request.js'), ['--rounds', String(Math.max(3, rounds))]);
  lines.push('', first, '', instantiate);
  const table = `${lines.join('\n')}\n\nautocannon -c ${connections} -d ${duration}, ${rounds} interleaved rounds, spinet workers=${values.workers}, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})\n`;
  process.stdout.write(`\n${table}`);
  if (values.out) await writeFile(values.out, table);
}

/** Spawn → first 200 for a never-seen component (fresh cache dir) and for a restart on that cache. */
async function coldStart(main: string, app: string, env: NodeJS.ProcessEnv, rounds: number): Promise<{ cold: number; warm: number; bare: number }> {
  const once = async (args: string[], childEnv: NodeJS.ProcessEnv, port: number): Promise<number> => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env: childEnv, stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/`);
          await r.arrayBuffer();
          if (r.status === 200) return performance.now() - t0;
        } catch {
          // not listening yet
        }
        if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode} before answering`);
        await new Promise((r) => setTimeout(r, 5));
        if (performance.now() - t0 > 60_000) throw new Error('no answer within 60 s');
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  const cold: number[] = [];
  const warm: number[] = [];
  const bare: number[] = [];
  let port = 3900;
  for (let i = 0; i < rounds; i++) {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'spinet-cold-'));
    const e = { ...env, SPINET_CACHE_DIR: cacheDir };
    cold.push(await once([main, 'up', app, '--listen', `127.0.0.1:${port}`], e, port++));
    warm.push(await once([main, 'up', app, '--listen', `127.0.0.1:${port}`], e, port++));
    bare.push(await once([path.join(root, 'dist', 'bench', 'bare-fastify.js'), `127.0.0.1:${port}`], process.env, port++));
  }
  return { cold: median(cold), warm: median(warm), bare: median(bare) };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
