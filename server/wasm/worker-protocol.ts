/**
 * The messages between the gateway thread and an executor worker. One module owns the wire format so
 * both sides agree; nothing here runs code.
 *
 * Channels:
 * - control (main → worker `postMessage`): load a component, run a request, drop a component. The worker
 *   handles these on its event loop while idle.
 * - events (main → worker, a dedicated MessagePort read only with `receiveMessageOnPort`, plus an
 *   Atomics counter to wake the worker): data a running guest blocks on (request body, write credit).
 *   A running guest owns its worker's thread, so these must be readable synchronously.
 * - reports (worker → main `postMessage`): response parts, body pulls, guest logs, completion.
 */
import type { MountedFile } from '../manifest/types.js';
import type { LinkPlan } from './component-plan.js';

/** Everything a worker needs to instantiate one component: compiled core modules and the glue path. */
export interface LoadMessage {
  readonly t: 'load';
  readonly digest: string;
  /** spinet's link plan (component-plan.ts); when absent, `glue` is jco's glue as a function-body script. */
  readonly plan?: LinkPlan | undefined;
  readonly glue: string;
  /** Core module name (as the glue asks for it) → compiled module; structured-cloned cheaply. */
  readonly modules: ReadonlyArray<readonly [string, WebAssembly.Module]>;
  /** Modules that import their memory as `spinet.memory`, with its limits (see memory-import.ts). */
  readonly memories: ReadonlyArray<readonly [string, LoadedMemory]>;
  /**
   * Instances may be created ahead of their request: the component is linked by spinet's plan and no
   * core module has a start function, so instantiating runs no guest code (see AheadMessage).
   */
  readonly ahead?: boolean;
}

/**
 * Create one instance of a loaded component now, before any request asks for it, and keep it for
 * the next run of that component (each instance still serves exactly one request). A worker keeps at
 * most one such instance; a new one replaces it. Ignored unless the component was loaded with `ahead`.
 */
export interface AheadMessage {
  readonly t: 'ahead';
  readonly digest: string;
  /** The memory cap (pages) of the config its request will run under; undefined = the component default. */
  readonly capPages?: number | undefined;
}

/** A memory a worker creates (and recycles) for a module that imports it. */
export interface LoadedMemory {
  readonly initial: number;
  readonly maximum?: number;
  readonly capPages?: number;
  /**
   * Byte ranges a recycled memory must zero before the next instance: its initial size minus what
   * data segments rewrite at instantiation (computed once per component on the gateway, see
   * `zeroRanges`); absent = zero all of it.
   */
  readonly zero?: ReadonlyArray<readonly [number, number]>;
}

/** Forget a component (evicted from the precompile cache). */
export interface DropMessage {
  readonly t: 'drop';
  readonly digest: string;
}

/** Per-component configuration the host needs inside the worker; sent once per worker and key. */
export interface GuestConfig {
  /** App name and component id: tags for logs. */
  readonly app: string;
  readonly component: string;
  readonly environment: ReadonlyArray<readonly [string, string]>;
  readonly files: readonly MountedFile[];
  /** Cap on each instance's linear memory in bytes (the app's or component's setting); the gateway default when absent. */
  readonly maxMemoryBytes?: number;
}

/** The incoming request as the guest will see it. */
export interface RequestHead {
  readonly method: string;
  readonly pathWithQuery: string;
  readonly scheme: 'http' | 'https';
  readonly authority: string;
  /** Flat [name, value, name, value, …], names lower-case, values as bytes-in-latin1 strings. */
  readonly headers: readonly string[];
}

/** Install a component configuration under a key that runs refer to. */
export interface ConfigMessage {
  readonly t: 'config';
  readonly key: string;
  readonly config: GuestConfig;
}

/** Forget a component configuration (its app was unloaded). */
export interface DropConfigMessage {
  readonly t: 'drop-config';
  readonly key: string;
}

/** Run one request in a fresh instance of an already-loaded component. */
export interface RunMessage {
  readonly t: 'run';
  readonly id: number;
  readonly digest: string;
  /** Key of a config sent earlier with a ConfigMessage. */
  readonly configKey: string;
  /** The export to call, e.g. `wasi:http/incoming-handler@0.2.1` or `fermyon:spin/inbound-redis`. */
  readonly handler: string;
  /** The HTTP request (HTTP trigger), absent for a Redis message. */
  readonly head?: RequestHead;
  /** The Redis message payload (Redis trigger): the run calls handle-message instead of handle. */
  readonly message?: Uint8Array;
  /** True when the request certainly has no body (no pulls will be needed). */
  readonly bodyEmpty: boolean;
}

