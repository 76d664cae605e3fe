/**
 * spinet's own status page in a real browser (Debian's Chromium, driven by playwright-core) against a
 * real gateway port: the page lists the echo app and its routes, then, as requests arrive, its total
 * climbs and it shows a request rate (measured by the page from two samples). Also: the JSON's
 * per-route counts match what was sent, the page talks to nobody else, and an unreachable gateway
 * shows a banner that goes away on retry. The screenshot goes to .spinet/artifacts/.
 */
import t from 'tap';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { appDir, testGateway } from '../helpers/gateway.js';
import { ARTIFACTS as artifacts, openBrowserPage } from '../helpers/browser.js';
const SENT = 30;

interface StatusDoc {
  requests: number;
  apps: Array<{ name: string; requests: number; routes: Array<{ route: string; kind: string; component: string | null; requests: Record<string, number> }> }>;
}

t.test('the status page shows the echo app, its routes, and requests as they arrive', async (t) => {
  const gw = await testGateway(path.join(appDir('components', 'echo'), 'spin.toml'), { SPINET_ACCESS_LOG: 'false' });
  t.teardown(() => gw.close());
  const base = await gw.fastify.listen({ host: '127.0.0.1', port: 0 });

  const { page, foreign, consoleErrors, close } = await openBrowserPage(base);
  t.teardown(close);

  await page.goto(`${base}/.well-known/spinet/status/`);
  await page.waitForSelector('[data-testid="app-echo"]', { timeout: 10_000 });
  const routes = await page.$$eval('[data-testid="app-echo"] [data-testid="route-row"]', (rows) => rows.map((r) => r.getAttribute('data-route')));
  t.same(routes, ['/...'], 'the echo app section lists its one route');
  t.match(await page.textContent('[data-testid="app-echo"] [data-testid="route-row"]'), /component/, 'with its kind');
  t.equal(await page.isVisible('[data-testid="status-error"]'), false, 'no error banner while the gateway answers');
  t.match(await page.textContent('[data-testid="request-rate"]'), /^—$/, 'no rate before the second sample');

  // Traffic from outside the page, then wait for the page's own polling to show it (no fixed sleeps).
  const sent = await Promise.all(Array.from({ length: SENT }, (_, i) => fetch(`${base}/echo/x?i=${i}`).then(async (r) => (await r.arrayBuffer(), r.status))));
  t.same(new Set(sent), new Set([200]), `${SENT} requests to /echo/x answered 200`);
  // String predicates run in the page (this file compiles without DOM types).
  await page.waitForFunction(
    `(() => {
      const total = document.querySelector('[data-testid="total-requests"]');
      const rate = document.querySelector('[data-testid="request-rate"]');
      return Number(total?.dataset.value ?? 0) >= ${SENT} && Number(rate?.dataset.value ?? 0) > 0;
    })()`,
    undefined,
    { timeout: 15_000 },
  );
  const total = (await page.textContent('[data-testid="total-requests"]')) ?? '';
  const rate = (await page.textContent('[data-testid="request-rate"]')) ?? '';
  t.ok(Number(total.replace(/\D/g, '')) >= SENT, `the page shows ${total} requests`);
  t.ok(Number.parseFloat(rate) > 0, `and a request rate of ${rate}/s`);
  t.match(await page.textContent('[data-testid="app-echo"] [data-route="/..."]'), /2xx\s*[1-9]/, 'the route row counts 2xx responses');
  t.match(await page.textContent('[data-testid="cache-entries"]'), /^[1-9]/, 'the compiled component is in the cache');
  t.match(await page.textContent('[data-testid="cache-hit-ratio"]'), /^(—|\d+(\.\d)?%)$/, 'hit ratio is a percentage');
  t.match(await page.textContent('[data-testid="instance-rate"]'), /^(\d|—)/, 'instance rate shown');

  const shot = path.join(artifacts, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true, animations: 'disabled' });
  t.ok((await stat(shot)).size > 10_000, `screenshot saved: ${shot}`);

  // The JSON agrees with what was sent (the page's own polls are not app requests).
  const doc = (await (await fetch(`${base}/.well-known/spinet/status.json`)).json()) as StatusDoc;
  const echo = doc.apps.find((a) => a.name === 'echo');
  const route = echo?.routes.find((r) => r.route === '/...');
  t.match(route, { kind: 'component', component: 'echo' }, 'status.json describes the route');
  t.equal(route?.requests['2xx'], SENT, `status.json counts ${SENT} 2xx responses on /...`);
  t.equal(echo?.requests, SENT, 'and as many for the app');
  t.equal(doc.requests, SENT, 'and overall');

  t.same(foreign, [], 'the page loads nothing from other origins');
  t.same(consoleErrors, [], 'no errors in the browser console');

  // The gateway stops answering: a banner says so; once it answers again, "Retry now" clears it.
  await page.route('**/.well-known/spinet/status.json', (r) => r.abort('connectionrefused'));
  await page.waitForSelector('[data-testid="status-error"]:not([hidden])', { timeout: 10_000 });
  t.match(await page.textContent('[data-testid="status-error"]'), /gateway unreachable/i, 'an unreachable gateway shows the banner');
  await page.screenshot({ path: path.join(artifacts, 'status-page-unreachable.png') });
  await page.unroute('**/.well-known/spinet/status.json');
  await page.click('[data-testid="status-error"] button');
  await page.waitForSelector('[data-testid="status-error"]', { state: 'hidden', timeout: 10_000 });
  t.pass('retry clears the banner once the gateway answers');
});
