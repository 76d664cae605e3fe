/**
 * `node dist/bench/first-request.js [--rounds N] [--component file.wasm]`: a component arrives at a
 * running gateway (its executor warm, its workers booted) and is asked for its first response: the
 * time from reading its bytes to the response, including hashing them, planning (or jco) and
 * compiling, and the split. Each round runs in a fresh process, so V8 has never compiled the
 * component before.
 *
 * `--spawn [--app DIR]`: the whole cold start instead, process spawn → first 200 of `spinet up DIR`
 * (components/hello by default) with an empty cache directory and again on that directory (a
 * restart), next to bare Fastify's spawn → first 200, rounds interleaved. Also reports the gateway's
 * CPU time up to that answer (all threads, and its main thread alone), which a busy machine inflates
 * less than it does wall time. And a restart as a client sees it: once the restarted gateway answers
 * its status route, the time its component takes to answer its first request.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareComponent, digestOf, readComponentFileWithDigest } from '../server/wasm/component-loader.js';
import { Executor } from '../server/wasm/executor.js';
import { benchRequest, median, quietLogger, runScript } from './bench-apps.js';
import { freePort } from '../server/free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Round {
  readonly totalMs: number;
  /** Read and hash, plan (or jco) and compile; `readMs` of it reading and hashing. */
  readonly prepareMs: number;
  readonly readMs: number;
  readonly firstRunMs: number;
  readonly secondRunMs: number;
}

/** One measurement in this process: warm the executor on the Rust fixture, then time the component. */
async function once(file: string): Promise<Round> {
  const executor = new Executor({ workers: 2, maxQueue: 16, logger: quietLogger });
  try {
    const warmFile = path.resolve(root, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm');
    const warmBytes = await readFile(warmFile);
    const warm = await prepareComponent(warmBytes, digestOf(warmBytes), { label: warmFile });
    for (let i = 0; i < 20; i++) await executor.run(benchRequest(warm, warmFile)).done;
    const t0 = performance.now();
    // Read and hashed as the gateway loads a component (loaded-app.ts), the hash overlapping the read.
    const { bytes, digest } = await readComponentFileWithDigest(file);
    const tRead = performance.now();
    const c = await prepareComponent(bytes, digest, { label: file });
    const t1 = performance.now();
    const first = executor.run(benchRequest(c, file));
    if ((await first.response).status !== 200) throw new Error('first request did not answer 200');
    await first.done;
    const t2 = performance.now();
    const second = executor.run(benchRequest(c, file));
    await second.response;
    await second.done;
    const t3 = performance.now();
    return { totalMs: t2 - t0, prepareMs: t1 - t0, readMs: tRead - t0, firstRunMs: t2 - t1, secondRunMs: t3 - t2 };
  } finally {
    await executor.close();
  }
}

interface Spawned {
  readonly ms: number;
  /** CPU time of the process's threads up to the answer, and of its main thread (Linux only, else NaN). */
  readonly cpuMs: number;
  readonly mainCpuMs: number;
}

/** Run times of a process's threads from /proc, in milliseconds: all of them, and its main thread. */
async function threadCpu(pid: number): Promise<[number, number]> {
  let all = 0;
  let main = 0;
  try {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const ns = Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0]);
      all += ns;
      if (tid === String(pid)) main = ns;
    }
  } catch {
    return [NaN, NaN];
  }
  return [all / 1e6, main / 1e6];
}

/**
 * Polls `url` until it answers 200 (or the child exits, or 60 s pass since `t0`). Connection errors
 * mean the child is not listening yet.
 */
async function pollUntil200(url: string, child: ChildProcess, t0: number, what: string, stderr: () => string): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before answering: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 2));
    if (performance.now() - t0 > 60_000) throw new Error(`${what}: no answer within 60 s`);
  }
}

