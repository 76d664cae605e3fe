/**
 * The app store's lock files: a lock from another machine is waited for until it has been seen to go
 * unrefreshed for the stale time (never judged by comparing clocks), then taken over; one left by an earlier process here is taken over at once; writers racing to take over
 * one stale lock hold it one at a time; a holder whose lock was taken over refuses to write and leaves
 * the new holder's lock alone.
 */
import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { readlinkSync } from 'node:fs';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { withFileLock, parseLockOwner } from '../../server/tenants/store-lock.js';
import { tempDir } from '../helpers/tenant-apps.js';

const lockText = (owner: Record<string, unknown>): string => `${JSON.stringify({ token: 'theirs', since: '2025-01-01T00:00:00.000Z', ...owner })}\n`;

async function age(file: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(file, then, then);
}

t.test('a lock held on another machine is waited for, and taken over once it has been seen to go the stale time without a refresh', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'claims.lock');
  await writeFile(file, lockText({ pid: 1, host: 'replica-elsewhere' }));
  // A day old by this host's clock: not stale for that, only once watched for the stale time.
  await age(file, 24 * 3600_000);
  const opts = { what: 'the test claims', staleMs: 600, waitMs: 150 };
  await t.rejects(withFileLock(file, opts, async () => 'ran'), {
    code: 'SPINET_ERR_APP_STORE_BUSY',
    message: `${file} has been held for 150 ms by another writer (pid 1 on host replica-elsewhere since 2025-01-01T00:00:00.000Z), so the test claims cannot change now; try again. If that writer is gone, its lock is taken over once it has been seen to go 600 ms without a refresh (at once when it ran on this host).`,
  });
  t.equal(parseLockOwner(await readFile(file, 'utf8'))?.token, 'theirs', 'a live lock is left as it was');
  // Trying again counts the time already watched: 150 ms before, 450 ms now, and the rest waiting.
  await new Promise((r) => setTimeout(r, 450));
  const started = performance.now();
  t.equal(await withFileLock(file, { ...opts, waitMs: 2000 }, async () => 'ran'), 'ran', 'a lock nobody refreshed is taken over');
  t.ok(performance.now() - started < 1000, 'without watching it for another full stale time');
  t.same(await readdir(dir), [], 'and nothing is left behind');
});

t.test('a holder whose clock is far behind still keeps its lock by refreshing it', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'claims.lock');
  await writeFile(file, lockText({ pid: 1, host: 'replica-with-a-slow-clock' }));
  // Its refreshes carry its own clock's time: an hour behind this host's.
  let skewed = Date.now() - 3600_000;
  const refresh = setInterval(() => {
    skewed += 100;
    void age(file, Date.now() - skewed);
  }, 100);
  t.teardown(() => clearInterval(refresh));
  await t.rejects(withFileLock(file, { what: 'the test claims', staleMs: 400, waitMs: 1500 }, async () => 'ran'), { code: 'SPINET_ERR_APP_STORE_BUSY' }, 'waited for, never taken over');
  clearInterval(refresh);
  t.equal(parseLockOwner(await readFile(file, 'utf8'))?.token, 'theirs');
  const started = performance.now();
  t.equal(await withFileLock(file, { what: 'the test claims', staleMs: 400, waitMs: 3000 }, async () => 'ran'), 'ran', 'once its refreshes stop, it goes stale');
  t.ok(performance.now() - started >= 390, 'after the stale time of watching');
});

t.test('a lock left by an earlier process of this host is taken over at once, however fresh', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'claims.lock');
  const pidns = readlinkSync('/proc/self/ns/pid');
  const opts = { what: 'the test claims', staleMs: 60_000, waitMs: 150 };
  // An earlier process with this very pid (a restarted container is pid 1 again).
  await writeFile(file, lockText({ pid: process.pid, host: os.hostname(), pidns }));
  t.equal(await withFileLock(file, opts, async () => 'ran'), 'ran', 'this pid, but not a lock this process holds');
  // A pid that does not run here (pids are below 2^22 on Linux).
  await writeFile(file, lockText({ pid: 2 ** 22 + 1, host: os.hostname(), pidns }));
  t.equal(await withFileLock(file, opts, async () => 'ran'), 'ran', 'a process that has exited');
  // The same pid in another pid namespace (another container with the same host name) is not judged.
  await writeFile(file, lockText({ pid: 2 ** 22 + 1, host: os.hostname(), pidns: 'pid:[1]' }));
  await t.rejects(withFileLock(file, opts, async () => 'ran'), { message: /held for 150 ms by another writer/ }, 'another pid namespace: waited for');
});

t.test('writers racing to take over one stale lock hold it one at a time', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'claims.lock');
  const opts = { what: 'the test claims', staleMs: 100, waitMs: 10_000 };
  let inside = 0;
  let most = 0;
  let runs = 0;
  for (let round = 0; round < 20; round++) {
    await writeFile(file, lockText({ pid: 1, host: 'crashed-replica', since: `round ${round}` }));
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock(file, opts, async (lock) => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 2));
          await lock.assertHeld();
          inside--;
          runs++;
        }),
      ),
    );
  }
  t.equal(runs, 160, 'every writer got the lock');
  t.equal(most, 1, 'never two at once');
  t.same(await readdir(dir), [], 'no lock or moved-aside file is left');
});

t.test('a holder whose lock was taken over refuses to write and leaves the new holder’s lock in place', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'current.lock');
  const theirs = lockText({ pid: 1, host: 'replica-elsewhere' });
  await t.rejects(
    withFileLock(file, { what: 'the test pointer', staleMs: 60_000, waitMs: 100 }, async (lock) => {
      await lock.assertHeld();
      // Another replica decided this holder was dead and took the lock.
      await writeFile(file, theirs);
      await lock.assertHeld();
    }),
    { code: 'SPINET_ERR_APP_STORE_BUSY', message: `lost the lock ${file} while holding it (now pid 1 on host replica-elsewhere since 2025-01-01T00:00:00.000Z): another writer took it over after this one went 60000 ms without refreshing it; nothing was written, try again` },
  );
  t.equal(await readFile(file, 'utf8'), theirs, 'the new holder’s lock stays');
  t.same(await readdir(dir), ['current.lock']);
});

t.test('a lock whose directory is missing says where and what to check', async (t) => {
  const file = path.join(await tempDir(), 'no-such-dir', 'claims.lock');
  await t.rejects(withFileLock(file, { what: 'the host claims of the app store', staleMs: 1000, waitMs: 100 }, async () => 1), {
    code: 'SPINET_ERR_APP_STORE',
    message: `cannot lock the host claims of the app store: the directory of ${file} does not exist; check the app store path (--store)`,
  });
});
