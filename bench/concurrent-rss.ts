/**
 * `node dist/bench/concurrent-rss.js [--connections 100] [--seconds 10] [--runs 3] [--app DIR]`:
 * the gateway's memory under N requests in flight at once (issue 8, target 5). Starts `spinet up`
 * on components/hello (a 13 MB componentize-js guest) by default, records its RSS (from /proc, worker
 * threads included) idle, then runs `autocannon -c N` for the given seconds, several times, sampling
 * RSS every 250 ms: the peak and the value after each run show what N in-flight requests cost and
 * whether repeated runs leave memory behind.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../server/free-port.js';
import { rssMiB, waitListening } from './bench-apps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { connections: { type: 'string', default: '100' }, seconds: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' }, app: { type: 'string' } },
  });
  const app = path.resolve(values.app ?? path.join(root, 'components', 'hello'));
  const connections = Number(values.connections);
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'dist', 'server', 'main.js'), 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], {
    env: { ...process.env, SPINET_ACCESS_LOG: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await waitListening(child, 'spinet up');
    const pid = child.pid!;
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await rssMiB(pid);
    const lines: string[] = [];
    for (let run = 1; run <= Number(values.runs); run++) {
      let peak = 0;
      const sampler = setInterval(() => {
        void rssMiB(pid).then((v) => (peak = Math.max(peak, v)), () => {});
      }, 250);
      const out = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: Number(values.seconds) });
      clearInterval(sampler);
      const end = await rssMiB(pid);
      await new Promise((r) => setTimeout(r, 2000));
      const settled = await rssMiB(pid);
      lines.push(
        `| ${run} | ${out.requests.total} | ${out.errors + out.non2xx} | ${peak.toFixed(0)} | ${end.toFixed(0)} | ${settled.toFixed(0)} |`,
      );
      process.stderr.write(`run ${run}: ${out.requests.total} requests, peak ${peak.toFixed(0)} MiB, end ${end.toFixed(0)} MiB, 2 s later ${settled.toFixed(0)} MiB\n`);
    }
    process.stdout.write(
      `spinet up ${path.relative(root, app) || app}, autocannon -c ${connections} -d ${values.seconds}, RSS idle ${idle.toFixed(0)} MiB\n\n` +
        `| run | requests | errors + non-2xx | peak RSS MiB | RSS at the end MiB | 2 s later MiB |\n|---|---|---|---|---|---|\n${lines.join('\n')}\n`,
    );
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`concurrent-rss failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
