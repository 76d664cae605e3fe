// `scoreboard` (HTTP GET /score?ulid=<ULID>): a session's scorecard. Contract 1.3: answers 200 with
//   {"ulid":"<ULID>","beef":0,"fish":0,"chicken":0,"veg":0,"total":0}
// (keys in exactly this order), read from the Redis hash `fw:score:<ULID>` that `morsel` fills; an
// unknown session has a zero card. A missing or malformed ULID (naive query parsing, as in the
// original) or a Redis failure answers 500 with an empty body.
import { Redis, Variables } from '../../sdk/spin.js';
import { FOODS, scoreKey } from './lib/game.js';
import { naiveQuery } from './lib/query.js';
import { parseUlid } from './lib/ulid.js';

const decoder = new TextDecoder();

function fail(reason: string): Response {
  console.error(`scoreboard: ${reason}`);
  return new Response(null, { status: 500 });
}

/** A hash field's value as a count; anything that is not a non-negative integer counts as 0. */
function count(value: string | undefined): number {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : 0;
}

function handle(request: Request): Response {
  const ulidParam = naiveQuery(request.url).get('ulid');
  const parsed = parseUlid(ulidParam);
  if (parsed === undefined) return fail(ulidParam === undefined ? 'ulid is required' : `malformed ULID ${JSON.stringify(ulidParam)}`);

  const fields = new Map<string, string>();
  try {
    const address = Variables.get('redis_address');
    if (address === null) throw new Error('the component variable redis_address is not set');
    // HGETALL's reply arrives flattened: field, value, field, value, ... (empty for an unknown session).
    const reply = Redis.open(address).execute('HGETALL', scoreKey(parsed.ulid));
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const [field, value] = [reply[i]!, reply[i + 1]!];
      if (field.tag === 'binary' && value.tag === 'binary') fields.set(decoder.decode(field.val), decoder.decode(value.val));
    }
  } catch (err) {
    return fail(`could not read the scorecard of ${parsed.ulid}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const card: Record<string, string | number> = { ulid: parsed.ulid };
  for (const food of FOODS) card[food] = count(fields.get(food));
  card['total'] = count(fields.get('total'));
  return new Response(JSON.stringify(card), { headers: { 'content-type': 'application/json' } });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
