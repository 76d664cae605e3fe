/**
 * The executor: runs each request in a fresh component instance on a pool of worker threads.
 *
 * Why workers: Node cannot interrupt synchronous Wasm on the thread running it. Each worker runs one
 * guest at a time, synchronously, and blocks (Atomics.wait) when the guest waits for I/O; the gateway
 * thread stays free to serve everyone else. A guest that runs past its deadline is stopped by
 * terminating its worker (≈2–3 ms); a warm spare takes its place so the pool never shrinks.
 */
import { Worker, MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Readable } from 'node:stream';
import {
  ClientGoneError,
  ExecutorClosedError,
  ExecutorOverloadedError,
  GuestDeadlineError,
  GuestFailedError,
  RequestBodyTooLargeError,
  ResponseTooLargeError,
  WorkerCrashedError,
} from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { PreparedComponent } from './component-loader.js';
import { HostCallError } from '../capabilities/host-session.js';
import type { HostSession } from '../capabilities/host-session.js';
import { decodeReport, encodeControl } from './worker-protocol.js';
import type { CallReport, ControlMessage, EventMessage, GuestConfig, LoadedMemory, LoadMessage, ReportMessage, ReportWire, RequestHead, RunOutcome } from './worker-protocol.js';
import { ACTIVITY_WINDOW_MS, FairQueue, mayStart, queueShare } from './fair-queue.js';
import type { PoolState } from './fair-queue.js';

/** Executor settings. */
export interface ExecutorOptions {
  /** Worker threads that run guests (each runs one request at a time). */
  readonly workers: number;
  /** Requests that may wait for a worker before new ones get 503. */
  readonly maxQueue: number;
  /** Response bytes a guest may have in flight before its writes wait for the client. */
  readonly responseWindow?: number;
  /** Guest stdout+stderr bytes logged per request. */
  readonly logLimit?: number;
  readonly logger: Logger;
}

/** One request for a guest. */
export interface GuestRequest {
  readonly component: PreparedComponent;
  /** Export to call, e.g. `wasi:http/incoming-handler@0.2.1`. */
  readonly handler: string;
  /** Identifies `config`; configs are sent to each worker once per key. */
  readonly configKey: string;
  readonly config: GuestConfig;
  /** The HTTP request for an HTTP run; absent for a Redis message. */
  readonly head?: RequestHead;
  /** A Redis message: the run calls handle-message with it (and produces no response). */
  readonly message?: Uint8Array;
  /** The request body stream (paused), or null when there is none. */
  readonly body: Readable | null;
  readonly maxBodyBytes: number;
  /** Response body limit: past it the response is cut off (500 if nothing was sent yet). */
  readonly maxResponseBytes?: number;
  /** Wall-clock limit for the guest, from the moment it starts running. */
  readonly deadlineMs: number;
  /** Guest stdout/stderr, already bounded. */
  readonly onLog?: (stream: 'stdout' | 'stderr', text: string) => void;
  /** Serves the guest's host calls (key-value, variables, outbound HTTP and Redis). */
  readonly host?: HostSession;
}

/** The guest's response head and body. The body is a Buffer when the whole response came at once. */
export interface GuestResponse {
  readonly status: number;
  /** Flat [name, value, …]. */
  readonly headers: readonly string[];
  readonly body: Buffer | Readable;
}

/** How a run went, for logs and metrics. */
export interface RunReport {
  readonly outcome: RunOutcome | 'deadline' | 'crash' | 'rejected';
  readonly message?: string;
  /** The guest reported exhausting its memory (the cap): its failure counts as reason `memory`. */
  readonly outOfMemory?: boolean;
  /** The gateway cut the run short (response over its limit, or the client went away). */
  readonly cancelled?: 'response-limit' | 'client-gone';
  readonly instantiateUs: number;
  readonly callUs: number;
  /** The instance was made ahead of the request (Executor.warm, or after a run of the same component). */
  readonly ahead?: boolean;
  /** Milliseconds the request waited for a worker. */
  readonly queuedMs: number;
}

/** The two things a caller waits on: the response (or a typed failure), and the end of the run. */
export interface RunHandle {
  readonly response: Promise<GuestResponse>;
  readonly done: Promise<RunReport>;
  /** The client went away: the guest's further writes fail. */
  cancel(): void;
}

const WORKER_URL = new URL('./executor-worker.js', import.meta.url);

const CLIENT_LEFT_WAITING = 'the client went away while the request was waiting for a worker';

/** Parent flags that install module loader hooks (test runners, APM agents). */
const LOADER_FLAG = /^(--(import|loader|experimental-loader|require)\b|-r$)/;