/** Control messages, main → worker. */
export type ControlMessage = LoadMessage | DropMessage | ConfigMessage | DropConfigMessage | RunMessage | AheadMessage;

/** Events a running guest may block on, main → worker (sync channel). */
export type EventMessage =
  | { readonly t: 'body'; readonly id: number; readonly chunk: Uint8Array }
  | { readonly t: 'body-end'; readonly id: number }
  | { readonly t: 'body-error'; readonly id: number; readonly message: string }
  /** The gateway has written `bytes` more response bytes to the client: that much write credit is back. */
  | { readonly t: 'ack'; readonly id: number; readonly bytes: number }
  /** The client went away: further response writes fail as a closed stream. */
  | { readonly t: 'cancel'; readonly id: number }
  /** The answer to a host call (see `CallReport`). */
  | HostReply;

/**
 * A host capability the guest asked for that only the gateway thread can serve (key-value, variables,
 * outbound HTTP and Redis: anything that does I/O or holds secrets). `op` names the operation, e.g.
 * `kv.get`; `cid` numbers calls within one run.
 */
export interface CallReport {
  readonly t: 'call';
  readonly id: number;
  readonly cid: number;
  readonly op: string;
  readonly args: readonly unknown[];
}

/** A host call's outcome: a value, or an error as the guest's WIT error variant (`{ tag, val? }`). */
export type HostReply =
  | { readonly t: 'reply'; readonly id: number; readonly cid: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'reply'; readonly id: number; readonly cid: number; readonly ok: false; readonly error: unknown };

/** How a run ended, as far as the guest is concerned. */
export type RunOutcome =
  | 'ok'
  /** The guest trapped (unreachable, out-of-bounds, stack overflow, a host-detected contract break). */
  | 'trap'
  /** The guest called wasi:cli/exit. */
  | 'exit'
  /** A Redis handler returned its error result. */
  | 'error'
  /** Instantiation failed (missing import, start function trapped). */
  | 'instantiate';

/** Reports, worker → main. */
export type ReportMessage =
  | { readonly t: 'loaded'; readonly digest: string; readonly error?: string }
  /**
   * Response output, batched: the head (once), body chunks, and the end. A small response arrives as
   * one message with all three.
   */
  | {
      readonly t: 'out';
      readonly id: number;
      readonly head?: { readonly status: number; readonly headers: readonly string[] };
      readonly chunks?: readonly Uint8Array[];
      readonly end?: boolean;
      /** The guest set an error on the response outparam instead of a response. */
      readonly error?: string;
      /** The guest abandoned the body mid-way: the response must be cut off, not completed. */
      readonly abort?: string;
    }
  /** The guest wants more request body. */
  | { readonly t: 'pull'; readonly id: number }
  | CallReport
  | { readonly t: 'log'; readonly id: number; readonly stream: 'stdout' | 'stderr'; readonly text: string }
  | {
      readonly t: 'done';
      readonly id: number;
      readonly outcome: RunOutcome;
      readonly message?: string;
      /** The guest reported running out of memory: a failure of this run is the memory cap's. */
      readonly outOfMemory?: boolean;
      /** Microseconds spent instantiating and in the guest call, for metrics. */
      readonly instantiateUs: number;
      readonly callUs: number;
      /** The instance was made ahead of the request (then `instantiateUs` is what making it cost). */
      readonly ahead?: boolean;
      /** The run's last response output, sent with the report rather than as its own message. */
      readonly out?: Extract<ReportMessage, { t: 'out' }>;
    };

/*
 * Wire forms. Every request crosses the thread boundary twice (a run out, a done back), and the
 * structured clone of an object writes, reads and internalizes each property name and walks a map
 * transition per property on the receiving side. The per-request messages therefore travel as flat
 * arrays (tag first), which cost ~35% less to post and to receive (a run: ~11 → 7 µs posted; a done
 * with a small response: ~12 → 8 µs received, microbenchmark on a loaded 2-core machine). Everything
 * else (load, config, drop, pull, call, log, loaded) stays an object: rare, or not on the hot path.
 * Each side encodes just before postMessage and decodes first thing on receipt, so the rest of the
 * code sees the message types above.
 */

const RUN = 0;
const OUT = 1;
const DONE = 2;

