/**
 * The fair-sharing policy between tenants: one app alone uses every worker; with several active, each
 * keeps a share the others cannot take, queue room is split, and the neediest app is served first.
 */
import t from 'tap';
import { ACTIVITY_WINDOW_MS, FairQueue, fairShare, mayStart, queueShare } from '../../server/wasm/fair-queue.js';

const pool = (workers: number, running: Record<string, number>, active: string[]) => {
  const held = new Map(Object.entries(running));
  let busy = 0;
  for (const n of held.values()) busy += n;
  return { workers, free: workers - busy, running: held, active: new Set(active) };
};

t.test('an app alone may use every worker', async (t) => {
  t.ok(mayStart('a', pool(2, { a: 1 }, ['a'])));
  t.notOk(mayStart('a', pool(2, { a: 2 }, ['a'])), 'but not more than there are');
});

t.test('with two active apps, neither takes the worker the other needs', async (t) => {
  t.notOk(mayStart('greedy', pool(2, { greedy: 1 }, ['greedy', 'quiet'])), 'the last worker is held for the quiet app');
  t.ok(mayStart('quiet', pool(2, { greedy: 1 }, ['greedy', 'quiet'])), 'which gets it at once');
  t.ok(mayStart('greedy', pool(4, { greedy: 2 }, ['greedy', 'quiet'])) === true, 'past its share only while a worker stays free for the other');
  t.notOk(mayStart('greedy', pool(4, { greedy: 3 }, ['greedy', 'quiet'])));
  t.ok(mayStart('greedy', pool(4, { greedy: 2, quiet: 2 }, ['greedy', 'quiet'])) === false, 'nothing free, nothing starts');
  t.ok(mayStart('greedy', pool(5, { greedy: 2, quiet: 2 }, ['greedy', 'quiet'])), 'the other at its share needs no reserve');
});

t.test('shares: at least one worker each, queue room split', async (t) => {
  t.equal(fairShare(2, 1), 2);
  t.equal(fairShare(2, 3), 1);
  t.equal(fairShare(8, 3), 2);
  t.equal(queueShare(1024, 1), 1024);
  t.equal(queueShare(5, 2), 3);
});

t.test('the queue serves the app with the fewest workers first, oldest request first among equals', async (t) => {
  const q = new FairQueue<{ id: number; tenant: string }>();
  const jobs = [
    { id: 1, tenant: 'greedy' },
    { id: 2, tenant: 'greedy' },
    { id: 3, tenant: 'quiet' },
    { id: 4, tenant: 'other' },
  ];
  for (const j of jobs) q.push(j);
  t.equal(q.size, 4);
  const running = new Map([
    ['greedy', 1],
    ['other', 0],
  ]);
  t.equal(q.peek(() => true, running)?.id, 3, 'quiet and other hold nothing; quiet waited longer');
  t.equal(q.peek((a) => a === 'greedy', running)?.id, 1, 'only apps allowed to start are considered');
  t.ok(q.remove(jobs[2]!));
  t.notOk(q.remove(jobs[2]!), 'a request leaves once');
  t.equal(q.peek(() => true, running)?.id, 4);
  q.unshift({ id: 0, tenant: 'greedy' });
  t.equal(q.first('greedy')?.id, 0, 'a request put back goes first in its app');
  t.same(q.drain().map((j) => j.id), [0, 1, 2, 4], 'drain returns every request in arrival order');
  t.equal(q.size, 0);
});

t.test('apps count as active for the window after their last request, or while they have work', async (t) => {
  const q = new FairQueue<{ id: number; tenant: string }>();
  q.touch('a', 0);
  q.touch('b', 0);
  t.same([...q.active(ACTIVITY_WINDOW_MS, new Map())].sort(), ['a', 'b']);
  t.same([...q.active(ACTIVITY_WINDOW_MS + 1, new Map([['a', 1]]))], ['a'], 'b went quiet; a still has a worker');
  q.push({ id: 1, tenant: 'c' });
  t.ok(q.active(ACTIVITY_WINDOW_MS + 1, new Map()).has('c'), 'an app with a request waiting is active');
});
