// `morsel` (Redis trigger on channel `fw-tally`): turns clicks into scores. Contract 1.4: each message
// is {"ulid":"<ULID>","food":"fish","correct":true} as published by `tally`. Clicks with correct:false
// are ignored, malformed messages are logged and dropped (returning an error would not make them
// better). A correct click adds 1 to the food's field (known foods only) and to `total` of the session's
// scorecard, the Redis hash `fw:score:<ULID>` that `scoreboard` reads.
//
// Unlike the original's GET/modify/SET of a JSON value, HINCRBY is atomic, so concurrent messages of one
// session cannot lose points; the hash expires a day after the last click, so abandoned sessions do not
// accumulate. A Redis failure is the handler's error result (the gateway logs and counts it).
import { Redis, Variables } from '../../sdk/spin.js';
import { isFood, scoreKey } from './lib/game.js';
import { parseUlid } from './lib/ulid.js';

const SCORECARD_TTL_SECONDS = 24 * 60 * 60;
const decoder = new TextDecoder();

interface Click {
  readonly ulid: string;
  readonly food: string;
  readonly correct: boolean;
}

/** The click in `payload`, or a description of what is wrong with it. */
function parseClick(payload: Uint8Array): Click | string {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const { ulid, food, correct } = value as Record<string, unknown>;
  const parsed = typeof ulid === 'string' ? parseUlid(ulid) : undefined;
  if (parsed === undefined) return 'ulid is not a ULID';
  if (typeof food !== 'string') return 'food is not a string';
  if (typeof correct !== 'boolean') return 'correct is not a boolean';
  return { ulid: parsed.ulid, food, correct };
}

export const inboundRedis = {
  handleMessage(payload: Uint8Array): void {
    const click = parseClick(payload);
    if (typeof click === 'string') {
      console.error(`morsel: dropping a malformed message (${click}): ${JSON.stringify(decoder.decode(payload).slice(0, 200))}`);
      return;
    }
    if (!click.correct) return;

    try {
      const address = Variables.get('redis_address');
      if (address === null) throw new Error('the component variable redis_address is not set');
      const redis = Redis.open(address);
      const key = scoreKey(click.ulid);
      // An unknown food still counts in the total, as in the original.
      if (isFood(click.food)) redis.execute('HINCRBY', key, click.food, 1);
      redis.execute('HINCRBY', key, 'total', 1);
      redis.execute('EXPIRE', key, SCORECARD_TTL_SECONDS);
    } catch (err) {
      console.error(`morsel: could not score ${JSON.stringify(click)}: ${err instanceof Error ? err.message : String(err)}`);
      // The WIT result's err case (fermyon:spin/redis-types error): a thrown value carrying `payload`.
      throw Object.assign(new Error('morsel could not update the scorecard'), { payload: 'error' });
    }
  },
};
