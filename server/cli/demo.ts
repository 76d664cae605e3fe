/**
 * `spinet demo`: Finicky Whiskers, the flagship demo, with the Redis it needs. Uses the Redis at
 * 127.0.0.1:6379 when one answers, else starts a private redis-server (no persistence) on a free port
 * for as long as the gateway runs. The app itself is components/finicky-whiskers (build it first:
 * `npm run demo` does both).
 */
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config.js';
import { buildGateway } from '../app.js';
import type { RunningGateway } from '../app.js';
import { CliUsageError } from '../errors.js';
import { freePort } from '../free-port.js';

/** Usage text for `spinet demo`. */
export const DEMO_USAGE = `Usage: spinet demo [--listen HOST:PORT] [--redis redis://HOST:PORT]

Serves Finicky Whiskers (components/finicky-whiskers). Redis: --redis, else 127.0.0.1:6379 if it
answers, else a private redis-server started for the demo (needs the redis-server binary).`;

const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'components', 'finicky-whiskers');

/** Sends PING and waits for +PONG: is a Redis server listening there? */
function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}


/** Starts redis-server on a free port; resolves once it answers. */
async function startPrivateRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const spawnError = await Promise.race([once(child, 'spawn').then(() => undefined), once(child, 'error').then(([e]) => e as Error)]);
  if (spawnError) {
    throw new CliUsageError(
      `no Redis answers at 127.0.0.1:6379 and redis-server cannot be started (${spawnError.message}). ` +
        'Install it (Debian: apt-get install redis-server), start a Redis, or pass --redis redis://host:port.',
    );
  }
  for (let i = 0; i < 100; i++) {
    if (await redisAnswers('127.0.0.1', port)) return { url: `redis://127.0.0.1:${port}`, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new CliUsageError(`redis-server started on port ${port} but does not answer`);
}

/** Runs `spinet demo`; resolves once the gateway is listening. */
export async function demo(argv: string[]): Promise<RunningGateway> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, redis: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${DEMO_USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${DEMO_USAGE}\n`);
    return { stop: async () => {}, address: '' };
  }
  let redisUrl = values.redis;
  let redisChild: ChildProcess | undefined;
  if (redisUrl === undefined) {
    if (await redisAnswers('127.0.0.1', 6379)) redisUrl = 'redis://127.0.0.1:6379';
    else ({ url: redisUrl, child: redisChild } = await startPrivateRedis());
  }
  const stopRedis = (): void => {
    redisChild?.kill('SIGTERM');
  };
  // A crash must not leave the private redis-server behind.
  process.once('exit', stopRedis);
  try {
    const config = loadConfig({ manifest: APP_DIR, listen: values.listen, variables: [`redis_address=${redisUrl}`] });
    const gateway = await buildGateway(config);
    const address = await gateway.fastify.listen({ host: config.host, port: config.port });
    gateway.fastify.log.info({ address, redis: redisUrl, privateRedis: redisChild !== undefined }, `Finicky Whiskers: open ${address}/ and play`);
    return {
      address,
      gateway,
      stop: async () => {
        await gateway.close();
        stopRedis();
      },
    };
  } catch (err) {
    stopRedis();
    throw err;
  }
}
