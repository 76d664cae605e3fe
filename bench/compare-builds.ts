/**
 * Before/after on the gateway, per thread: serves the Rust fixture from two or more spinet checkouts
 * (each built, with dist/), one process at a time in interleaved rounds, and reports req/s, p99 and
 * CPU per request of the whole process, of its main (gateway) thread, and of the rest (workers, V8
 * helper threads), from /proc/<pid>/task/<tid>/stat. CPU per request moves less with the machine's
 * load than req/s does.
 *
 * Usage: node dist/bench/compare-builds.js [--rounds 5] [--seconds 8] [--connections 50]
 *        [--component FILE.wasm (the Rust fixture by default)] [--with-env NAME=VALUE] CHECKOUT...
 *
 * `--with-env` runs every checkout twice per round, as is and with that variable set (for settings
 * a process reads at start, such as GLIBC_TUNABLES).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { median, waitListening } from './bench-apps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = path.resolve(root, '..', 'shared', 'fixtures', 'wasm', 'hello_wasi_http.wasm');

/** CPU milliseconds of one thread. */
async function threadMs(pid: number, tid: number | string): Promise<number> {
  const s = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ is 100 on Linux
}

async function processMs(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) total += await threadMs(pid, tid).catch(() => 0);
  return total;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      component: { type: 'string' },
      'with-env': { type: 'string' },
    },
    allowPositionals: true,
  });
  const component = path.resolve(values.component ?? fixture);
  const connections = Number(values.connections);
  if (positionals.length === 0) throw new Error('usage: compare-builds [--rounds N] [--seconds N] [--connections N] [--component FILE] CHECKOUT...');
  const app = path.join(await mkdtemp(path.join(os.tmpdir(), 'spinet-compare-')), 'rust-hello');
  await mkdir(app);
  await writeFile(path.join(app, 'spin.toml'), `spin_manifest_version = 2\n[application]\nname = "rust-hello"\n[[trigger.http]]\nroute = "/..."\ncomponent = "hello"\n[component.hello]\nsource = ${JSON.stringify(component)}\n`);
  const withEnv = values['with-env'];
  const extra: Record<string, string> = {};
  if (withEnv !== undefined) {
    const eq = withEnv.indexOf('=');
    if (eq <= 0) throw new Error(`--with-env wants NAME=VALUE, got "${withEnv}"`);
    extra[withEnv.slice(0, eq)] = withEnv.slice(eq + 1);
  }
  // Each variant: a checkout, and the environment it runs with beyond the bench's own.
  const variants = positionals.flatMap((dir) => [{ label: dir, dir, env: {} as Record<string, string> }, ...(withEnv === undefined ? [] : [{ label: `${dir} + ${withEnv}`, dir, env: extra }])]);
  const results = new Map(variants.map((v) => [v.label, { rps: [] as number[], proc: [] as number[], gw: [] as number[], p50: [] as number[], p99: [] as number[] }]));
  let port = 4600;
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const { label: build, dir, env } of variants) {
      const p = port++;
      const child = spawn(process.execPath, [path.join(dir, 'dist', 'server', 'main.js'), 'up', app, '--listen', `127.0.0.1:${p}`, '--log-level', 'info'], {
        env: { ...process.env, ...env, SPINET_ACCESS_LOG: 'false', SPINET_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        await waitListening(child, build);
        const url = `http://127.0.0.1:${p}/`;
        await autocannon({ url, duration: 2, connections });
        const pid = child.pid!;
        const [p0, g0, t0] = [await processMs(pid), await threadMs(pid, pid), performance.now()];
        // A fixed duration, not a number of requests: autocannon ends an `amount` run on its
        // one-second tick, which rounds the elapsed time up to whole seconds.
        const out = await autocannon({ url, duration: Number(values.seconds), connections });
        const ms = performance.now() - t0;
        const n = out.requests.total;
        const x = results.get(build)!;
        x.rps.push((n / ms) * 1000);
        x.proc.push((((await processMs(pid)) - p0) * 1000) / n);
        x.gw.push((((await threadMs(pid, pid)) - g0) * 1000) / n);
        x.p50.push(out.latency.p50);
        x.p99.push(out.latency.p99);
        process.stderr.write(`round ${r} ${build}: ${x.rps.at(-1)!.toFixed(0)} req/s, process ${x.proc.at(-1)!.toFixed(0)} µs/request, gateway thread ${x.gw.at(-1)!.toFixed(0)} µs/request, p50 ${out.latency.p50} ms, p99 ${out.latency.p99} ms, errors ${out.errors + out.non2xx}\n`);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  }
  const lines = ['| build | req/s | process CPU per request | gateway thread | other threads | p50 ms | p99 ms |', '|---|---|---|---|---|---|---|'];
  for (const [b, x] of results) {
    lines.push(`| ${b} | ${median(x.rps).toFixed(0)} | ${median(x.proc).toFixed(0)} µs | ${median(x.gw).toFixed(0)} µs | ${(median(x.proc) - median(x.gw)).toFixed(0)} µs | ${median(x.p50)} | ${median(x.p99)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n${path.basename(component)}, ${values.rounds} interleaved rounds, medians, autocannon -c ${connections}, ${values.seconds} s after 2 s of warm-up\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`compare-builds failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
