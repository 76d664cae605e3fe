/**
 * `node dist/bench/first-request.js [--rounds N] [--component file.wasm]`: a component arrives at a
 * running gateway (its executor warm, its workers booted) and is asked for its first response: the
 * time from reading its bytes to the response, including planning (or jco) and compiling, and the
 * split. Each round runs in a fresh process, so V8 has never compiled the component before.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareComponent, digestOf } from '../server/wasm/component-loader.js';
import { Executor } from '../server/wasm/executor.js';
import { benchRequest, median, quietLogger, runScript } from './bench-apps.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Round {
  readonly totalMs: number;
  readonly prepareMs: number;
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
    const bytes = await readFile(file);
    const c = await prepareComponent(bytes, digestOf(bytes), { label: file });
    const t1 = performance.now();
    const first = executor.run(benchRequest(c, file));
    if ((await first.response).status !== 200) throw new Error('first request did not answer 200');
    await first.done;
    const t2 = performance.now();
    const second = executor.run(benchRequest(c, file));
    await second.response;
    await second.done;
    const t3 = performance.now();
    return { totalMs: t2 - t0, prepareMs: t1 - t0, firstRunMs: t2 - t1, secondRunMs: t3 - t2 };
  } finally {
    await executor.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, component: { type: 'string' }, child: { type: 'boolean', default: false } } });
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
      `(read, plan and compile ${median(rounds.map((r) => r.prepareMs)).toFixed(0)} ms; loading it on a worker and the first instance ${median(rounds.map((r) => r.firstRunMs)).toFixed(0)} ms); ` +
      `the second request took ${median(rounds.map((r) => r.secondRunMs)).toFixed(1)} ms. Per round: ${rounds.map((r) => r.totalMs.toFixed(0)).join(' / ')} ms.\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
