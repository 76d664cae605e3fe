/** Fleet messages are parsed as untrusted input, and the periodic re-sync runs without Redis. */
import t from 'tap';
import { FleetSync, fleetChannel, parseFleetMessage } from '../../server/tenants/fleet-sync.js';
import type { Logger } from '../../server/observability/logger.js';
import { waitFor } from '../helpers/private-redis.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {}, child() { return quiet; } } as unknown as Logger;

t.test('a well-formed message names an app, an action and its sender', async (t) => {
  t.same(parseFleetMessage('{"app":"shop","action":"deploy","version":3,"from":"abc"}'), { app: 'shop', action: 'deploy', version: 3, from: 'abc' });
  t.same(parseFleetMessage('{"app":"shop","action":"remove","from":"abc"}'), { app: 'shop', action: 'remove', from: 'abc' });
  t.equal(fleetChannel('0123'), 'spinet:fleet:0123');
});

const hostile: Array<[string, string]> = [
  ['not JSON', 'deploy shop'],
  ['JSON null', 'null'],
  ['an array', '["shop"]'],
  ['no app', '{"action":"deploy","from":"x"}'],
  ['an app name with a path in it', '{"app":"../etc","action":"deploy","from":"x"}'],
  ['an upper-case app name', '{"app":"Shop","action":"deploy","from":"x"}'],
  ['an unknown action', '{"app":"shop","action":"exec","from":"x"}'],
  ['no sender', '{"app":"shop","action":"deploy"}'],
  ['a huge sender', `{"app":"shop","action":"deploy","from":"${'x'.repeat(65)}"}`],
  ['a fractional version', '{"app":"shop","action":"deploy","version":1.5,"from":"x"}'],
  ['a string version', '{"app":"shop","action":"deploy","version":"1","from":"x"}'],
];
for (const [what, text] of hostile) {
  t.test(`a message with ${what} is ignored`, async (t) => {
    t.equal(parseFleetMessage(text), undefined);
  });
}

t.test('without Redis the periodic re-sync alone brings the replica in line', async (t) => {
  let syncs = 0;
  const fleet = new FleetSync({ member: { sync: async () => {}, syncAll: async () => void syncs++ }, storeId: 's', resyncMs: 20, logger: quiet });
  fleet.start();
  t.teardown(() => fleet.close());
  await waitFor('three re-syncs', async () => (syncs >= 3 ? true : undefined));
  await fleet.publish({ app: 'shop', action: 'deploy', version: 1 });
  t.pass('publishing without Redis is a no-op');
});
