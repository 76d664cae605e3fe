// `tally` (HTTP GET /tally?ulid=<ULID>&food=<food>&correct=<bool>): one click of the game.
// Contract 1.3/1.4:
//   - the query is parsed naively (split on `&` and the first `=`, no URL-decoding);
//   - ulid, food and correct are all required; the ULID must be well formed and at most 30 s old
//     (a game lasts 30 s; a few seconds of clock skew into the future are tolerated); otherwise 500
//     with an empty body;
//   - `correct` is true when its lower-cased value starts with "t";
//   - publishes {"ulid":"…","food":"…","correct":true|false} on the Redis channel `fw-tally`, where the
//     `morsel` Redis-trigger component adds it to the scorecard; a failed publish is only logged;
//   - answers 200 with the body `ULID: "<ULID>"`.
import { Redis, Variables } from '../../sdk/spin.js';
import { GAME_DURATION_MS, TALLY_CHANNEL } from './lib/game.js';
import { naiveQuery } from './lib/query.js';
import { parseUlid } from './lib/ulid.js';

/** How far in the future a ULID's timestamp may be (clock skew between machines). */
const MAX_CLOCK_SKEW_MS = 5_000;

function fail(reason: string): Response {
  console.error(`tally: ${reason}`);
  return new Response(null, { status: 500 });
}

function handle(request: Request): Response {
  const query = naiveQuery(request.url);
  const ulidParam = query.get('ulid');
  const food = query.get('food');
  const correctParam = query.get('correct');
  if (ulidParam === undefined || food === undefined || correctParam === undefined) return fail('ulid, food and correct are required');
  const parsed = parseUlid(ulidParam);
  if (parsed === undefined) return fail(`malformed ULID ${JSON.stringify(ulidParam)}`);
  const age = Date.now() - parsed.timestampMs;
  if (age > GAME_DURATION_MS || age < -MAX_CLOCK_SKEW_MS) return fail(`session ${parsed.ulid} is not in its 30-second game window`);

  const click = { ulid: parsed.ulid, food, correct: correctParam.toLowerCase().startsWith('t') };
  try {
    const address = Variables.get('redis_address');
    if (address === null) throw new Error('the component variable redis_address is not set');
    Redis.open(address).publish(TALLY_CHANNEL, JSON.stringify(click));
  } catch (err) {
    // The click is lost, but the game goes on (as in the original).
    console.error(`tally: could not publish ${JSON.stringify(click)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return new Response(`ULID: ${JSON.stringify(parsed.ulid)}`);
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
