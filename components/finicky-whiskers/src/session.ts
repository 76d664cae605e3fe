// `session` (HTTP GET /session): starts a game. Contract 1.3: answers 200 with
//   {"id":"<ULID>","menu":[{"demand":"fish","offset":0},{"demand":"beef","offset":2345},...]}
// The id is a fresh ULID (its timestamp bounds the game to 30 s in `tally`). The menu says which food
// Slats wants and when: starting at offset 0 ms, while the offset is below 30000, add an entry with a
// random food, then advance the offset by a random 1000–3000 ms (inclusive); so 10 to 30 entries.
// Needs no Redis and no other host capability.
import { newUlid } from './lib/ulid.js';

/** The foods in the order the original session service listed them. */
const DEMANDS = ['chicken', 'fish', 'beef', 'veg'] as const;
const MENU_END_MS = 30_000;
const MIN_STEP_MS = 1000;
const MAX_STEP_MS = 3000;

/** A uniformly random integer in [min, max], from the platform's CSPRNG (rejection sampling). */
function randomInt(min: number, max: number): number {
  const range = max - min + 1;
  const limit = Math.floor(0x1_0000_0000 / range) * range;
  const word = new Uint32Array(1);
  do crypto.getRandomValues(word);
  while (word[0]! >= limit);
  return min + (word[0]! % range);
}

interface MenuItem {
  demand: (typeof DEMANDS)[number];
  offset: number;
}

function menu(): MenuItem[] {
  const items: MenuItem[] = [];
  for (let offset = 0; offset < MENU_END_MS; offset += randomInt(MIN_STEP_MS, MAX_STEP_MS)) {
    items.push({ demand: DEMANDS[randomInt(0, DEMANDS.length - 1)]!, offset });
  }
  return items;
}

addEventListener('fetch', (event) => {
  const body = JSON.stringify({ id: newUlid(), menu: menu() });
  event.respondWith(new Response(body, { headers: { 'content-type': 'application/json; charset=UTF-8' } }));
});
