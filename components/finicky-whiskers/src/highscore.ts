// `highscore` (HTTP /highscore): the top-10 table. Contract 1.3:
//   GET  → 200, the table as pretty-printed (2-space) JSON: [{"score":n,"username":"abc","ulid":"…"}, …],
//          best first, at most 10 entries.
//   POST {"score":n,"ulid":"<ULID>","username":"" | "abc"}
//        → 200 {"is_high_score":bool,"rank":n,"high_score_table":[…]}
//          A score qualifies when the table has fewer than 10 entries or it beats (is strictly greater
//          than) the 10th; rank is its 1-based place (after any equal scores), 0 when it does not
//          qualify. The game first asks with username "" (nothing is stored), then, for a high score,
//          posts again with the player's name (at most 3 characters; longer names are truncated),
//          which stores it and bumps the 11th entry off. A session has at most one entry: posting again
//          for the same ULID replaces it.
//   Other methods, or a body that is not such a JSON object → 405 with an empty body (the original's quirk).
//   A Redis failure → 500 with an empty body.
//
// The table is one JSON array under the Redis key `fw:highscores`. Writers update it optimistically: read
// it, compute the new table, and store it with a compare-and-set Lua script that fails if another POST
// changed it in between (then retry), so concurrent POSTs cannot lose each other's entries.
import { Redis, Variables, type RedisConnection } from '../../sdk/spin.js';
import { HIGHSCORE_KEY, HIGHSCORE_TABLE_SIZE } from './lib/game.js';
import { parseUlid } from './lib/ulid.js';

const MAX_USERNAME_CHARS = 3;
const MAX_ATTEMPTS = 10;

/** One row of the table; the key order is the JSON's. */
interface Entry {
  score: number;
  username: string;
  ulid: string;
}

/** Sets KEYS[1] to ARGV[2] only if it still holds ARGV[1] ("" standing for a missing key); 1 if it did. */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

const decoder = new TextDecoder();

function openRedis(): RedisConnection {
  const address = Variables.get('redis_address');
  if (address === null) throw new Error('the component variable redis_address is not set');
  return Redis.open(address);
}

function isEntry(value: unknown): value is Entry {
  const e = value as Partial<Entry> | null;
  return typeof e === 'object' && e !== null && typeof e.score === 'number' && typeof e.username === 'string' && typeof e.ulid === 'string';
}

/** The stored table and its exact text (the compare-and-set compares text); "" when there is none. */
function load(redis: RedisConnection): { raw: string; table: Entry[] } {
  const raw = redis.getString(HIGHSCORE_KEY) ?? '';
  if (raw === '') return { raw, table: [] };
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed)) {
      return { raw, table: parsed.filter(isEntry).map(({ score, username, ulid }) => ({ score, username, ulid })) };
    }
  } catch {
    // fall through: a damaged table is replaced by the next stored score
  }
  console.error(`highscore: ${HIGHSCORE_KEY} does not hold a JSON array; treating it as empty`);
  return { raw, table: [] };
}

function compareAndSet(redis: RedisConnection, expected: string, next: string): boolean {
  const [result] = redis.execute('EVAL', COMPARE_AND_SET, 1, HIGHSCORE_KEY, expected, next);
  return result?.tag === 'int64' && result.val === 1n;
}

/** The POST body, or undefined when it is not {"score": <integer ≥ 0>, "ulid": <ULID>, "username": <string>}. */
function parseSubmission(text: string): Entry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { score, ulid, username } = value as Record<string, unknown>;
  if (typeof score !== 'number' || !Number.isSafeInteger(score) || score < 0) return undefined;
  if (typeof username !== 'string' || typeof ulid !== 'string') return undefined;
  const parsed = parseUlid(ulid);
  if (parsed === undefined) return undefined;
  return { score, username: Array.from(username).slice(0, MAX_USERNAME_CHARS).join(''), ulid: parsed.ulid };
}

function json(value: unknown, indent?: number): Response {
  return new Response(JSON.stringify(value, null, indent), { headers: { 'content-type': 'application/json' } });
}

function submit(redis: RedisConnection, entry: Entry): Response {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const { raw, table } = load(redis);
    const others = table.filter((e) => e.ulid !== entry.ulid);
    const rank = 1 + others.filter((e) => e.score >= entry.score).length;
    const isHighScore = rank <= HIGHSCORE_TABLE_SIZE;
    if (!isHighScore || entry.username === '') {
      return json({ is_high_score: isHighScore, rank: isHighScore ? rank : 0, high_score_table: table });
    }
    const next = [...others];
    next.splice(rank - 1, 0, entry);
    next.length = Math.min(next.length, HIGHSCORE_TABLE_SIZE);
    if (compareAndSet(redis, raw, JSON.stringify(next))) {
      return json({ is_high_score: true, rank, high_score_table: next });
    }
    // Another POST changed the table since we read it: start over from the new table.
  }
  throw new Error(`the high-score table kept changing; gave up after ${MAX_ATTEMPTS} attempts`);
}

async function handle(request: Request): Promise<Response> {
  let entry: Entry | undefined;
  if (request.method === 'POST') entry = parseSubmission(decoder.decode(await request.arrayBuffer()));
  if (request.method !== 'GET' && entry === undefined) return new Response(null, { status: 405 });
  try {
    const redis = openRedis();
    return entry === undefined ? json(load(redis).table, 2) : submit(redis, entry);
  } catch (err) {
    console.error(`highscore: ${err instanceof Error ? err.message : String(err)}`);
    return new Response(null, { status: 500 });
  }
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
