/**
 * Spin's Redis trigger against real Redis servers: every message runs a fresh instance of the
 * component's inbound-redis export, in order; failures are contained, logged and counted; and when
 * Redis goes away and comes back, the trigger resubscribes while HTTP keeps serving throughout.
 * The recovery tests run their own redis-server on a free port, so restarting it disturbs no one else.
 */
import t from 'tap';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { appDir, testGateway } from '../helpers/gateway.js';
import { PrivateRedis, freePort, waitFor } from '../helpers/private-redis.js';
import type { Gateway } from '../../server/app.js';

const recorderWasm = path.join(appDir('components', 'redis-recorder'), 'dist', 'recorder.wasm');
const helloWasm = path.join(appDir('components', 'hello'), 'dist', 'hello.wasm');

async function appWithRecorder(dir: string, redisUrl: string, channel: string): Promise<string> {
  const file = path.join(dir, 'spin.toml');
  await writeFile(
    file,
    `spin_manifest_version = 2
[application]
name = "recorder-app"
[application.trigger.redis]
address = "${redisUrl}"
[[trigger.redis]]
channel = "${channel}"
component = "recorder"
[[trigger.http]]
route = "/hello"
component = "hello"
[component.recorder]
source = ${JSON.stringify(recorderWasm)}
allowed_outbound_hosts = ["${redisUrl}"]
variables = { redis_address = "${redisUrl}" }
[component.hello]
source = ${JSON.stringify(helloWasm)}
`,
  );
  return file;
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

t.test('messages run in order, one fresh instance each; failures are contained, logged and counted', async (t) => {
  const channel = `spinet-rt-${randomBytes(4).toString('hex')}`;
  const list = `${channel}-list`;
  const logs: object[] = [];
  const gw = await testGateway(await appWithRecorder(t.testdir({}), 'redis://127.0.0.1:6379', channel), { SPINET_DEADLINE_MS: '1500' }, logs);
  t.teardown(() => gw.close());
  const redis = new Redis();
  t.teardown(async () => {
    await redis.del(list);
    await redis.quit();
  });
  // Subscribed once Redis reports a subscriber on the channel.
  await waitFor('the subscription', async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] > 0 || undefined);

  const send = (m: object): Promise<number> => redis.publish(channel, JSON.stringify(m));
  for (let i = 0; i < 20; i++) await send({ key: list, value: `m${i}` });
  await send({ fail: true });
  await send({ trap: true });
  await send({ loop: true });
  await send({ key: list, value: 'after the bad ones' });

  const got = await waitFor('all messages recorded', async () => {
    const l = await redis.lrange(list, 0, -1);
    return l.length >= 21 ? l : undefined;
  });
  t.same(got, [...Array.from({ length: 20 }, (_, i) => `m${i}`), 'after the bad ones'], 'every good message ran, in publish order, and the bad ones stopped nothing');

  const labels = { app: 'recorder-app', component: 'recorder', channel };
  // The last guest wrote its list entry just before its run ended: wait for the run to be counted.
  const text = await waitFor('the last run to be counted', async () => {
    const m = await gw.metrics.registry.metrics();
    return metricValue(m, 'spinet_redis_messages_total', { ...labels, outcome: 'ok' }) >= 21 ? m : undefined;
  });
  t.equal(metricValue(text, 'spinet_redis_messages_total', { ...labels, outcome: 'ok' }), 21);
  t.equal(metricValue(text, 'spinet_redis_messages_total', { ...labels, outcome: 'error' }), 1, 'an error result');
  t.equal(metricValue(text, 'spinet_redis_messages_total', { ...labels, outcome: 'trap' }), 1, 'a trap');
  t.equal(metricValue(text, 'spinet_redis_messages_total', { ...labels, outcome: 'deadline' }), 1, 'a loop stopped at its deadline');
  // The looping instance was stopped by terminating its worker, so it never reported: 23 of 24.
  t.equal(metricValue(text, 'spinet_instances_started_total', { app: 'recorder-app', component: 'recorder' }), 23, 'one fresh instance per message');
  const failures = logs.filter((l) => (l as { msg?: string }).msg === 'redis trigger: handler failed; message dropped') as Array<Record<string, unknown>>;
  t.same(
    failures.map((f) => [f.outcome, f.channel, f.app, f.component]),
    [
      ['error', channel, 'recorder-app', 'recorder'],
      ['trap', channel, 'recorder-app', 'recorder'],
      ['deadline', channel, 'recorder-app', 'recorder'],
    ],
    'each failure is logged with outcome, channel, app and component',
  );
  const hello = await gw.fastify.inject({ url: '/hello' });
  t.equal(hello.statusCode, 200, 'HTTP routes of the same app serve as usual');
});

