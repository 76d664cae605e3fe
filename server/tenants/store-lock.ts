/**
 * Exclusive lock files for the app store, which replicas share on one (possibly network) filesystem:
 * the store-wide host-claims lock (`<store>/claims.lock`) and each app's pointer lock
 * (`<store>/apps/<app>/current.lock`).
 *
 * A lock is a file created with O_EXCL (atomic on local filesystems and NFSv3 or later) that names
 * its owner: a random token, pid, pid namespace, host name and when it was taken. While it is held
 * its mtime is refreshed, so a live holder is never taken for dead however long it holds on. Another
 * writer takes a lock over when it is stale: seen by that writer to go `staleMs` without a refresh,
 * timed by the writer's own monotonic clock (a replica that crashed on another machine), or owned by
 * a process of this host and pid namespace that no longer runs (a replica that crashed here: taken
 * over at once). Staleness never compares the holder's mtime with this host's clock, so replicas'
 * clocks need not agree: a holder whose clock runs an hour behind still refreshes its lock.
 *
 * Writers take a stale lock over one at a time, under a takeover guard (another exclusive create),
 * each checking first that the lock is still the stale one it saw; the stale file is renamed aside,
 * which is atomic, and deleted only if it is what was seen (otherwise it is a live lock, put back).
 * Even so, a holder calls `assertHeld()` just before the write the lock guards, so one whose lock was
 * taken over anyway refuses to write instead of writing beside another holder.
 *
 * Why not proper-lockfile (mkdir locks with refreshed mtimes): it records no owner, and its takeover
 * of a stale lock is stat → rmdir → mkdir, so two replicas reclaiming one stale lock at the same
 * moment can both end up holding it (the second rmdir removes the first one's fresh lock), which is
 * exactly the moment several deploys meet after a replica crashed.
 */
import os from 'node:os';
import { readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { AppStoreBusyError, AppStoreError } from '../errors.js';

/** Who holds a lock: the lock file's content. */
export interface LockOwner {
  readonly token: string;
  readonly pid: number;
  /** Linux pid namespace (`pid:[4026531836]`), so a pid is only judged where it means the same process. */
  readonly pidns?: string;
  readonly host: string;
  readonly since: string;
}

/** How a lock is taken. */
export interface FileLockOptions {
  /** What the lock guards, for error messages (e.g. `the host claims of the app store`). */
  readonly what: string;
  /** A lock not refreshed for this long belongs to a writer that died. */
  readonly staleMs: number;
  /** How long to wait for a live holder before failing. */
  readonly waitMs: number;
  /** The error when the lock's directory does not exist (default: an AppStoreError saying so). */
  readonly missing?: () => Error;
}

/** A lock being held. */
export interface HeldLock {
  /** Throws AppStoreError if the lock is no longer this holder's: call it just before the guarded write. */
  assertHeld(): Promise<void>;
}

const HOST = os.hostname();
const PIDNS = ((): string | undefined => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
})();

/** Tokens of the locks this process holds: a lock naming this process but none of these is an earlier process's. */
const heldHere = new Set<string>();

/** Parses a lock file's content; undefined for anything else (an older spinet wrote only a pid; a lock being created is empty). */
export function parseLockOwner(text: string): LockOwner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.token !== 'string' || !Number.isSafeInteger(o.pid) || typeof o.host !== 'string' || typeof o.since !== 'string') return undefined;
  return { token: o.token, pid: o.pid as number, host: o.host, since: o.since, ...(typeof o.pidns === 'string' ? { pidns: o.pidns } : {}) };
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Seen {
  readonly file: string;
  readonly text: string;
  readonly owner: LockOwner | undefined;
  readonly ino: number;
  /** The last refresh, as the holder's clock wrote it: compared only with earlier looks, never with this host's clock. */
  readonly mtimeMs: number;
}

/**
 * Each lock file this process has found held: which lock (inode, content), its last refresh (mtime)
 * and when, by this process's monotonic clock, that refresh was first seen. Kept across calls, so a
 * writer that gave up waiting and tries again counts the time it already watched.
 */
const watched = new Map<string, { ino: number; text: string; mtimeMs: number; since: number }>();

/** How long (ms, this process's monotonic clock) the lock `seen` has been watched without a refresh. */
function unrefreshedMs(seen: Seen): number {
  const now = performance.now();
  const w = watched.get(seen.file);
  if (w && w.ino === seen.ino && w.text === seen.text && w.mtimeMs === seen.mtimeMs) return now - w.since;
  watched.set(seen.file, { ino: seen.ino, text: seen.text, mtimeMs: seen.mtimeMs, since: now });
  return 0;
}

/** The lock file as it is now; undefined if there is none. */
async function inspect(file: string): Promise<Seen | undefined> {
  try {
    const st = await stat(file);
    const text = await readFile(file, 'utf8');
    return { file, text, owner: parseLockOwner(text), ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      watched.delete(file);
      return undefined;
    }
    throw new AppStoreError(`cannot read the lock file ${file}: ${(err as Error).message}; check that this process can read the app store`, { cause: err });
  }
}

/** Why a lock may be taken over, or undefined while its holder may still be working. */
function staleness(seen: Seen, staleMs: number): string | undefined {
  const unrefreshed = unrefreshedMs(seen);
  if (unrefreshed > staleMs) return `not refreshed for the ${Math.round(unrefreshed)} ms this process watched it`;
  const o = seen.owner;
  if (o && o.host === HOST && PIDNS !== undefined && o.pidns === PIDNS) {
    if (o.pid === process.pid) return heldHere.has(o.token) ? undefined : 'left by an earlier process with this pid';
    if (!processRuns(o.pid)) return `its process ${o.pid} on this host has exited`;
  }
  return undefined;
}

