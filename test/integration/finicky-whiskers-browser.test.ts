/**
 * Finicky Whiskers played in a real browser (Debian's Chromium, driven by playwright-core) against a
 * real gateway port and a private Redis: start a game, feed the cat what it wants, watch the score
 * rise, play the 30 seconds out, enter a name and find it in the high-score table. Screenshots go to
 * .spinet/artifacts/ as test artifacts.
 */
import t from 'tap';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { appDir, testGateway } from '../helpers/gateway.js';
import { PrivateRedis, freePort } from '../helpers/private-redis.js';
import { ARTIFACTS as artifacts, openBrowserPage } from '../helpers/browser.js';

t.test('a player starts a game, scores, and makes the high-score table', async (t) => {
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  t.teardown(() => redis.stop());
  const gw = await testGateway(path.join(appDir('components', 'finicky-whiskers'), 'spin.toml'), { SPINET_ACCESS_LOG: 'false' }, undefined, {
    flags: { variables: [`redis_address=${redis.url}`] },
  });
  t.teardown(() => gw.close());
  const base = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });

  const { page, foreign, consoleErrors, close } = await openBrowserPage(base, { width: 1280, height: 820 });
  t.teardown(close);

  await page.goto(`${base}/`);
  t.equal(new URL(page.url()).pathname, '/index.html', '/ redirects to the game');
  await page.click('#startButton');
  await page.waitForSelector('#stage[data-want]:not([data-want=""])', { timeout: 10_000 });

  // Feed the cat, always the wanted food, until the score (tally → Redis → morsel → scoreboard,
  // polled by the page once a second) has visibly risen. On a loaded machine the first instances of
  // each component are slow, so this waits on the score, not on a fixed number of clicks.
  let clicks = 0;
  let midScore = 0;
  const feedUntil = Date.now() + 25_000;
  while (Date.now() < feedUntil && midScore < 3) {
    await page.click('button.fw-food[data-correct="true"]', { timeout: 5000 });
    clicks++;
    await page.waitForTimeout(150);
    midScore = Number(await page.textContent('#scoreTotal'));
  }
  t.ok(midScore >= 3, `the score rose to ${midScore} after ${clicks} clicks (tally → Redis → morsel → scoreboard)`);
  const midShot = path.join(artifacts, 'finicky-whiskers-game.png');
  await page.screenshot({ path: midShot });
  t.ok((await stat(midShot)).size > 10_000, `screenshot saved: ${midShot}`);

  // The round ends on its own after 30 seconds; a top score asks for a name.
  await page.waitForSelector('#endModal.is-active', { timeout: 45_000 });
  const final = Number(await page.textContent('#scoreFinal'));
  t.ok(final >= midScore, `final score ${final}`);
  await page.waitForSelector('#nameForm:not([hidden])', { timeout: 10_000 });
  await page.fill('#username', 'cat');
  await page.click('#submitName');
  await page.waitForSelector('#highScoreRows tr.is-me', { timeout: 10_000 });
  t.match(await page.textContent('#highScoreRows tr.is-me'), /CAT/i, 'the player is in the table, highlighted');
  await page.screenshot({ path: path.join(artifacts, 'finicky-whiskers-highscores.png') });

  const table = (await (await fetch(`${base}/highscore`)).json()) as Array<{ score: number; username: string }>;
  t.match(table[0], { score: final, username: 'CAT' }, 'the server stored the name with the final score');
  t.same(foreign, [], 'the page loads nothing from other origins');
  t.same(consoleErrors, [], 'no errors in the browser console');
});