/**
 * Starts an executor worker without the parent's module loader hooks: a worker runs only spinet's
 * executor and generated glue, and each hook costs startup time (tap's TypeScript hook, for one).
 * Passing execArgv explicitly makes Node reject process-wide flags (--max-old-space-size,
 * --perf-basic-prof, ...) that it otherwise lets workers inherit silently, so without hooks to drop
 * the parent's flags are inherited as usual, and a rejected list falls back to none.
 */
function spawnWorker(options: ConstructorParameters<typeof Worker>[1] & object): Worker {
  const argv = process.execArgv;
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (LOADER_FLAG.test(argv[i]!)) {
      if (!argv[i]!.includes('=') && i + 1 < argv.length) i++; // the flag's separate value
      continue;
    }
    kept.push(argv[i]!);
  }
  if (kept.length === argv.length) return new Worker(WORKER_URL, options);
  try {
    return new Worker(WORKER_URL, { ...options, execArgv: kept });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(WORKER_URL, { ...options, execArgv: [] });
  }
}

class Job {
  readonly id: number;
  readonly req: GuestRequest;
  readonly enqueuedAt = performance.now();
  startedAt = 0;
  slot: WorkerSlot | undefined;
  timer: NodeJS.Timeout | undefined;
  #resolveResponse!: (r: GuestResponse) => void;
  #rejectResponse!: (e: Error) => void;
  #resolveDone!: (r: RunReport) => void;
  readonly response: Promise<GuestResponse>;
  readonly done: Promise<RunReport>;
  #settled = false;
  #finished = false;
  #head: { status: number; headers: readonly string[] } | undefined;
  #chunks: Uint8Array[] = [];
  #stream: Readable | undefined;
  #unacked = 0;
  #ended = false;
  cancelled = false;
  /** Why the gateway cancelled the run, if it did: what the guest does next is not its own failure. */
  cancelReason: 'response-limit' | 'client-gone' | undefined;
  #responseBytes = 0;
  /** The run message was sent to a worker. */
  posted = false;
  pump: BodyPump | undefined;

  /** The app the request belongs to: the unit of fair sharing. */
  get tenant(): string {
    return this.req.config.app;
  }

