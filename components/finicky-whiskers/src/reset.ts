// `reset` (HTTP /reset): starts the game over, as the original's KV-era `reset` did. Contract 1.3:
// deletes every Redis key of the game (`fw:*`: scorecards and the high-score table), found with SCAN
// (which, unlike KEYS, does not block Redis on a large database), and answers 200
// `Finicky Whickers is reset.` (sic); on a Redis failure, 500 with the error's text.
import { Redis, Variables } from '../../sdk/spin.js';
import { KEY_PREFIX } from './lib/game.js';

const decoder = new TextDecoder();

/** Deletes every key matching `fw:*`; returns how many went. */
function resetGame(): number {
  const address = Variables.get('redis_address');
  if (address === null) throw new Error('the component variable redis_address is not set');
  const redis = Redis.open(address);
  let deleted = 0;
  let cursor = '0';
  do {
    // SCAN's reply arrives flattened: the next cursor, then the keys of this batch.
    const [next, ...keys] = redis.execute('SCAN', cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 500);
    if (next?.tag !== 'binary') throw new Error('SCAN returned no cursor');
    cursor = decoder.decode(next.val);
    // Keys go back as strings: the game's keys are UTF-8, and the byte arrays execute() returns are
    // not `instanceof Uint8Array` inside the guest, so the SDK would send them as JSON.
    const names = keys.flatMap((k) => (k.tag === 'binary' ? [decoder.decode(k.val)] : []));
    if (names.length > 0) deleted += redis.del(...names);
  } while (cursor !== '0');
  return deleted;
}

function handle(): Response {
  try {
    const deleted = resetGame();
    console.log(`reset: deleted ${deleted} keys`);
    return new Response('Finicky Whickers is reset.');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`reset: ${message}`);
    return new Response(message, { status: 500 });
  }
}

addEventListener('fetch', (event) => event.respondWith(handle()));