/** "pid 42 on host gw-1 since 2025-01-01T00:00:00.000Z", or what is known. */
function describeOwner(owner: LockOwner | undefined): string {
  return owner ? `pid ${owner.pid} on host ${owner.host} since ${owner.since}` : 'owner not recorded';
}

/**
 * Moves the lock at `file` aside (one atomic rename) and deletes it if `mine(moved)` says it is the
 * lock we meant; otherwise what we moved is another writer's live lock, taken since we looked, and
 * goes back under its name, unless yet another writer holds the lock already (then the one we moved
 * finds out in assertHeld and does not write).
 */
async function removeIf(file: string, aside: string, mine: (moved: Seen) => boolean): Promise<void> {
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it
    throw new AppStoreError(`cannot remove the lock ${file}: ${(err as Error).message}; check that this process can write to the app store`, { cause: err });
  }
  try {
    const moved = await inspect(aside);
    if (!moved || mine(moved)) return;
    try {
      await link(aside, file);
    } catch (err) {
      // Filesystems without hard links (SMB): an exclusive create with the same content.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await writeFile(file, moved.text, { flag: 'wx' }).catch(() => {});
    }
  } finally {
    await rm(aside, { force: true });
  }
}

/**
 * Removes the stale lock `seen`, under the lock's takeover guard (`<file>.takeover`, another exclusive
 * create), so that writers who found one stale lock at once take it over one at a time, and each
 * checks first that the lock is still the stale one it saw: the first may already have removed it and
 * another writer taken the lock anew. False if another writer is taking over (wait and look again).
 */
async function takeOver(file: string, seen: Seen, opts: FileLockOptions): Promise<boolean> {
  const guard = `${file}.takeover`;
  const me: LockOwner = { token: randomBytes(12).toString('hex'), pid: process.pid, ...(PIDNS !== undefined ? { pidns: PIDNS } : {}), host: HOST, since: new Date().toISOString() };
  heldHere.add(me.token);
  try {
    try {
      await writeFile(guard, `${JSON.stringify(me)}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AppStoreError(`cannot take over the stale lock ${file} (${guard}): ${(err as Error).message}; check that this process can write to the app store`, { cause: err });
      }
      // A writer that died taking over leaves the guard: it is held for milliseconds, stale like a lock.
      const other = await inspect(guard);
      if (other !== undefined && staleness(other, opts.staleMs) !== undefined) {
        await removeIf(guard, `${guard}.${me.token}.stale`, (moved) => moved.ino === other.ino && moved.text === other.text);
      }
      return false;
    }
    try {
      const now = await inspect(file);
      if (now !== undefined && now.ino === seen.ino && now.text === seen.text && staleness(now, opts.staleMs) !== undefined) {
        await removeIf(file, `${file}.${me.token}.stale`, (moved) => moved.ino === seen.ino && moved.text === seen.text);
      }
      return true;
    } finally {
      await removeIf(guard, `${guard}.${me.token}.release`, (moved) => moved.owner?.token === me.token);
    }
  } finally {
    heldHere.delete(me.token);
  }
}

/** Runs `work` holding the lock at `file`; see the module comment for how locks are taken and taken over. */
export async function withFileLock<T>(file: string, opts: FileLockOptions, work: (lock: HeldLock) => Promise<T>): Promise<T> {
  const me: LockOwner = { token: randomBytes(12).toString('hex'), pid: process.pid, ...(PIDNS !== undefined ? { pidns: PIDNS } : {}), host: HOST, since: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  const deadline = performance.now() + opts.waitMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    heldHere.add(me.token);
    try {
      await writeFile(file, text, { flag: 'wx' });
      watched.delete(file);
      break;
    } catch (err) {
      heldHere.delete(me.token);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw opts.missing?.() ?? new AppStoreError(`cannot lock ${opts.what}: the directory of ${file} does not exist; check the app store path (--store)`, { cause: err });
      }
      if (code !== 'EEXIST') {
        throw new AppStoreError(`cannot lock ${opts.what} (${file}): ${(err as Error).message}; check that this process can write to the app store`, { cause: err });
      }
    }
    const seen = await inspect(file);
    if (seen === undefined) continue; // released meanwhile
    if (staleness(seen, opts.staleMs) !== undefined && (await takeOver(file, seen, opts))) continue;
    if (performance.now() > deadline) {
      throw new AppStoreBusyError(
        `${file} has been held for ${opts.waitMs} ms by another writer (${describeOwner(seen.owner)}), so ${opts.what} cannot change now; try again. ` +
          `If that writer is gone, its lock is taken over once it has been seen to go ${opts.staleMs} ms without a refresh (at once when it ran on this host).`,
      );
    }
    await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
  }
  // Refresh the mtime while held: a live holder never looks stale.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, Math.max(50, Math.floor(opts.staleMs / 4)));
  heartbeat.unref();
  const lock: HeldLock = {
    async assertHeld() {
      const now = await inspect(file);
      if (now?.owner?.token !== me.token) {
        throw new AppStoreBusyError(
          `lost the lock ${file} while holding it (now ${now ? describeOwner(now.owner) : 'absent'}): another writer took it over after this one went ${opts.staleMs} ms without refreshing it; nothing was written, try again`,
        );
      }
    },
  };
  try {
    return await work(lock);
  } finally {
    clearInterval(heartbeat);
    // Only our own lock is removed: one taken over meanwhile is the new holder's. (Still in heldHere
    // until then, so this process's other writers do not take it for an earlier process's.)
    await removeIf(file, `${file}.${me.token}.release`, (moved) => moved.owner?.token === me.token).catch(() => {});
    heldHere.delete(me.token);
  }
}
