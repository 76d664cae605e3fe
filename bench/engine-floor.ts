/**
 * An upper bound for target 1, run as a child process by bench/run.ts: bare Fastify whose handler,
 * per request, does only what no per-request-instance design on V8 can skip, `new WebAssembly.Instance`
 * of each core module spinet's link plan instantiates for the component (the same compiled modules,
 * the main module on a recycled memory, imports stubbed), and then answers "hello" itself: no guest
 * call, no worker hop, no isolation of runaway guests. Whatever spinet does, it cannot beat this.
 *
 * Usage: node dist/bench/engine-floor.js HOST:PORT COMPONENT.wasm
 */
import { readFile } from 'node:fs/promises';
import Fastify from 'fastify';
import { prepareComponent, digestOf } from '../server/wasm/component-loader.js';

const [host = '127.0.0.1', port = '3100'] = (process.argv[2] ?? '').split(':');
const file = process.argv[3];
if (!file) throw new Error('usage: engine-floor HOST:PORT COMPONENT.wasm');
const bytes = await readFile(file);
const c = await prepareComponent(bytes, digestOf(bytes), { label: file });
if (!c.plan) throw new Error(`${file} is not served by spinet's linker`);
const compiled = new Map(c.modules);
const order = c.plan.instances.flatMap((ci) => (ci.k === 'module' ? [compiled.get(c.plan!.modules[ci.module]!)!] : []));
let memory: WebAssembly.Memory | undefined;
for (const [, spec] of c.memories) memory = new WebAssembly.Memory({ initial: spec.initial, ...(spec.maximum ? { maximum: spec.maximum } : {}) });
const noop = (): void => {};
const imports = order.map((m) => {
  const o: Record<string, Record<string, unknown>> = {};
  for (const i of WebAssembly.Module.imports(m)) {
    o[i.module] ??= {};
    if (i.kind === 'function') o[i.module]![i.name] = noop;
    else if (i.kind === 'memory') o[i.module]![i.name] = memory;
    else throw new Error(`engine floor: cannot stub a ${i.kind} import ${i.module}.${i.name}`);
  }
  return o;
});

const app = Fastify({ logger: false });
app.get('/*', async (_req, reply) => {
  for (let i = 0; i < order.length; i++) new WebAssembly.Instance(order[i]!, imports[i] as WebAssembly.Imports);
  return reply.type('text/plain').send('Hello, this is your first wasi:http/proxy world!\n');
});
await app.listen({ host, port: Number(port) });
process.stdout.write(`listening (${order.length} core instances per request)\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
