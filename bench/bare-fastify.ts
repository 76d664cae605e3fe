/**
 * The baseline server for benchmarks: bare Fastify answering "hello" on one route, with the same
 * logger setting as the gateway under test (no access log). Run as a child process by bench/run.ts.
 */
import Fastify from 'fastify';

const [host = '127.0.0.1', port = '3100'] = (process.argv[2] ?? '').split(':');
const app = Fastify({ logger: false });
app.get('/*', async (_req, reply) => reply.type('text/plain').send('Hello, this is your first wasi:http/proxy world!\n'));
await app.listen({ host, port: Number(port) });
process.stdout.write(`listening\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