/** RunMessage as sent: [0, id, digest, configKey, handler, bodyEmpty, method, pathWithQuery, scheme, authority, headers, message]. */
export type RunWire = readonly [
  tag: typeof RUN,
  id: number,
  digest: string,
  configKey: string,
  handler: string,
  bodyEmpty: boolean,
  method: string | undefined,
  pathWithQuery: string | undefined,
  scheme: 'http' | 'https' | undefined,
  authority: string | undefined,
  headers: readonly string[] | undefined,
  message: Uint8Array | undefined,
];

/** A response-output report as sent: [1, id, status, headers, chunks, end, error, abort] (absent parts undefined). */
export type OutWire = readonly [
  tag: typeof OUT,
  id: number,
  status: number | undefined,
  headers: readonly string[] | undefined,
  chunks: readonly Uint8Array[] | undefined,
  end: boolean,
  error: string | undefined,
  abort: string | undefined,
];

/** A done report as sent: [2, id, outcome, instantiateUs, callUs, message, outOfMemory, out]. */
export type DoneWire = readonly [tag: typeof DONE, id: number, outcome: RunOutcome, instantiateUs: number, callUs: number, message: string | undefined, outOfMemory: boolean, out: OutWire | undefined, ahead: boolean];

type OutReport = Extract<ReportMessage, { t: 'out' }>;
type DoneReport = Extract<ReportMessage, { t: 'done' }>;

/** What travels main → worker on the control channel. */
export type ControlWire = Exclude<ControlMessage, RunMessage> | RunWire;
/** What travels worker → main. */
export type ReportWire = Exclude<ReportMessage, OutReport | DoneReport> | OutWire | DoneWire;

/** The gateway side of a control message. */
export function encodeControl(msg: ControlMessage): ControlWire {
  if (msg.t !== 'run') return msg;
  const h = msg.head;
  return [RUN, msg.id, msg.digest, msg.configKey, msg.handler, msg.bodyEmpty, h?.method, h?.pathWithQuery, h?.scheme, h?.authority, h?.headers, msg.message];
}

/** The worker side of a control message. */
export function decodeControl(wire: ControlWire): ControlMessage {
  if (!Array.isArray(wire)) return wire as Exclude<ControlMessage, RunMessage>;
  const w = wire as RunWire;
  const run: { -readonly [K in keyof RunMessage]: RunMessage[K] } = { t: 'run', id: w[1], digest: w[2], configKey: w[3], handler: w[4], bodyEmpty: w[5] };
  if (w[6] !== undefined) run.head = { method: w[6], pathWithQuery: w[7]!, scheme: w[8]!, authority: w[9]!, headers: w[10]! };
  if (w[11] !== undefined) run.message = w[11];
  return run;
}

function encodeOut(m: OutReport): OutWire {
  return [OUT, m.id, m.head?.status, m.head?.headers, m.chunks, m.end === true, m.error, m.abort];
}

function decodeOut(w: OutWire): OutReport {
  const out: { -readonly [K in keyof OutReport]: OutReport[K] } = { t: 'out', id: w[1] };
  if (w[2] !== undefined) out.head = { status: w[2], headers: w[3]! };
  if (w[4] !== undefined) out.chunks = w[4];
  if (w[5]) out.end = true;
  if (w[6] !== undefined) out.error = w[6];
  if (w[7] !== undefined) out.abort = w[7];
  return out;
}

/** The worker side of a report. */
export function encodeReport(msg: ReportMessage): ReportWire {
  if (msg.t === 'out') return encodeOut(msg);
  if (msg.t === 'done') return [DONE, msg.id, msg.outcome, msg.instantiateUs, msg.callUs, msg.message, msg.outOfMemory === true, msg.out ? encodeOut(msg.out) : undefined, msg.ahead === true];
  return msg;
}

/** The gateway side of a report. */
export function decodeReport(wire: ReportWire): ReportMessage {
  if (!Array.isArray(wire)) return wire as Exclude<ReportMessage, OutReport | DoneReport>;
  const w = wire as OutWire | DoneWire;
  if (w[0] === OUT) return decodeOut(w);
  const done: { -readonly [K in keyof DoneReport]: DoneReport[K] } = { t: 'done', id: w[1], outcome: w[2], instantiateUs: w[3], callUs: w[4] };
  if (w[5] !== undefined) done.message = w[5];
  if (w[6]) done.outOfMemory = true;
  if (w[8]) done.ahead = true;
  if (w[7] !== undefined) done.out = decodeOut(w[7]);
  return done;
}
