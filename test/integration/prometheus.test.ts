/**
 * The observability files work against a real gateway: every metric the Grafana dashboard queries is
 * one the gateway exports, and a real Prometheus (Debian's) scrapes a running gateway and answers a
 * query on a spinet metric.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { appDir, repoRoot, testGateway } from '../helpers/gateway.js';
import { freePort } from '../../server/free-port.js';

const PROMQL_WORDS = new Set(['sum', 'by', 'rate', 'histogram_quantile', 'clamp_min', 'le', 'without', 'on', 'ignoring']);

async function exportedNames(text: string): Promise<Set<string>> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!m) continue;
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]}${s}`);
  }
  return names;
}

t.test('every metric the Grafana dashboard queries is exported by the gateway', async (t) => {
  const gw = await testGateway(appDir('fixtures', 'rust-hello'));
  t.teardown(() => gw.close());
  await gw.fastify.inject({ method: 'GET', url: '/' });
  const exported = await exportedNames((await gw.fastify.inject({ method: 'GET', url: '/metrics' })).body);
  const dashboard = JSON.parse(await readFile(path.join(repoRoot, 'server', 'observability', 'grafana-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  t.ok(dashboard.panels.length >= 8);
  let checked = 0;
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      // Metric names: identifiers not followed by "(" (functions), outside label matchers and strings.
      const stripped = expr.replace(/\{[^}]*\}/g, '').replace(/"[^"]*"/g, '').replace(/\[[^\]]*\]/g, '');
      const idents = [...stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
        .filter((m) => !stripped.slice(m.index! + m[0].length).trimStart().startsWith('('))
        .map((m) => m[0]);
      const metrics = idents.filter((w) => !PROMQL_WORDS.has(w) && w.includes('_') && !/^(app|component|reason|status_class|instance)$/.test(w));
      t.ok(metrics.length > 0, `${panel.title}: the query names a metric`);
      for (const name of metrics) {
        checked++;
        t.ok(exported.has(name), `${panel.title}: ${name} is exported`);
      }
    }
  }
  t.ok(checked >= 10, `${checked} metric references checked`);
});


t.test('a real Prometheus scrapes the gateway and answers a query on a spinet metric', async (t) => {
  const gw = await testGateway(appDir('fixtures', 'rust-hello'));
  t.teardown(() => gw.close());
  const target = new URL(await gw.fastify.listen({ host: '127.0.0.1', port: 0 }));
  for (let i = 0; i < 3; i++) await fetch(`${target.origin}/hello`);
  const dir = t.testdir({});
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: spinet\n    static_configs:\n      - targets: ["${target.host}"]\n`);
  const promPort = await freePort();
  const prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  // A missing binary emits 'error' and never 'exit': fail at once with the fix instead of hanging.
  const started = await new Promise<Error | undefined>((r) => {
    prom.once('spawn', () => r(undefined));
    prom.once('error', (err) => r(err));
  });
  if (started) {
    t.fail(`cannot start prometheus (${started.message}); .ci/run installs Debian's prometheus package`);
    return;
  }
  const exited = new Promise<void>((r) => prom.once('exit', () => r()));
  t.teardown(async () => {
    prom.kill('SIGTERM');
    await exited;
  });
  const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('spinet_http_requests_total{route="/..."}')}`;
  let value: number | undefined;
  for (let i = 0; i < 60 && value === undefined; i++) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const body = (await (await fetch(query)).json()) as { data?: { result?: Array<{ value: [number, string] }> } };
      const first = body.data?.result?.[0];
      if (first) value = Number(first.value[1]);
    } catch {
      // Prometheus is still starting
    }
  }
  t.equal(value, 3, 'Prometheus sees the three requests the gateway counted');
});