  constructor(id: number, req: GuestRequest) {
    this.id = id;
    this.req = req;
    this.response = new Promise((resolve, reject) => {
      this.#resolveResponse = resolve;
      this.#rejectResponse = reject;
    });
    // A caller that only awaits `done` must not see an unhandled rejection.
    this.response.catch(() => {});
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  send(ev: EventMessage): void {
    this.slot?.sendEvent(ev);
  }

  fail(err: Error): void {
    if (!this.#settled) {
      this.#settled = true;
      this.#rejectResponse(err);
    } else if (this.#stream && !this.#ended) {
      // Headers are out: the only honest signal left is cutting the body off.
      this.#stream.destroy(err);
    }
  }

  onOut(msg: Extract<ReportMessage, { t: 'out' }>): void {
    if (msg.abort !== undefined && !this.#settled) {
      this.fail(new GuestFailedError(msg.abort));
      return;
    }
    if (msg.error !== undefined && !this.#head) {
      this.fail(new GuestFailedError(`guest set an error response: ${msg.error}`));
      return;
    }
    if (msg.head) this.#head = msg.head;
    if (!this.#head) return;
    if (msg.chunks) {
      const limit = this.req.maxResponseBytes;
      if (limit !== undefined) {
        for (const c of msg.chunks) this.#responseBytes += c.length;
        if (this.#responseBytes > limit) {
          // The guest's further writes fail as a closed stream; the client gets no more than the limit.
          this.cancel('response-limit');
          this.fail(new ResponseTooLargeError(`guest response body exceeds the limit of ${limit} bytes`));
          return;
        }
      }
      if (this.#stream) {
        for (const c of msg.chunks) this.#push(c);
      } else {
        for (const c of msg.chunks) this.#chunks.push(c);
      }
    }
    if (msg.abort !== undefined) {
      this.fail(new GuestFailedError(`guest abandoned its response body: ${msg.abort}`));
      return;
    }
    if (msg.end) this.#ended = true;
    if (this.#settled) {
      if (msg.end && this.#stream) this.#stream.push(null);
      return;
    }
    this.#settled = true;
    if (this.#ended) {
      const body = this.#chunks.length === 1 ? bufferOf(this.#chunks[0]!) : Buffer.concat(this.#chunks);
      this.#chunks = [];
      this.#resolveResponse({ status: this.#head.status, headers: this.#head.headers, body });
      return;
    }
    // A streamed response: hand out a stream now; credit flows back as the client reads.
    const job = this;
    this.#stream = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (job.#unacked > 0) {
          const bytes = job.#unacked;
          job.#unacked = 0;
          job.send({ t: 'ack', id: job.id, bytes });
        }
      },
    });
    this.#stream.on('close', () => {
      if (!this.#ended && !this.#finished) this.cancel('client-gone');
    });
    const pending = this.#chunks;
    this.#chunks = [];
    for (const c of pending) this.#push(c);
    this.#resolveResponse({ status: this.#head.status, headers: this.#head.headers, body: this.#stream });
  }

  #push(c: Uint8Array): void {
    if (this.#stream!.push(bufferOf(c))) this.send({ t: 'ack', id: this.id, bytes: c.length });
    else this.#unacked += c.length;
  }

  /** Serves one host call and sends the reply; a reply to a run that has ended is simply dropped. */
  onCall(msg: CallReport): void {
    const reply = (ok: boolean, payload: unknown): void => {
      if (this.#finished) return;
      this.send(ok ? { t: 'reply', id: this.id, cid: msg.cid, ok: true, value: payload } : { t: 'reply', id: this.id, cid: msg.cid, ok: false, error: payload });
    };
    const fail = (err: unknown): void => {
      if (err instanceof HostCallError) reply(false, err.variant);
      else reply(false, { tag: 'other', val: err instanceof Error ? err.message : String(err) });
    };
    const host = this.req.host;
    if (!host) {
      reply(false, { tag: 'other', val: `no host capabilities are available to this guest (${msg.op})` });
      return;
    }
    let value: unknown;
    try {
      value = host.call(msg.op, msg.args);
    } catch (err) {
      fail(err);
      return;
    }
    if (value instanceof Promise) value.then((v) => reply(true, v), fail);
    else reply(true, value);
  }

  cancel(reason: 'response-limit' | 'client-gone' = 'client-gone'): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelReason = reason;
    this.send({ t: 'cancel', id: this.id });
  }

  finish(report: Omit<RunReport, 'queuedMs'>): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.pump?.close();
    this.req.host?.close();
    // Built property by property: object spread goes through V8's generic clone path, per request.
    const full: Mutable<RunReport> = { outcome: report.outcome, instantiateUs: report.instantiateUs, callUs: report.callUs, queuedMs: this.startedAt ? this.startedAt - this.enqueuedAt : performance.now() - this.enqueuedAt };
    if (report.message !== undefined) full.message = report.message;
    if (report.outOfMemory) full.outOfMemory = report.outOfMemory;
    if (report.ahead) full.ahead = true;
    if (report.cancelled !== undefined) full.cancelled = report.cancelled;
    if (this.cancelReason) full.cancelled = this.cancelReason;
    if (!this.#settled) {
      // The client left before any response: whatever the run ended with, nobody is waiting for it,
      // and the trigger must not report it as the guest failing the request.
      this.fail(this.cancelReason === 'client-gone' ? new ClientGoneError(report.outcome === 'rejected' && report.message ? report.message : 'the client went away before the response') : failureFor(report.outcome, report.message));
    } else if (this.#stream && !this.#ended) {
      this.#stream.destroy(failureFor(report.outcome === 'ok' ? 'unfinished' : report.outcome, report.message));
    }
    this.#resolveDone(full);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function failureFor(outcome: RunReport['outcome'] | 'unfinished', message: string | undefined): Error {
  switch (outcome) {
    case 'deadline':
      return new GuestDeadlineError(message ?? 'guest ran past its deadline');
    case 'crash':
      return new WorkerCrashedError(message ?? 'executor worker died');
    case 'ok':
      return new GuestFailedError('guest returned without setting a response');
    case 'unfinished':
      return new GuestFailedError('guest returned without finishing the response body');
    case 'exit':
      return new GuestFailedError(message ?? 'guest exited');
    case 'instantiate':
      return new GuestFailedError(`instantiation failed: ${message ?? 'unknown error'}`);
    default:
      return new GuestFailedError(`guest trapped: ${message ?? 'unknown trap'}`);
  }
}

