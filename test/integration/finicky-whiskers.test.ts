/**
 * Finicky Whiskers, the demo app, against the game's HTTP contract: the original repository's tally
 * test (a session, six clicks, the score landing asynchronously through the Redis trigger), the
 * highscore flow, the 30-second ULID window, and a Redis restart in the middle of a game.
 * Runs its own redis-server so that restarting it and resetting the game disturb no other test.
 */
import t from 'tap';
import path from 'node:path';
import { appDir, testGateway } from '../helpers/gateway.js';
import { PrivateRedis, freePort, waitFor } from '../helpers/private-redis.js';
import type { Gateway } from '../../server/app.js';

const FOODS = ['chicken', 'fish', 'beef', 'veg'];
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID whose timestamp is `ms` (random part fixed): lets the test make sessions of any age. */
function ulidAt(ms: number): string {
  let time = '';
  for (let i = 0, v = ms; i < 10; i++, v = Math.floor(v / 32)) time = CROCKFORD[v % 32]! + time;
  return `${time}${'7'.repeat(16)}`;
}

const redis = new PrivateRedis(await freePort());
await redis.start();
t.teardown(() => redis.stop());
const logs: object[] = [];
const gw: Gateway = await testGateway(path.join(appDir('components', 'finicky-whiskers'), 'spin.toml'), {}, logs, { flags: { variables: [`redis_address=${redis.url}`] } });
t.teardown(() => gw.close());

async function get(url: string): Promise<{ status: number; body: string; type: string | undefined }> {
  const res = await gw.fastify.inject({ url });
  return { status: res.statusCode, body: res.body, type: res.headers['content-type'] as string | undefined };
}

async function newSession(): Promise<{ id: string; menu: Array<{ demand: string; offset: number }> }> {
  const res = await get('/session');
  if (res.status !== 200) throw new Error(`/session: ${res.status}`);
  return JSON.parse(res.body) as { id: string; menu: Array<{ demand: string; offset: number }> };
}

/** Waits until the scorecard (delivered asynchronously by the morsel trigger) reaches `total`. */
function scoreWhen(ulid: string, total: number): Promise<string> {
  return waitFor(`score total ${total}`, async () => {
    const res = await get(`/score?ulid=${ulid}`);
    return res.status === 200 && (JSON.parse(res.body) as { total: number }).total === total ? res.body : undefined;
  });
}

