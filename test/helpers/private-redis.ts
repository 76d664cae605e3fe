/**
 * Test helpers for Redis: a private redis-server on a free port (tests may stop and restart it
 * without disturbing the shared one), and polling for asynchronous outcomes instead of fixed sleeps.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from '../../server/free-port.js';

export { freePort };

/** Polls `check` until it returns a value or `ms` pass (no fixed sleeps: asynchronous work is awaited). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


/** A private redis-server (no persistence) that tests may stop and start again on the same port. */
export class PrivateRedis {
  #proc: ChildProcess | undefined;
  constructor(readonly port: number) {}
  async start(): Promise<void> {
    this.#proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const failed = await Promise.race([once(this.#proc, 'spawn').then(() => undefined), once(this.#proc, 'error').then(([e]) => e as Error)]);
    if (failed) throw new Error(`cannot start redis-server (${failed.message}); .ci/run installs Debian's redis-server`);
    await waitFor('redis-server to accept connections', async () => {
      const c = new Redis({ port: this.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        return (await c.ping()) === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      } finally {
        c.disconnect();
      }
    });
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = undefined;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGKILL');
    await once(p, 'exit');
  }
}