t.test('Redis restarts mid-stream: HTTP keeps serving, the trigger resubscribes, later messages count', async (t) => {
  const server = new PrivateRedis(await freePort());
  await server.start();
  t.teardown(() => server.stop());
  const url = `redis://127.0.0.1:${server.port}`;
  const channel = 'restart-channel';
  const list = 'restart-list';
  const gw: Gateway = await testGateway(await appWithRecorder(t.testdir({}), url, channel), {}, []);
  t.teardown(() => gw.close());
  const client = (): Redis => {
    const c = new Redis(server.port, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 100, 500) });
    c.on('error', () => {});
    return c;
  };
  let redis = client();
  await waitFor('the subscription', async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] > 0 || undefined);
  await redis.publish(channel, JSON.stringify({ key: list, value: 'before' }));
  t.same(await waitFor('the first message', async () => ((await redis.llen(list)) === 1 ? redis.lrange(list, 0, -1) : undefined)), ['before']);
  redis.disconnect();

  await server.stop();
  const connected = async (want: number): Promise<true | undefined> =>
    metricValue(await gw.metrics.registry.metrics(), 'spinet_redis_subscriber_connected', { address: `${url}/` }) === want || metricValue(await gw.metrics.registry.metrics(), 'spinet_redis_subscriber_connected', { address: url }) === want ? true : undefined;
  await waitFor('the gateway to notice Redis is gone', () => connected(0));
  const during = await gw.fastify.inject({ url: '/hello' });
  t.equal(during.statusCode, 200, 'HTTP is served while Redis is down');

  await server.start();
  redis = client();
  t.teardown(() => redis.quit());
  await waitFor('the trigger to resubscribe', async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] > 0 || undefined);
  await redis.publish(channel, JSON.stringify({ key: list, value: 'after restart' }));
  t.same(await waitFor('the message after the restart', async () => ((await redis.llen(list)) === 1 ? redis.lrange(list, 0, -1) : undefined)), ['after restart'], 'the restarted (empty) Redis got the later message');
});

t.test('the gateway starts and serves HTTP while Redis is down, and subscribes once it is up', async (t) => {
  const server = new PrivateRedis(await freePort());
  const url = `redis://127.0.0.1:${server.port}`;
  const gw = await testGateway(await appWithRecorder(t.testdir({}), url, 'late-channel'), {}, []);
  t.teardown(() => gw.close());
  t.equal((await gw.fastify.inject({ url: '/hello' })).statusCode, 200, 'no Redis yet, HTTP serves');
  await server.start();
  t.teardown(() => server.stop());
  const redis = new Redis(server.port);
  t.teardown(() => redis.quit());
  await waitFor('the late subscription', async () => ((await redis.pubsub('NUMSUB', 'late-channel')) as [string, number])[1] > 0 || undefined);
  await redis.publish('late-channel', JSON.stringify({ key: 'late-list', value: 'hello late' }));
  t.same(await waitFor('the message', async () => ((await redis.llen('late-list')) === 1 ? redis.lrange('late-list', 0, -1) : undefined)), ['hello late']);
});

t.test('a component without the inbound-redis export is refused at load', async (t) => {
  const file = path.join(t.testdir({}), 'spin.toml');
  await writeFile(
    file,
    `spin_manifest_version = 2\n[application]\nname = "wrong-export"\n[application.trigger.redis]\naddress = "redis://127.0.0.1:6379"\n[[trigger.redis]]\nchannel = "x"\ncomponent = "hello"\n[component.hello]\nsource = ${JSON.stringify(helloWasm)}\n`,
  );
  await t.rejects(testGateway(file), { code: 'SPINET_ERR_WASM_EXPORT', message: /does not export fermyon:spin\/inbound-redis/ });
});