function bufferOf(c: Uint8Array): Buffer {
  return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

/** Feeds a request body to the guest on demand (the guest pulls; nothing is buffered beyond a chunk). */
class BodyPump {
  readonly #stream: Readable;
  readonly #job: Job;
  readonly #max: number;
  #total = 0;
  #ended = false;
  #waiting = false;
  #closed = false;
  readonly #onEnd = (): void => {
    this.#ended = true;
    if (this.#waiting) this.pull();
  };
  readonly #onError = (err: Error): void => {
    this.#closed = true;
    this.#job.send({ t: 'body-error', id: this.#job.id, message: `request body failed: ${err.message}` });
  };
  readonly #onReadable = (): void => {
    if (this.#waiting) this.pull();
  };

  constructor(stream: Readable, job: Job, max: number) {
    this.#stream = stream;
    this.#job = job;
    this.#max = max;
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('aborted', () => this.#onError(new Error('client aborted the request')));
    stream.on('readable', this.#onReadable);
  }

  pull(): void {
    if (this.#closed) return;
    this.#waiting = false;
    const chunk = this.#stream.read() as Buffer | null;
    if (chunk !== null) {
      this.#total += chunk.length;
      if (this.#total > this.#max) {
        this.#closed = true;
        this.#job.send({ t: 'body-error', id: this.#job.id, message: `request body exceeds ${this.#max} bytes` });
        this.#job.fail(new RequestBodyTooLargeError(`request body exceeds the limit of ${this.#max} bytes`));
        return;
      }
      // Copy into an exact-size Uint8Array: Node's parser hands out slices of pooled buffers.
      this.#job.send({ t: 'body', id: this.#job.id, chunk: new Uint8Array(chunk) });
      return;
    }
    if (this.#ended || this.#stream.readableEnded) {
      this.#closed = true;
      this.#job.send({ t: 'body-end', id: this.#job.id });
      return;
    }
    this.#waiting = true;
  }

  close(): void {
    this.#closed = true;
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('readable', this.#onReadable);
    // Keep the error listener: a late socket error must not become an uncaught exception.
  }
}

/**
 * The parts of [0, size) outside `covered` (sorted, merged): what a reset must zero. Zero ranges
 * separated by less than 4 KiB of covered bytes are merged (zeroing covered bytes is harmless:
 * instantiation rewrites them), so the reset is a few large fills rather than thousands of small ones.
 * Bytes between segments are never skipped: they must read as zero.
 */
export function zeroRanges(covered: ReadonlyArray<readonly [number, number]>, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const add = (a: number, b: number): void => {
    if (b <= a) return;
    const last = out[out.length - 1];
    if (last && a - last[1] < 4096) last[1] = b;
    else out.push([a, b]);
  };
  let at = 0;
  for (const [a, b] of covered) {
    if (a > at) add(at, Math.min(a, size));
    if (b > at) at = b;
    if (at >= size) return out;
  }
  add(at, size);
  return out;
}

const memoriesByComponent = new WeakMap<PreparedComponent, LoadMessage['memories']>();

/**
 * A component's memories as workers load them: computed once per component, since a big guest's
 * data segments (10,000 for componentize-js's hello) come down to ~170 ranges to zero.
 */
function loadedMemories(c: PreparedComponent): LoadMessage['memories'] {
  let m = memoriesByComponent.get(c);
  if (!m) {
    m = c.memories.map(([name, mem]) => {
      const out: { -readonly [K in keyof LoadedMemory]: LoadedMemory[K] } = { initial: mem.initial };
      if (mem.maximum !== undefined) out.maximum = mem.maximum;
      if (mem.capPages !== undefined) out.capPages = mem.capPages;
      if (mem.dataRanges) out.zero = zeroRanges(mem.dataRanges, mem.initial * 65536);
      return [name, out] as const;
    });
    memoriesByComponent.set(c, m);
  }
  return m;
}

class WorkerSlot {
  readonly worker: Worker;
  readonly #signal = new Int32Array(new SharedArrayBuffer(4));
  readonly #events: MessagePort;
  readonly loaded = new Map<string, Promise<void>>();
  /** Digests whose glue this worker has finished loading. */
  readonly ready = new Set<string>();
  readonly configs = new Set<string>();
  /** The component this worker ran (or was asked to instantiate ahead) last: it may hold an instance of it ready. */
  last: string | undefined;
  /** The request running on this worker. */
  job: Job | undefined;
  /**
   * A request already posted to this worker to start the moment `job` ends, so the worker does not
   * sit idle waiting for the gateway thread to hand it work (only body-less requests; see #postAhead).
   */
  next: Job | undefined;
  dead = false;
  /**
   * Loads posted and not yet answered, per digest, oldest first: the worker answers them in order.
   * A digest can have two (dropped while loading, then loaded again); each answer settles its own.
   */
  readonly #loadWaiters = new Map<string, Array<{ promise: Promise<void>; resolve: () => void; reject: (e: Error) => void }>>();

  constructor(
    readonly executor: Executor,
    opts: { responseWindow: number; logLimit: number },
  ) {
    const { port1, port2 } = new MessageChannel();
    this.#events = port1;
    const options = {
      workerData: { signal: this.#signal.buffer, events: port2, responseWindow: opts.responseWindow, logLimit: opts.logLimit },
      transferList: [port2],
      // Guests' JS heap is inside Wasm memory; this bounds only the glue's own objects.
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    };
    this.worker = spawnWorker(options);
    this.worker.unref();
    this.worker.on('message', (wire: ReportWire) => this.#onMessage(decodeReport(wire)));
    this.worker.on('error', (err) => executor.onSlotDied(this, err));
    this.worker.on('exit', (code) => executor.onSlotDied(this, new Error(`worker exited with code ${code}`)));
  }

  post(msg: ControlMessage): void {
    this.worker.postMessage(encodeControl(msg));
  }

  sendEvent(ev: EventMessage): void {
    if (this.dead) return;
    this.#events.postMessage(ev);
    Atomics.add(this.#signal, 0, 1);
    Atomics.notify(this.#signal, 0);
  }

  ensureLoaded(c: PreparedComponent): Promise<void> {
    let p = this.loaded.get(c.digest);
    if (!p) {
      let settle!: { resolve: () => void; reject: (e: Error) => void };
      p = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      const pending = this.#loadWaiters.get(c.digest);
      if (pending) pending.push({ promise: p, ...settle });
      else this.#loadWaiters.set(c.digest, [{ promise: p, ...settle }]);
      this.loaded.set(c.digest, p);
      this.post({ t: 'load', digest: c.digest, plan: c.plan, glue: c.glue, modules: c.modules, memories: loadedMemories(c), ahead: c.ahead === true });
    }
    return p;
  }

  ensureConfig(key: string, config: GuestConfig): void {
    if (this.configs.has(key)) return;
    this.configs.add(key);
    this.post({ t: 'config', key, config });
  }

  failLoads(err: Error): void {
    for (const ws of this.#loadWaiters.values()) for (const w of ws) w.reject(err);
    this.#loadWaiters.clear();
  }

  #onMessage(msg: ReportMessage): void {
    if (msg.t === 'loaded') {
      const pending = this.#loadWaiters.get(msg.digest);
      const w = pending?.shift();
      if (pending?.length === 0) this.#loadWaiters.delete(msg.digest);
      // Whether this answers the load the slot still counts on (not one dropped since and posted again).
      const current = w !== undefined && this.loaded.get(msg.digest) === w.promise;
      if (msg.error !== undefined) {
        if (current) this.loaded.delete(msg.digest);
        w?.reject(new GuestFailedError(`component glue failed to load: ${msg.error}`));
      } else {
        // Dropped while loading (its app was released): the worker drops it right after; not ready.
        if (current) this.ready.add(msg.digest);
        w?.resolve();
      }
      return;
    }
    const job = this.job;
    if (!job || msg.id !== job.id) return; // late output of a run that was already ended
    switch (msg.t) {
      case 'out':
        job.onOut(msg);
        break;
      case 'pull':
        job.pump?.pull();
        break;
      case 'call':
        job.onCall(msg);
        break;
      case 'log':
        job.req.onLog?.(msg.stream, msg.text);
        break;
      case 'done':
        if (msg.out) job.onOut(msg.out);
        // decodeReport built `msg` with exactly these optional fields: it is the run's report as is.
        job.finish(msg);
        this.job = undefined;
        this.executor.onSlotFree(this);
        break;
    }
  }
}

/** Runs guest requests on a pool of worker threads, one fresh instance per request. */
export class Executor {
  readonly #opts: Required<Omit<ExecutorOptions, 'logger'>> & { logger: Logger };
  readonly #slots: WorkerSlot[] = [];
  #spare: WorkerSlot | undefined;
  readonly #queue = new FairQueue<Job>();
  #repump: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closed = false;
  readonly #idleWaiters: Array<() => void> = [];

  constructor(opts: ExecutorOptions) {
    this.#opts = {
      responseWindow: 1024 * 1024,
      logLimit: 64 * 1024,
      ...opts,
    };
    for (let i = 0; i < opts.workers; i++) this.#slots.push(this.#spawn());
    this.#spare = this.#spawn();
  }

  #spawn(): WorkerSlot {
    return new WorkerSlot(this, { responseWindow: this.#opts.responseWindow, logLimit: this.#opts.logLimit });
  }

  /** Requests running or waiting right now. */
  get load(): { running: number; queued: number; workers: number } {
    let running = 0;
    let ahead = 0;
    for (const s of this.#slots) {
      if (s.job) running++;
      if (s.next) ahead++;
    }
    return { running, queued: this.#queue.size + ahead, workers: this.#slots.length };
  }

  /** Starts one request; the handle's promises never reject except `response` (typed errors). */
  run(req: GuestRequest): RunHandle {
    const job = new Job(this.#nextId++, req);
    const handle: RunHandle = { response: job.response, done: job.done, cancel: () => this.#cancel(job) };
    if (this.#closed) {
      job.finish({ outcome: 'rejected', message: 'executor is shutting down', instantiateUs: 0, callUs: 0 });
      job.fail(new ExecutorClosedError('the gateway is shutting down'));
      return handle;
    }
    const now = performance.now();
    this.#queue.touch(job.tenant, now);
    const pool = this.#pool(now);
    if (mayStart(job.tenant, pool)) {
      const slot = this.#freeSlot(req.component.digest);
      if (slot) {
        this.#start(slot, job);
        return handle;
      }
    }
    // Requests posted ahead to busy workers count as waiting: the bound is on everything not running,
    // and each active app may fill only its share of it.
    let waiting = this.#queue.size;
    let mine = this.#queue.sizeOf(job.tenant);
    for (const s of this.#slots) {
      if (!s.next) continue;
      waiting++;
      if (s.next.tenant === job.tenant) mine++;
    }
    const share = queueShare(this.#opts.maxQueue, pool.active.size);
    if (waiting >= this.#opts.maxQueue || mine >= share) {
      const why = waiting >= this.#opts.maxQueue ? `${waiting} requests are waiting` : `app "${job.tenant}" already has ${mine} requests waiting (its share of the queue)`;
      job.fail(new ExecutorOverloadedError(`all ${this.#slots.length} workers are busy and ${why}`));
      job.finish({ outcome: 'rejected', message: 'overloaded', instantiateUs: 0, callUs: 0 });
      return handle;
    }
    const ahead = this.#queue.sizeOf(job.tenant) > 0 ? undefined : this.#aheadSlot(job);
    if (ahead) this.#postAhead(ahead, job);
    else this.#queue.push(job);
    return handle;
  }

  /** The client went away: a request still waiting leaves the queue at once instead of running later. */
  #cancel(job: Job): void {
    if (!job.slot && this.#queue.remove(job)) {
      job.cancelled = true;
      job.cancelReason = 'client-gone';
      job.finish({ outcome: 'rejected', message: CLIENT_LEFT_WAITING, instantiateUs: 0, callUs: 0 });
      return;
    }
    job.cancel();
  }

  /** Workers held per app (running, or with a request posted ahead to run next). */
  #held(): Map<string, number> {
    const held = new Map<string, number>();
    for (const s of this.#slots) {
      if (s.job) held.set(s.job.tenant, (held.get(s.job.tenant) ?? 0) + 1);
      if (s.next && s.next.tenant !== s.job?.tenant) held.set(s.next.tenant, (held.get(s.next.tenant) ?? 0) + 1);
    }
    return held;
  }

  #pool(now: number): PoolState {
    const running = this.#held();
    let free = 0;
    for (const s of this.#slots) if (!s.job && !s.dead) free++;
    return {
      workers: this.#slots.length,
      free,
      running,
      active: this.#queue.active(now, running),
    };
  }

  #freeSlot(digest: string): WorkerSlot | undefined {
    let any: WorkerSlot | undefined;
    let loaded: WorkerSlot | undefined;
    for (const s of this.#slots) {
      if (s.job || s.dead) continue;
      // Prefer the worker that ran this component last (it may hold an instance made ahead), then
      // one that has it loaded, to skip loading its glue again.
      if (s.last === digest) return s;
      if (s.loaded.has(digest)) loaded ??= s;
      any ??= s;
    }
    return loaded ?? any;
  }

  /** A busy worker that can take `job` as its next request: same component loaded, nothing queued on it. */
  #aheadSlot(job: Job): WorkerSlot | undefined {
    // Requests with bodies never wait on a worker: if that worker is stopped, a request whose body
    // was partly read could not be run again.
    if (job.req.body !== null) return undefined;
    const digest = job.req.component.digest;
    // Only behind the same app's request: posting ahead must not hand another app's worker over.
    return this.#slots.find((s) => !s.dead && s.job?.posted && !s.next && s.job.tenant === job.tenant && s.ready.has(digest));
  }

  #start(slot: WorkerSlot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    const { req } = job;
    slot.ensureConfig(req.configKey, req.config);
    if (slot.ready.has(req.component.digest)) {
      this.#launch(slot, job);
      return;
    }
    slot.ensureLoaded(req.component).then(
      () => {
        if (slot.job !== job || slot.dead) return;
        // The component was dropped while it loaded (a redeploy released it and compiled it again): load it again.
        if (!slot.ready.has(req.component.digest)) this.#start(slot, job);
        else this.#launch(slot, job);
      },
      (err: unknown) => {
        job.finish({ outcome: 'instantiate', message: (err as Error).message, instantiateUs: 0, callUs: 0 });
        if (slot.job === job) {
          slot.job = undefined;
          this.onSlotFree(slot);
        }
      },
    );
  }

  /** Posts the run of the slot's current job and starts its deadline. */
  #launch(slot: WorkerSlot, job: Job): void {
    const { req } = job;
    job.startedAt = performance.now();
    if (req.body) job.pump = new BodyPump(req.body, job, req.maxBodyBytes);
    job.timer = setTimeout(() => this.#expire(slot, job), req.deadlineMs);
    this.#postRun(slot, job);
    this.#fillAhead(slot);
  }

  #postRun(slot: WorkerSlot, job: Job): void {
    const { req } = job;
    job.posted = true;
    slot.last = req.component.digest;
    slot.post({
      t: 'run',
      id: job.id,
      digest: req.component.digest,
      configKey: req.configKey,
      handler: req.handler,
      ...(req.head ? { head: req.head } : {}),
      ...(req.message ? { message: req.message } : {}),
      bodyEmpty: req.body === null,
    });
  }

  /** Queues `job` on a busy worker; its deadline starts when the current request there ends. */
  #postAhead(slot: WorkerSlot, job: Job): void {
    slot.next = job;
    job.slot = slot;
    slot.ensureConfig(job.req.configKey, job.req.config);
    this.#postRun(slot, job);
  }

  /** Moves the same app's oldest waiting request onto a busy worker as its next, when it can run there. */
  #fillAhead(slot: WorkerSlot): void {
    if (slot.dead || !slot.job?.posted || slot.next) return;
    const head = this.#queue.first(slot.job.tenant);
    if (head && head.req.body === null && slot.ready.has(head.req.component.digest)) {
      this.#queue.remove(head);
      this.#postAhead(slot, head);
    }
  }

  /** A request posted ahead to a worker that is being stopped goes back to the front of the queue. */
  #requeueAhead(slot: WorkerSlot): void {
    const next = slot.next;
    slot.next = undefined;
    if (!next) return;
    next.slot = undefined;
    next.posted = false;
    if (next.cancelReason === 'client-gone') {
      // Its client left while it waited: running it elsewhere would serve nobody.
      next.finish({ outcome: 'rejected', message: CLIENT_LEFT_WAITING, instantiateUs: 0, callUs: 0 });
      return;
    }
    this.#queue.unshift(next);
  }

  #expire(slot: WorkerSlot, job: Job): void {
    if (slot.job !== job) return;
    this.#opts.logger.warn({ deadlineMs: job.req.deadlineMs, app: job.req.config.app, component: job.req.config.component }, 'guest ran past its deadline; stopping its worker');
    slot.job = undefined;
    // The request posted ahead has not run (its output would follow this job's in the worker's
    // report order, and none arrived); it runs on another worker instead.
    this.#requeueAhead(slot);
    this.#retire(slot);
    job.finish({ outcome: 'deadline', message: `guest ran past its ${job.req.deadlineMs} ms deadline`, instantiateUs: 0, callUs: 0 });
  }

  /** Takes a slot out of the pool (terminating its worker) and puts the warm spare in its place. */
  #retire(slot: WorkerSlot): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.failLoads(new WorkerCrashedError('worker retired'));
    void slot.worker.terminate();
    const i = this.#slots.indexOf(slot);
    if (i >= 0) {
      if (this.#closed) {
        this.#slots.splice(i, 1);
      } else {
        const replacement = this.#spare ?? this.#spawn();
        this.#slots[i] = replacement;
        this.#spare = this.#spawn();
        this.onSlotFree(replacement);
      }
    }
  }

  /** A worker died on its own (crash, out of memory). */
  onSlotDied(slot: WorkerSlot, err: Error): void {
    if (slot.dead) return;
    if (slot === this.#spare) {
      slot.dead = true;
      this.#spare = this.#closed ? undefined : this.#spawn();
      return;
    }
    const job = slot.job;
    slot.job = undefined;
    if (!this.#closed || job) this.#opts.logger.error({ err }, 'executor worker died');
    this.#requeueAhead(slot);
    this.#retire(slot);
    job?.finish({ outcome: 'crash', message: err.message, instantiateUs: 0, callUs: 0 });
  }

  /** A worker finished its request: give it the next queued one. */
  onSlotFree(slot: WorkerSlot): void {
    if (slot.dead || slot.job) return;
    const ahead = slot.next;
    if (ahead) {
      // Already posted: the worker has started it by now. Its deadline starts here.
      slot.next = undefined;
      slot.job = ahead;
      ahead.startedAt = performance.now();
      ahead.timer = setTimeout(() => this.#expire(slot, ahead), ahead.req.deadlineMs);
      this.#fillAhead(slot);
      return;
    }
    const pool = this.#pool(performance.now());
    const next = this.#queue.peek((tenant) => mayStart(tenant, pool), pool.running);
    if (next) {
      this.#queue.remove(next);
      this.#start(slot, next);
      return;
    }
    // Requests wait while a free worker is held for an app that may come back; look again once
    // that reservation lapses.
    if (this.#queue.size > 0 && !this.#repump && !this.#closed) {
      this.#repump = setTimeout(() => {
        this.#repump = undefined;
        for (const s of this.#slots) if (!s.job && !s.dead) this.onSlotFree(s);
      }, ACTIVITY_WINDOW_MS);
      this.#repump.unref();
    }
    if (this.#closed && this.#slots.every((s) => !s.job)) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /**
   * Gets components ready before their first request: each is loaded on every worker (and the
   * spare), and each worker makes one instance ahead, of `items[i % items.length]` for the i-th
   * worker, so an app's first requests pay only their call. Only for components whose instances can
   * be made ahead (PreparedComponent.ahead); best effort, nothing waits for it.
   */
  warm(items: ReadonlyArray<{ readonly component: PreparedComponent; readonly configKey: string; readonly config: GuestConfig }>): void {
    if (this.#closed || items.length === 0) return;
    const live = this.#slots.filter((s) => !s.dead);
    for (const s of this.#spare ? [...live, this.#spare] : live) {
      for (const it of items) {
        s.ensureConfig(it.configKey, it.config);
        // A failed load is met again, and reported, by the first request that needs it.
        s.ensureLoaded(it.component).catch(() => {});
      }
    }
    live.forEach((s, i) => {
      const { component, config } = items[i % items.length]!;
      if (!component.ahead) return;
      s.post({ t: 'ahead', digest: component.digest, capPages: config.maxMemoryBytes === undefined ? undefined : Math.floor(config.maxMemoryBytes / 65536) });
      s.last = component.digest;
    });
  }

  /** Forget a component everywhere (evicted from the precompile cache). */
  dropComponent(digest: string): void {
    for (const s of [...this.#slots, ...(this.#spare ? [this.#spare] : [])]) {
      // `ready` too: a component compiled again after a drop must be loaded again before it runs.
      s.ready.delete(digest);
      if (s.loaded.delete(digest)) s.post({ t: 'drop', digest });
    }
  }

  /** Forget a component configuration everywhere (its app was unloaded). */
  dropConfig(key: string): void {
    for (const s of [...this.#slots, ...(this.#spare ? [this.#spare] : [])]) {
      if (s.configs.delete(key)) s.post({ t: 'drop-config', key });
    }
  }

  /**
   * Stops taking work, lets running and queued requests finish (up to `graceMs`), then terminates
   * every worker. Requests still running at the grace deadline fail as deadline errors.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const busy = (): boolean => this.#queue.size > 0 || this.#slots.some((s) => s.job || s.next);
    if (busy()) {
      await Promise.race([
        new Promise<void>((resolve) => this.#idleWaiters.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    }
    clearTimeout(this.#repump);
    for (const job of this.#queue.drain()) {
      job.fail(new ExecutorClosedError('the gateway shut down before this request ran'));
      job.finish({ outcome: 'rejected', message: 'shutdown', instantiateUs: 0, callUs: 0 });
    }
    const slots = [...this.#slots, ...(this.#spare ? [this.#spare] : [])];
    this.#spare = undefined;
    for (const s of slots) {
      const job = s.job;
      const ahead = s.next;
      s.job = undefined;
      s.next = undefined;
      s.dead = true;
      ahead?.fail(new ExecutorClosedError('the gateway shut down before this request ran'));
      ahead?.finish({ outcome: 'rejected', message: 'shutdown', instantiateUs: 0, callUs: 0 });
      job?.finish({ outcome: 'deadline', message: 'gateway shut down while the guest was running', instantiateUs: 0, callUs: 0 });
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}