t.test('/ redirects to the game and the static site is served', async (t) => {
  const root = await gw.fastify.inject({ url: '/' });
  t.equal(root.statusCode, 302);
  t.equal(root.headers.location, '/index.html');
  const index = await get('/index.html');
  t.equal(index.status, 200);
  t.match(index.type, /^text\/html/);
  t.notMatch(index.body, /https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"']*\.(js|css)/i, 'no script or stylesheet comes from another origin');
  const jquery = await gw.fastify.inject({ url: '/vendor/jquery.min.js', headers: { 'accept-encoding': 'br, gzip' } });
  t.equal(jquery.statusCode, 200);
  t.equal(jquery.headers['content-encoding'], 'br', 'vendored libraries are served precompressed');
  t.ok(jquery.rawPayload.length < 40_000, `jQuery in ${jquery.rawPayload.length} bytes`);
});

t.test('a session is a fresh ULID and a 30-second menu', async (t) => {
  const { id, menu } = await newSession();
  t.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.ok(menu.length >= 10 && menu.length <= 30, `${menu.length} menu items`);
  t.equal(menu[0]!.offset, 0);
  for (let i = 1; i < menu.length; i++) {
    const step = menu[i]!.offset - menu[i - 1]!.offset;
    t.ok(step >= 1000 && step <= 3000, `step ${step} ms`);
  }
  t.ok(menu.every((m) => FOODS.includes(m.demand) && m.offset < 30000));
  t.not((await newSession()).id, id, 'each session is new');
});

t.test("the original repo's tally test: fish, fish, chicken, beef, veg, veg → fish 2, chicken 1, beef 1, veg 2, total 6", async (t) => {
  const { id } = await newSession();
  for (const food of ['fish', 'fish', 'chicken', 'beef', 'veg', 'veg']) {
    const res = await get(`/tally?ulid=${id}&food=${food}&correct=true`);
    t.equal(res.status, 200);
    t.equal(res.body, `ULID: "${id}"`);
  }
  t.equal(await scoreWhen(id, 6), `{"ulid":"${id}","beef":1,"fish":2,"chicken":1,"veg":2,"total":6}`, 'the scorecard, byte for byte');
});

t.test('incorrect clicks are published but do not score; an unknown session scores zero', async (t) => {
  const { id } = await newSession();
  await get(`/tally?ulid=${id}&food=fish&correct=false`);
  await get(`/tally?ulid=${id}&food=beef&correct=TRUE`);
  t.equal(await scoreWhen(id, 1), `{"ulid":"${id}","beef":1,"fish":0,"chicken":0,"veg":0,"total":1}`);
  const stranger = ulidAt(Date.now());
  t.equal((await get(`/score?ulid=${stranger}`)).body, `{"ulid":"${stranger}","beef":0,"fish":0,"chicken":0,"veg":0,"total":0}`);
});

t.test('tally refuses what the contract refuses, with a bare 500', async (t) => {
  const fresh = ulidAt(Date.now());
  const cases: Array<[string, string]> = [
    [`/tally?ulid=${ulidAt(Date.now() - 31_000)}&food=fish&correct=true`, 'a session older than 30 seconds'],
    ['/tally?ulid=NOT-A-ULID&food=fish&correct=true', 'a malformed ULID'],
    [`/tally?food=fish&correct=true`, 'no ulid'],
    [`/tally?ulid=${fresh}&correct=true`, 'no food'],
    [`/tally?ulid=${fresh}&food=fish`, 'no correct'],
    ['/score?ulid=short', 'a malformed ULID on /score'],
    ['/score', 'no ULID on /score'],
  ];
  for (const [url, what] of cases) {
    const res = await get(url);
    t.equal(res.status, 500, what);
    t.equal(res.body, '', `${what}: empty body`);
  }
  t.equal((await get(`/tally?ulid=${fresh}&food=fish&correct=true`)).status, 200, 'a fresh session is accepted');
});

t.test('highscores: probe without a name, store with one, top ten only, 405 otherwise', async (t) => {
  t.equal((await get('/reset')).body, 'Finicky Whickers is reset.');
  t.same(JSON.parse((await get('/highscore')).body), [], 'empty after reset');
  const post = async (body: unknown): Promise<{ status: number; json: unknown; raw: string }> => {
    const res = await gw.fastify.inject({ method: 'POST', url: '/highscore', payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, json: res.statusCode === 200 ? JSON.parse(res.body) : undefined, raw: res.body };
  };
  const a = ulidAt(Date.now());
  const probe = await post({ score: 12, ulid: a, username: '' });
  t.match(probe.json, { is_high_score: true, rank: 1 }, 'an empty table: any score is a high score');
  t.same(JSON.parse((await get('/highscore')).body), [], 'a probe without a name stores nothing');
  const stored = await post({ score: 12, ulid: a, username: 'catlover' });
  t.match(stored.json, { is_high_score: true, rank: 1, high_score_table: [{ score: 12, username: 'cat', ulid: a }] }, 'names are cut to three letters');
  for (let i = 0; i < 10; i++) await post({ score: 20 + i, ulid: ulidAt(Date.now() - i - 1), username: `p${i}` });
  const table = JSON.parse((await get('/highscore')).body) as Array<{ score: number }>;
  t.equal(table.length, 10, 'ten entries at most');
  t.same(table.map((e) => e.score), [29, 28, 27, 26, 25, 24, 23, 22, 21, 20], 'highest first; 12 was bumped off');
  t.match((await post({ score: 5, ulid: ulidAt(Date.now()), username: '' })).json, { is_high_score: false, rank: 0 });
  t.match((await post({ score: 25, ulid: ulidAt(Date.now()), username: '' })).json, { is_high_score: true });
  t.match((await get('/highscore')).body, /^\[\n {2}\{/, 'GET answers pretty-printed JSON');
  const put = await gw.fastify.inject({ method: 'PUT', url: '/highscore', payload: '{}' });
  t.equal(put.statusCode, 405);
  t.equal(put.body, '');
  t.equal((await post('not json')).status, 405, 'a bad body is 405, as in the original');
});

t.test('Redis restarts mid-game: the trigger recovers and later clicks count', async (t) => {
  const { id } = await newSession();
  await get(`/tally?ulid=${id}&food=fish&correct=true`);
  await scoreWhen(id, 1);
  await redis.stop();
  const during = await get(`/tally?ulid=${id}&food=fish&correct=true`);
  t.equal(during.status, 200, 'a click while Redis is down is answered (the contract logs publish failures)');
  t.equal((await get('/index.html')).status, 200, 'the static site keeps serving');
  await redis.start();
  // The restarted Redis is empty (no persistence): the card starts again from the clicks that follow.
  await waitFor('the trigger to resubscribe', async () => {
    await get(`/tally?ulid=${id}&food=veg&correct=true`);
    const card = JSON.parse((await get(`/score?ulid=${id}`)).body) as { total: number };
    return card.total > 0 ? true : undefined;
  });
  const before = (JSON.parse((await get(`/score?ulid=${id}`)).body) as { total: number }).total;
  await get(`/tally?ulid=${id}&food=chicken&correct=true`);
  await get(`/tally?ulid=${id}&food=chicken&correct=true`);
  const after = JSON.parse(await scoreWhen(id, before + 2)) as { chicken: number };
  t.equal(after.chicken, 2, 'both clicks after the restart were counted');
});
