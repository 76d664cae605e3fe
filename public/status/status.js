/*
 * spinet status page: polls ../status.json every 2 s. The document holds totals since start; rates
 * (per second) are the difference between the last two samples over the time between them, so they
 * read "—" until a second sample arrives. No framework, no requests anywhere but the gateway.
 */
'use strict';
(() => {
  const STATUS_URL = '../status.json';
  const POLL_MS = 2000;
  const MAX_BACKOFF_MS = 30000;
  const TIMEOUT_MS = 5000;
  const HISTORY = 60; // request-rate samples kept for the sparkline (2 minutes)

  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat();
  const nf1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  let prev = null; // { t, doc }
  let cur = null;
  let shape = '';
  let updaters = [];
  let history = [];
  let timer = 0;
  let ticker = 0;
  let retryAt = 0;
  let failures = 0;
  let inflight = false;
  let paused = false;

  // ---- formatting ---------------------------------------------------------------------------
  const fmtInt = (n) => (typeof n === 'number' ? nf.format(n) : '—');
  const fmtRate = (r) => (r == null ? '—' : r === 0 ? '0' : r < 10 ? nf1.format(r) : nf.format(Math.round(r)));
  const plural = (n, one, many = `${one}s`) => `${fmtInt(n ?? 0)} ${n === 1 ? one : many}`;
  const fmtPct = (x) => (x == null ? '—' : `${x >= 0.995 || x === 0 ? Math.round(x * 100) : (x * 100).toFixed(1)}%`);
  function fmtBytes(n) {
    if (typeof n !== 'number') return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
    return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }
  function fmtDuration(s) {
    if (typeof s !== 'number') return '—';
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }

  // ---- DOM helpers --------------------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  }
  function setText(el, text, value) {
    if (el.textContent !== text) el.textContent = text;
    if (value !== undefined) el.dataset.value = value == null ? '' : String(value);
  }
  /** `el` whose content follows each sample: fn() returns text, or nodes to replace the content. */
  function live(el, fn) {
    const update = () => {
      const v = fn();
      if (Array.isArray(v)) el.replaceChildren(...v);
      else setText(el, v);
    };
    updaters.push(update);
    return el;
  }
  /** A rate cell: per-second change of get(doc), muted while idle. */
  function liveRate(el, get) {
    updaters.push(() => {
      const r = rate(get);
      setText(el, fmtRate(r), r);
      el.classList.toggle('idle', !r);
    });
    return el;
  }
  function setBar(el, fraction, text) {
    const f = Math.max(0, Math.min(1, fraction || 0));
    el.firstElementChild.style.width = `${(f * 100).toFixed(2)}%`;
    el.setAttribute('aria-valuenow', f.toFixed(3));
    el.setAttribute('aria-valuetext', text);
    el.classList.toggle('warn', f >= 0.8);
  }

  // ---- data access --------------------------------------------------------------------------
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  const appOf = (doc, name) => doc.apps.find((a) => a.name === name);
  const routeOf = (doc, app, route) => appOf(doc, app)?.routes.find((r) => r.route === route);
  const triggerOf = (doc, app, t) => appOf(doc, app)?.redisTriggers.find((x) => x.channel === t.channel && x.component === t.component);
  const componentOf = (doc, app, id) => appOf(doc, app)?.components.find((c) => c.id === id);

  /** Per-second change of get(doc) between the last two samples; null until there are two. */
  function rate(get) {
    if (!prev || !cur) return null;
    const dt = (cur.t - prev.t) / 1000;
    if (!(dt > 0)) return null;
    const now = get(cur.doc);
    if (typeof now !== 'number') return null;
    const d = now - (get(prev.doc) ?? 0); // new since the last sample: it started from zero
    return d >= 0 ? d / dt : null;
  }

  // ---- overview -----------------------------------------------------------------------------
  function renderOverview(doc) {
    setText($('v-spinet'), doc.spinet ?? '—');
    setText($('v-node'), doc.node ?? '—');
    setText($('uptime'), fmtDuration(doc.uptimeSeconds));
    const started = $('started');
    setText(started, doc.startedAt ? new Date(doc.startedAt).toLocaleString() : '—');
    started.setAttribute('datetime', doc.startedAt ?? '');

    const reqRate = rate((d) => d.requests);
    setText($('total-requests'), fmtInt(doc.requests), doc.requests);
    setText($('request-rate'), fmtRate(reqRate), reqRate);
    const instRate = rate((d) => d.instancesStarted);
    setText($('total-instances'), fmtInt(doc.instancesStarted), doc.instancesStarted);
    setText($('instance-rate'), fmtRate(instRate), instRate);
    const redisRate = rate((d) => d.redisMessages);
    setText($('total-redis'), fmtInt(doc.redisMessages), doc.redisMessages);
    setText($('redis-rate'), fmtRate(redisRate), redisRate);
    if (reqRate != null) {
      history.push(reqRate);
      if (history.length > HISTORY) history.shift();
    }
    drawSpark();

    const ex = doc.executor || {};
    setText($('ex-workers'), fmtInt(ex.workers));
    setText($('ex-running'), fmtInt(ex.running));
    setText($('ex-queued'), fmtInt(ex.queued));
    $('ex-queued').classList.toggle('hot', ex.queued > 0);
    const busy = `${fmtInt(ex.running ?? 0)} of ${fmtInt(ex.workers ?? 0)} workers busy`;
    setBar($('ex-bar'), ex.workers ? ex.running / ex.workers : 0, busy);
    setText($('ex-busy'), ex.queued > 0 ? `${busy}, ${plural(ex.queued, 'request')} waiting` : busy);

    const c = doc.cache || {};
    const lookups = (c.hits || 0) + (c.misses || 0);
    const ratio = lookups ? c.hits / lookups : null;
    setText($('cache-entries'), fmtInt(c.entries), c.entries);
    setText($('cache-hit-ratio'), fmtPct(ratio), ratio);
    setText($('cache-evictions'), fmtInt(c.evictions));
    setText($('cache-bytes'), `${fmtBytes(c.bytes)} of ${fmtBytes(c.maxBytes)}`);
    setText($('cache-lookups'), `${plural(c.hits, 'hit')}, ${plural(c.misses, 'miss', 'misses')}`);
    setBar($('cache-bar'), c.maxBytes ? c.bytes / c.maxBytes : 0, `${fmtBytes(c.bytes)} of ${fmtBytes(c.maxBytes)}`);

    const p = doc.process || {};
    setText($('proc-rss'), fmtBytes(p.rssBytes));
    setText($('proc-heap'), fmtBytes(p.heapUsedBytes));
  }

  function drawSpark() {
    const svg = $('spark');
    const [, area, line] = svg.children;
    if (history.length < 2) {
      area.removeAttribute('d');
      line.removeAttribute('d');
      return;
    }
    const max = Math.max(...history, 1);
    const step = 120 / (HISTORY - 1);
    const x0 = 120 - step * (history.length - 1);
    const pts = history.map((v, i) => `${(x0 + i * step).toFixed(1)},${(29 - (v / max) * 26).toFixed(1)}`);
    line.setAttribute('d', `M${pts.join('L')}`);
    area.setAttribute('d', `M${x0.toFixed(1)},30L${pts.join('L')}L120,30Z`);
  }

  // ---- apps ---------------------------------------------------------------------------------
  const shapeOf = (doc) =>
    JSON.stringify(
      doc.apps.map((a) => [a.name, a.version, a.routes.map((r) => [r.route, r.kind, r.component]), a.redisTriggers.map((t) => [t.channel, t.component]), a.components.map((c) => [c.id, c.digest])]),
    );

  function classChips(requests) {
    const classes = Object.keys(requests || {}).sort();
    if (!classes.length) return [h('span', { class: 'none', text: 'none yet' })];
    return classes.map((k) =>
      h('span', { class: `chip s${k[0]}`, title: `${requests[k]} responses with status ${k}` }, h('b', { text: k }), ` ${fmtInt(requests[k])}`),
    );
  }

  function table(caption, heads, rows) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', { text: caption }),
        h('thead', {}, h('tr', {}, ...heads.map(([label, cls]) => h('th', { scope: 'col', class: cls, text: label })))),
        h('tbody', {}, ...rows),
      ),
    );
  }

  function appSection(app, i) {
    const name = app.name;
    const get = () => appOf(cur.doc, name);
    const headId = `app-${i}-h`;

    const routeRows = app.routes.map((r) =>
      h(
        'tr',
        { 'data-testid': 'route-row', 'data-route': r.route },
        h('th', { scope: 'row' }, h('code', { text: r.route })),
        h('td', {}, h('span', { class: `badge k-${r.kind}`, text: r.kind })),
        h('td', {}, r.component ? h('code', { text: r.component }) : h('span', { class: 'none', text: '—' })),
        live(h('td', { class: 'chips' }), () => classChips(routeOf(cur.doc, name, r.route)?.requests)),
        live(h('td', { class: 'num' }), () => fmtInt(sum(routeOf(cur.doc, name, r.route)?.requests))),
        liveRate(h('td', { class: 'num rate' }), (d) => {
          const x = routeOf(d, name, r.route);
          return x && sum(x.requests);
        }),
      ),
    );

    const parts = [
      h(
        'header',
        { class: 'app-head' },
        h('h3', { id: headId, text: name }),
        app.version ? h('span', { class: 'ver', text: `v${app.version}` }) : null,
        h(
          'p',
          { class: 'app-stats' },
          live(h('b', {}), () => fmtInt(get()?.requests)),
          ' requests · ',
          liveRate(h('b', {}), (d) => appOf(d, name)?.requests),
          ' req/s',
        ),
      ),
      app.routes.length
        ? table('Routes', [['Route'], ['Kind'], ['Component'], ['Responses by status'], ['Total', 'num'], ['req/s', 'num']], routeRows)
        : h('p', { class: 'empty', text: 'No HTTP routes.' }),
    ];

    if (app.redisTriggers.length) {
      parts.push(
        table(
          'Redis triggers',
          [['Channel'], ['Component'], ['Messages', 'num'], ['msg/s', 'num'], ['Failed', 'num']],
          app.redisTriggers.map((t) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, h('code', { text: t.channel })),
              h('td', {}, h('code', { text: t.component })),
              live(h('td', { class: 'num' }), () => fmtInt(triggerOf(cur.doc, name, t)?.messages)),
              liveRate(h('td', { class: 'num rate' }), (d) => triggerOf(d, name, t)?.messages),
              live(h('td', { class: 'num' }), () => fmtInt(triggerOf(cur.doc, name, t)?.failed)),
            ),
          ),
        ),
      );
    }

    if (app.components.length) {
      parts.push(
        table(
          'Components',
          [['Component'], ['Digest'], ['Precompiled'], ['Instances', 'num'], ['inst/s', 'num'], ['Failures', 'num']],
          app.components.map((c) => {
            const failCell = h('td', { class: 'num' });
            return h(
              'tr',
              {},
              h('th', { scope: 'row' }, h('code', { text: c.id })),
              h('td', {}, h('code', { class: 'digest', title: 'sha256 (first 12 hex digits)', text: c.digest })),
              live(h('td', {}), () => {
                const cached = componentOf(cur.doc, name, c.id)?.cached;
                return [h('span', { class: `badge ${cached ? 'cached' : 'cold'}`, text: cached ? 'in cache' : 'not cached' })];
              }),
              live(h('td', { class: 'num' }), () => fmtInt(componentOf(cur.doc, name, c.id)?.instancesStarted)),
              liveRate(h('td', { class: 'num rate' }), (d) => componentOf(d, name, c.id)?.instancesStarted),
              live(failCell, () => {
                const n = componentOf(cur.doc, name, c.id)?.failures;
                failCell.classList.toggle('hot', n > 0);
                return fmtInt(n);
              }),
            );
          }),
        ),
      );
    }

    return h('section', { class: 'app', 'data-testid': `app-${name}`, 'aria-labelledby': headId }, ...parts);
  }

  function renderApps(doc) {
    const s = shapeOf(doc);
    if (s !== shape) {
      shape = s;
      updaters = [];
      const box = $('apps');
      box.replaceChildren(...(doc.apps.length ? doc.apps.map(appSection) : [h('p', { class: 'empty', text: 'No apps loaded.' })]));
    }
    setText($('app-count'), doc.apps.length ? String(doc.apps.length) : '');
    for (const update of updaters) update();
  }

  // ---- polling ------------------------------------------------------------------------------
  function accept(doc) {
    if (!doc || typeof doc !== 'object' || !Array.isArray(doc.apps)) throw new SyntaxError('not a status document');
    const t = Date.parse(doc.now) || Date.now();
    if (cur && cur.doc.startedAt === doc.startedAt && t > cur.t) prev = cur;
    else if (cur) (prev = null), (history = []); // the gateway restarted (or the clock went back)
    cur = { t, doc };
    renderOverview(doc);
    renderApps(doc);
    setText($('updated'), `Updated ${new Date(t).toLocaleTimeString()}`);
  }

  function describe(err) {
    if (err && err.name === 'AbortError') return `No answer within ${TIMEOUT_MS / 1000} s.`;
    if (err && err.name === 'SyntaxError') return 'The answer was not a status document.';
    if (err && err.status) return `It answered HTTP ${err.status}.`;
    return 'The connection failed.';
  }

  function showError(err) {
    const banner = $('error');
    document.body.classList.toggle('stale', !!err);
    clearInterval(ticker);
    if (!err) {
      banner.hidden = true;
      return;
    }
    setText($('error-detail'), describe(err));
    banner.hidden = false;
    const tick = () => {
      const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      setText($('error-retry'), paused ? 'Updates are paused.' : inflight ? 'Retrying…' : `Retrying in ${s} s.`);
    };
    tick();
    ticker = setInterval(tick, 1000);
    if (cur) setText($('updated'), `Last update ${new Date(cur.t).toLocaleTimeString()}`);
  }

  function schedule() {
    clearTimeout(timer);
    if (paused || document.hidden) return;
    const delay = failures ? Math.min(POLL_MS * 2 ** (failures - 1), MAX_BACKOFF_MS) : POLL_MS;
    retryAt = Date.now() + delay;
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    if (inflight) return;
    inflight = true;
    clearTimeout(timer);
    const ctrl = new AbortController();
    const abort = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    let error = null;
    try {
      const res = await fetch(STATUS_URL, { cache: 'no-store', headers: { accept: 'application/json' }, signal: ctrl.signal });
      if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
      accept(await res.json());
      failures = 0;
    } catch (err) {
      failures++;
      error = err;
    } finally {
      clearTimeout(abort);
      inflight = false;
    }
    schedule();
    showError(error);
  }

  $('retry').addEventListener('click', () => poll());
  $('pause').addEventListener('click', (e) => {
    paused = !paused;
    e.currentTarget.setAttribute('aria-pressed', String(paused));
    e.currentTarget.textContent = paused ? 'Resume updates' : 'Pause updates';
    document.body.classList.toggle('paused', paused);
    if (paused) {
      clearTimeout(timer);
      setText($('updated'), 'Paused');
    } else poll();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(timer);
    else if (!paused) poll();
  });
  poll();
})();
