/**
 * Bound metric series (bindCounter / bindHistogram) update prom-client's own series state directly;
 * these tests pin that the exposition is exactly what prom-client's inc / observe would produce, so a
 * prom-client upgrade that changes its internals fails here instead of corrupting /metrics.
 */
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { bindCounter, bindHistogram, instanceRecorder, RequestSeries } from '../../server/observability/metrics.js';
import type { GatewayMetrics } from '../../server/observability/metrics.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function pair(): { bound: Registry; plain: Registry; counters: Counter<'a' | 'b'>[]; histograms: Histogram<'a' | 'b'>[] } {
  const bound = new Registry();
  const plain = new Registry();
  const counters = [bound, plain].map((r) => new Counter({ name: 'c_total', help: 'h', labelNames: ['a', 'b'], registers: [r] }));
  const histograms = [bound, plain].map((r) => new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['a', 'b'], buckets: BUCKETS, registers: [r] }));
  return { bound, plain, counters, histograms };
}

t.test('bound series expose exactly what inc and observe would', async (t) => {
  const { bound, plain, counters, histograms } = pair();
  const [bc, pc] = counters as [Counter<'a' | 'b'>, Counter<'a' | 'b'>];
  const [bh, ph] = histograms as [Histogram<'a' | 'b'>, Histogram<'a' | 'b'>];
  const labels = [
    { a: 'x', b: '1' },
    { a: 'x', b: '2' },
    { a: 'y z', b: '"quoted"' },
  ];
  const c = labels.map((l) => bindCounter(bc, l));
  const h = labels.map((l) => bindHistogram(bh, l));
  // A second binding of the same series, and plain calls mixed in, share one series.
  const again = bindCounter(bc, { a: 'x', b: '1' });
  const values = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.02, 0.7, 3, 29.9, 30, 31, 1000];
  for (let i = 0; i < 200; i++) {
    const k = i % labels.length;
    const v = values[i % values.length]!;
    c[k]!.inc();
    pc.inc(labels[k]!);
    if (i % 7 === 0) {
      c[k]!.inc(2.5);
      pc.inc(labels[k]!, 2.5);
      again.inc();
      pc.inc({ a: 'x', b: '1' });
      bc.inc({ a: 'x', b: '1' }, 0);
      pc.inc({ a: 'x', b: '1' }, 0);
    }
    h[k]!.observe(v);
    ph.observe(labels[k]!, v);
  }
  t.equal(await bound.metrics(), await plain.metrics());
});

t.test('bound series keep prom-client validation and survive reset', async (t) => {
  const { bound, plain, counters, histograms } = pair();
  const [bc, pc] = counters as [Counter<'a' | 'b'>, Counter<'a' | 'b'>];
  const [bh, ph] = histograms as [Histogram<'a' | 'b'>, Histogram<'a' | 'b'>];
  const c = bindCounter(bc, { a: 'x', b: '1' });
  const h = bindHistogram(bh, { a: 'x', b: '1' });
  c.inc();
  h.observe(0.2);
  t.throws(() => c.inc(-1), 'a counter still cannot go down');
  t.throws(() => h.observe(Number.NaN), 'a histogram still refuses NaN');
  t.throws(() => bindCounter(bc, { a: 'x', c: '1' } as unknown as { a: string; b: string }).inc(), 'unknown labels are still refused');
  bound.resetMetrics();
  c.inc();
  h.observe(0.2);
  pc.inc({ a: 'x', b: '1' });
  ph.observe({ a: 'x', b: '1' }, 0.2);
  t.equal(await bound.metrics(), await plain.metrics(), 'after a reset the bound series count from zero again');
});

t.test('the gateway recorders match recordInstance and the per-request counts', async (t) => {
  const make = (r: Registry): GatewayMetrics => {
    const labels = ['app', 'component', 'route', 'status_class'] as const;
    return {
      registry: r,
      requests: new Counter({ name: 'req_total', help: 'h', labelNames: labels, registers: [r] }),
      requestDuration: new Histogram({ name: 'req_seconds', help: 'h', labelNames: labels, buckets: BUCKETS, registers: [r] }),
      instancesStarted: new Counter({ name: 'inst_total', help: 'h', labelNames: ['app', 'component'], registers: [r] }),
      instantiateDuration: new Histogram({ name: 'inst_seconds', help: 'h', labelNames: ['app', 'component'], buckets: BUCKETS, registers: [r] }),
      guestDuration: new Histogram({ name: 'call_seconds', help: 'h', labelNames: ['app', 'component'], buckets: BUCKETS, registers: [r] }),
    } as unknown as GatewayMetrics;
  };
  const [a, b] = [new Registry(), new Registry()];
  const [ma, mb] = [make(a), make(b)];
  const series = new RequestSeries(ma, { app: 'shop', component: 'cart', route: '/cart/...' });
  const record = instanceRecorder(ma, { app: 'shop', component: 'cart' });
  const runs = [
    { instantiateUs: 120, callUs: 40, outcome: 'ok' },
    { instantiateUs: 0, callUs: 0, outcome: 'deadline' },
    { instantiateUs: 0, callUs: 0, outcome: 'ok' },
    { instantiateUs: 3000, callUs: 900000, outcome: 'trap' },
  ];
  for (const [i, status] of [200, 404, 500, 200, 503, 301, 200].entries()) {
    series.record(status, i / 100);
    const l = { app: 'shop', component: 'cart', route: '/cart/...', status_class: `${Math.floor(status / 100)}xx` };
    mb.requests.inc(l);
    mb.requestDuration.observe(l, i / 100);
  }
  for (const r of runs) {
    record(r);
    if (r.instantiateUs === 0 && r.outcome !== 'ok') continue;
    const l = { app: 'shop', component: 'cart' };
    mb.instancesStarted.inc(l);
    mb.instantiateDuration.observe(l, r.instantiateUs / 1e6);
    mb.guestDuration.observe(l, r.callUs / 1e6);
  }
  t.equal(await a.metrics(), await b.metrics());
});
