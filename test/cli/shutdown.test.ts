/**
 * Graceful shutdown with Redis messages in flight: SIGTERM stops taking messages, lets the ones already
 * received run to the end (up to SPINET_SHUTDOWN_GRACE_MS), closes the subscriber and exits 0. Past
 * the grace, what has not started is dropped and logged rather than holding the process hostage.
 */
import t from 'tap';
import type { Test } from 'tap';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { appDir } from '../helpers/gateway.js';
import { freePort } from '../../server/free-port.js';
import { waitFor } from '../helpers/private-redis.js';
import { finished, listening, logLines, runSpinet } from '../helpers/spinet-process.js';

const REDIS = 'redis://127.0.0.1:6379';

async function startRecorder(t: Test, env: Record<string, string> = {}): Promise<{ channel: string; key: string; redis: Redis; done: ReturnType<typeof finished>; child: ReturnType<typeof runSpinet> }> {
  const id = randomUUID();
  const channel = `spinet-shutdown-${id}`;
  const key = `spinet-shutdown-list-${id}`;
  const redis = new Redis(REDIS);
  t.teardown(async () => {
    await redis.del(key);
    redis.disconnect();
  });
  const port = await freePort();
  const child = runSpinet(['up', appDir('components', 'redis-recorder'), '--variable', `channel=${channel}`, '--variable', `redis_address=${REDIS}`], {
    SPINET_LISTEN: `127.0.0.1:${port}`,
    ...env,
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const done = finished(child);
  await listening(child);
  await waitFor('the gateway to subscribe', async () => (((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 1 ? true : undefined), 20_000);
  return { channel, key, redis, done, child };
}

t.test('SIGTERM lets every Redis message already received finish, then exits 0', async (t) => {
  const { channel, key, redis, done, child } = await startRecorder(t);
  const values = ['one', 'two', 'three', 'four'];
  for (const value of values) await redis.publish(channel, JSON.stringify({ key, value, busyMs: 400 }));
  // Let the gateway receive them (the first is running, the rest queued), then stop it.
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGTERM');
  const r = await done;
  t.equal(r.code, 0, 'exit code 0');
  t.match(r.stderr, /SIGTERM received/);
  t.same(await redis.lrange(key, 0, -1), values, 'every message received before the signal ran, in order');
  t.equal(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1], 0, 'the subscription is gone');
  t.notOk(
    logLines(r.stdout).some((l) => /dropped/.test(String(l.msg))),
    'nothing was dropped inside the grace period',
  );
});

t.test('past the shutdown grace, messages not yet started are dropped and logged, and the process still exits 0', async (t) => {
  // The grace leaves room for the first message (300 ms of work, plus a first instance) on a loaded
  // machine, and is still far short of all twelve (3.6 s).
  const { channel, key, redis, done, child } = await startRecorder(t, { SPINET_SHUTDOWN_GRACE_MS: '1500' });
  const total = 12;
  for (let i = 0; i < total; i++) await redis.publish(channel, JSON.stringify({ key, value: String(i), busyMs: 300 }));
  await new Promise((r) => setTimeout(r, 150));
  const signalled = Date.now();
  child.kill('SIGTERM');
  const r = await done;
  const tookMs = Date.now() - signalled;
  t.equal(r.code, 0, 'exit code 0');
  const recorded = await redis.lrange(key, 0, -1);
  t.ok(recorded.length >= 1 && recorded.length < total, `some but not all messages ran (${recorded.length} of ${total})`);
  t.same(recorded, recorded.map((_, i) => String(i)), 'those that ran, ran in order from the first');
  const drop = logLines(r.stdout).find((l) => /shutdown grace ran out; queued messages dropped/.test(String(l.msg)));
  t.ok(drop, 'the drop is logged');
  t.equal(drop?.channel, channel, 'with the channel');
  const dropped = Number(drop?.dropped);
  // The one running at the deadline is stopped by the executor: it is neither recorded nor queued.
  t.ok(recorded.length + dropped === total || recorded.length + dropped === total - 1, `recorded ${recorded.length} + dropped ${dropped} account for all ${total}`);
  t.ok(tookMs < total * 300, `it did not wait for every message (${tookMs} ms)`);
});
