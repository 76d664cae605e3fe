/**
 * Fair sharing of the worker pool between tenants (apps): the waiting requests, one FIFO per app, and
 * the policy deciding whether an app may take a free worker. One app alone uses every worker. When
 * several apps are active, each is guaranteed a share (workers / active apps, at least one): an app
 * may go past its share only while enough workers stay free for every other active app still under
 * its share. So a tenant whose guests loop until their deadline, or that floods the gateway, holds at
 * most the workers nobody else needs, and the next app's request starts at once instead of queueing
 * behind it. Queue room is shared the same way. Work-conserving otherwise: no worker is held back for
 * an app that has not been seen within the activity window.
 */

/** What the queue needs to know about a waiting request. */
export interface FairJob {
  readonly id: number;
  readonly tenant: string;
}

/** How long after its last request an app still counts as active (keeps its reserved share). */
export const ACTIVITY_WINDOW_MS = 10_000;

/** Per-app FIFOs with fair dispatch. */
export class FairQueue<J extends FairJob> {
  readonly #queues = new Map<string, J[]>();
  readonly #lastSeen = new Map<string, number>();
  #size = 0;

  /** Requests waiting, in all apps. */
  get size(): number {
    return this.#size;
  }

  /** Requests waiting for `tenant`. */
  sizeOf(tenant: string): number {
    return this.#queues.get(tenant)?.length ?? 0;
  }

  /** Records that `tenant` asked for work now (it counts as active for the activity window). */
  touch(tenant: string, now: number): void {
    this.#lastSeen.set(tenant, now);
  }

  /** Apps seen within the window, or with requests running or waiting. */
  active(now: number, running: ReadonlyMap<string, number>): Set<string> {
    const apps = new Set<string>();
    for (const [tenant, seen] of this.#lastSeen) {
      if (now - seen <= ACTIVITY_WINDOW_MS) apps.add(tenant);
      else if (!running.get(tenant) && !this.sizeOf(tenant)) this.#lastSeen.delete(tenant);
    }
    for (const [tenant, n] of running) if (n > 0) apps.add(tenant);
    for (const [tenant, q] of this.#queues) if (q.length > 0) apps.add(tenant);
    return apps;
  }

  /** The oldest waiting request of `tenant`. */
  first(tenant: string): J | undefined {
    return this.#queues.get(tenant)?.[0];
  }

  /** Adds a request at the back of its app's queue. */
  push(job: J): void {
    this.#queueOf(job.tenant).push(job);
    this.#size++;
  }

  /** Puts a request back at the front of its app's queue (it was taken but could not run). */
  unshift(job: J): void {
    this.#queueOf(job.tenant).unshift(job);
    this.#size++;
  }

  /** Removes a waiting request (its client went away); false if it was not waiting. */
  remove(job: J): boolean {
    const q = this.#queues.get(job.tenant);
    const i = q ? q.indexOf(job) : -1;
    if (!q || i < 0) return false;
    q.splice(i, 1);
    this.#size--;
    if (q.length === 0) this.#queues.delete(job.tenant);
    return true;
  }

  /** The oldest waiting request of the app that most deserves a worker, if `mayStart` lets one start. */
  peek(mayStart: (tenant: string) => boolean, running: ReadonlyMap<string, number>, accept: (job: J) => boolean = () => true): J | undefined {
    let best: J | undefined;
    let bestRunning = Infinity;
    for (const [tenant, q] of this.#queues) {
      const head = q[0];
      if (!head || !accept(head) || !mayStart(tenant)) continue;
      const r = running.get(tenant) ?? 0;
      // Fewest running first; among equals, the request that has waited longest.
      if (r < bestRunning || (r === bestRunning && best !== undefined && head.id < best.id)) {
        best = head;
        bestRunning = r;
      }
    }
    return best;
  }

  /** Removes and returns every waiting request. */
  drain(): J[] {
    const all = [...this.#queues.values()].flat().sort((a, b) => a.id - b.id);
    this.#queues.clear();
    this.#size = 0;
    return all;
  }

  #queueOf(tenant: string): J[] {
    let q = this.#queues.get(tenant);
    if (!q) this.#queues.set(tenant, (q = []));
    return q;
  }
}

/** A snapshot of the pool for one admission decision. */
export interface PoolState {
  readonly workers: number;
  /** Workers with nothing running on them. */
  readonly free: number;
  /** Workers held per app (running, or with a request posted ahead). */
  readonly running: ReadonlyMap<string, number>;
  readonly active: ReadonlySet<string>;
}

/** Each active app's guaranteed number of workers. */
export function fairShare(workers: number, activeApps: number): number {
  return Math.max(1, Math.floor(workers / Math.max(1, activeApps)));
}

/** Whether `tenant` may start a request on a free worker now. */
export function mayStart(tenant: string, pool: PoolState): boolean {
  if (pool.free <= 0) return false;
  const share = fairShare(pool.workers, pool.active.size);
  if ((pool.running.get(tenant) ?? 0) < share) return true;
  // Past its share: only if a free worker stays for every other active app still under its share.
  let reserve = 0;
  for (const other of pool.active) if (other !== tenant && (pool.running.get(other) ?? 0) < share) reserve++;
  return pool.free - 1 >= reserve;
}

/** How many requests `tenant` may have waiting, out of `maxQueue` shared by the active apps. */
export function queueShare(maxQueue: number, activeApps: number): number {
  return Math.ceil(maxQueue / Math.max(1, activeApps));
}
