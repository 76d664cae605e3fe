/** Request loggers built on first use: same output as pino's children, nothing built when nothing is logged. */
import t from 'tap';
import pino from 'pino';
import { LazyChildLogger, lazyChildLoggerFactory, loggerOptions } from '../../server/observability/logger.js';

function capture(level = 'info'): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(loggerOptions(level, false), { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

t.test('a lazy child logs what a pino child logs', async (t) => {
  const a = capture();
  const b = capture();
  const lazy = new LazyChildLogger(a.log, { reqId: 'req-1' }).child({ app: 'shop', component: 'cart' });
  const real = b.log.child({ reqId: 'req-1' }).child({ app: 'shop', component: 'cart' });
  for (const l of [lazy, real] as Array<{ info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void; debug: (o: object, m?: string) => void }>) {
    l.debug({ x: 1 }, 'hidden');
    l.info({ x: 2 }, 'shown');
    l.warn({ token: 'secret', nested: { password: 'p' } }, 'redacted');
    (l as unknown as { info: (m: string) => void }).info('a message alone');
  }
  const strip = (xs: Record<string, unknown>[]): unknown[] => xs.map(({ time: _t, pid: _p, ...rest }) => rest);
  t.same(strip(a.lines), strip(b.lines));
  t.equal(a.lines.length, 3, 'debug is off at info');
  t.equal(a.lines[0]!.reqId, 'req-1', 'the request id is on every line');
  t.equal(a.lines[0]!.app, 'shop');
  t.equal((a.lines[1]!.nested as { password: string }).password, '[redacted]', 'redaction applies');
});

t.test('nothing is built until something is logged at an enabled level', async (t) => {
  const { log } = capture('warn');
  let built = 0;
  const parent = { child: (b: Record<string, unknown>, o?: Record<string, unknown>) => (built++, log.child(b, o)), isLevelEnabled: (l: string) => log.isLevelEnabled(l) };
  const lazy = lazyChildLoggerFactory(parent, { reqId: 'r' }, {}) as LazyChildLogger;
  const inner = lazy.child({ app: 'a' }) as LazyChildLogger;
  inner.info({}, 'off at warn');
  inner.debug({}, 'off');
  t.equal(built, 0);
  t.equal(inner.isLevelEnabled('info'), false);
  t.equal(inner.isLevelEnabled('error'), true);
  inner.error({}, 'on');
  t.equal(built, 1, 'built once, on the first enabled call');
  inner.error({}, 'again');
  t.equal(built, 1);
  t.same(inner.bindings(), { reqId: 'r', app: 'a' });
  t.equal(inner.level, 'warn');
});

t.test('options that change the child, and non-pino loggers, get a real child at once', async (t) => {
  const { log } = capture();
  const withLevel = lazyChildLoggerFactory(log, { reqId: 'r' }, { level: 'debug' }) as pino.Logger;
  t.notOk(withLevel instanceof LazyChildLogger);
  t.equal(withLevel.level, 'debug');
  const nullLogger = { child: () => nullLogger, info() {}, warn() {} };
  t.equal(lazyChildLoggerFactory(nullLogger, { reqId: 'r' }, {}), nullLogger);
  const lazy = new LazyChildLogger(log, { reqId: 'r' });
  t.equal((lazy.child({ a: 1 }, { level: 'error' }) as pino.Logger).level, 'error');
});