/** Spawns `args`, runs `measure` on it, then stops the process. */
async function withSpawned<T>(args: readonly string[], env: NodeJS.ProcessEnv, measure: (child: ChildProcess, stderr: () => string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    return await measure(child, () => stderr);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

/** Process spawn → first 200 on http://127.0.0.1:port/, with the CPU time the process used until then. */
function spawnToFirst200(args: readonly string[], env: NodeJS.ProcessEnv, port: number): Promise<Spawned> {
  const t0 = performance.now();
  return withSpawned(args, env, async (child, stderr) => {
    await pollUntil200(`http://127.0.0.1:${port}/`, child, t0, args.join(' '), stderr);
    const ms = performance.now() - t0;
    const [cpuMs, mainCpuMs] = await threadCpu(child.pid!);
    return { ms, cpuMs, mainCpuMs };
  });
}

/**
 * A restart as a client sees it: once the gateway answers its status route (listening, its app
 * loaded), the time its component takes to answer its first request.
 */
function readyThenFirst(args: readonly string[], env: NodeJS.ProcessEnv, port: number): Promise<{ readyMs: number; firstMs: number }> {
  const t0 = performance.now();
  return withSpawned(args, env, async (child, stderr) => {
    await pollUntil200(`http://127.0.0.1:${port}/.well-known/spinet/status.json`, child, t0, args.join(' '), stderr);
    const t1 = performance.now();
    const r = await fetch(`http://127.0.0.1:${port}/`);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`first request answered ${r.status}`);
    return { readyMs: t1 - t0, firstMs: performance.now() - t1 };
  });
}

/** `--spawn`: process spawn → first 200 for an empty cache, a restart, and bare Fastify. */
async function coldStarts(rounds: number, app: string): Promise<void> {
  const gateway = path.join(root, 'dist', 'server', 'main.js');
  const bare = path.join(root, 'dist', 'bench', 'bare-fastify.js');
  const fresh: Spawned[] = [];
  const restart: Spawned[] = [];
  const bareRuns: Spawned[] = [];
  const afterReady: Array<{ readyMs: number; firstMs: number }> = [];
  for (let i = 0; i < rounds; i++) {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'spinet-cold-'));
    const env = { ...process.env, SPINET_CACHE_DIR: cacheDir };
    try {
      let port = await freePort();
      fresh.push(await spawnToFirst200([gateway, 'up', app, '--listen', `127.0.0.1:${port}`], env, port));
      port = await freePort();
      restart.push(await spawnToFirst200([gateway, 'up', app, '--listen', `127.0.0.1:${port}`], env, port));
      port = await freePort();
      bareRuns.push(await spawnToFirst200([bare, `127.0.0.1:${port}`], process.env, port));
      port = await freePort();
      afterReady.push(await readyThenFirst([gateway, 'up', app, '--listen', `127.0.0.1:${port}`], env, port));
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
  const line = (name: string, runs: Spawned[]): string =>
    `${name}: **${median(runs.map((r) => r.ms)).toFixed(0)} ms** (CPU ${median(runs.map((r) => r.cpuMs)).toFixed(0)} ms, main thread ${median(runs.map((r) => r.mainCpuMs)).toFixed(0)} ms; rounds ${runs.map((r) => r.ms.toFixed(0)).join(' / ')})`;
  process.stdout.write(
    `Process spawn → first 200 of spinet up ${path.relative(root, app) || app}, median of ${rounds} interleaved rounds (load average ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end):\n` +
      `- ${line('empty cache', fresh)}\n- ${line('restart', restart)}\n- ${line('bare Fastify', bareRuns)}\n` +
      `- restart, then the component's first request once the gateway answers its status route: **${median(afterReady.map((r) => r.firstMs)).toFixed(1)} ms** ` +
      `(ready after ${median(afterReady.map((r) => r.readyMs)).toFixed(0)} ms; rounds ${afterReady.map((r) => r.firstMs.toFixed(1)).join(' / ')} ms)\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      component: { type: 'string' },
      child: { type: 'boolean', default: false },
      spawn: { type: 'boolean', default: false },
      app: { type: 'string' },
    },
  });
  if (values.spawn) return coldStarts(Number(values.rounds), path.resolve(values.app ?? path.join(root, 'components', 'hello')));
  const file = values.component ?? path.join(root, 'components', 'hello', 'dist', 'hello.wasm');
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await once(file))}\n`);
    return;
  }
  const rounds: Round[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    const out = await runScript(fileURLToPath(import.meta.url), ['--child', '--component', file]);
    rounds.push(JSON.parse(out) as Round);
  }
  const size = (await readFile(file)).length / 2 ** 20;
  process.stdout.write(
    `First request to a never-seen ${path.basename(file)} (${size.toFixed(1)} MiB) at a running gateway, median of ${rounds.length} fresh processes: ` +
      `**${median(rounds.map((r) => r.totalMs)).toFixed(0)} ms** from reading its bytes to the response ` +
      `(read, hash, plan and compile ${median(rounds.map((r) => r.prepareMs)).toFixed(0)} ms, of which reading and hashing ${median(rounds.map((r) => r.readMs)).toFixed(0)} ms; loading it on a worker and the first instance ${median(rounds.map((r) => r.firstRunMs)).toFixed(0)} ms); ` +
      `the second request took ${median(rounds.map((r) => r.secondRunMs)).toFixed(1)} ms. Per round: ${rounds.map((r) => r.totalMs.toFixed(0)).join(' / ')} ms.\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
