/**
 * Executor worker entry: instantiates a fresh component instance per request and runs its
 * wasi:http handler synchronously on this thread. The gateway thread can `terminate()` this worker to
 * stop a guest that runs past its deadline; nothing else about the gateway depends on this thread.
 */
import { parentPort, workerData, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import vm from 'node:vm';
import { Buffer } from 'node:buffer';
import { buildHostImports, activateInstance } from '../host/host-imports.js';
import { linkPlan } from './component-runtime.js';
import { IncomingRequest, ResponseOutparam } from '../host/wasi-http.js';
import type { ResponseTarget } from '../host/wasi-http.js';
import type { ByteSink, ByteSource, Readiness, Waiter } from '../host/wasi-io.js';
import { GuestExit } from '../host/wasi-cli.js';
import { MountedFilesystem } from '../host/wasi-filesystem.js';
import type { CallResult, HostChannel } from '../host/host-channel.js';
import { decodeControl, encodeReport } from './worker-protocol.js';
import type { ControlMessage, ControlWire, EventMessage, GuestConfig, LoadedMemory, ReportMessage, RunMessage, RunOutcome } from './worker-protocol.js';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, Record<string, unknown>>,
  instantiateCore?: (m: WebAssembly.Module, i?: WebAssembly.Imports) => WebAssembly.Instance,
) => Record<string, { handle?: (req: unknown, out: unknown) => void; handleMessage?: (payload: Uint8Array) => unknown }>;

interface LoadedComponent {
  readonly instantiate: Instantiate;
  readonly modules: Map<string, WebAssembly.Module>;
  readonly coreModule: (name: string) => WebAssembly.Module;
  /** Whether instances may be created ahead of their request (LoadMessage.ahead). */
  readonly ahead: boolean;
}

/** A module's memory as loaded (LoadedMemory), and whether a used one may be zeroed and handed on. */
type MemorySpec = LoadedMemory & { readonly recycle: boolean };

const memorySpecs = new Map<WebAssembly.Module, MemorySpec>();
const memoryPool = new Map<WebAssembly.Module, WebAssembly.Memory>();
/** The maximum (pages) each pooled memory was created with: a memory is reused only under the same cap. */
const memoryMaximum = new WeakMap<WebAssembly.Memory, number | undefined>();
/** The running request's memory cap in pages (its config's), or undefined for the component default. */
let runCapPages: number | undefined;
const memoriesInUse: Array<[WebAssembly.Module, WebAssembly.Memory]> = [];

function releaseMemories(): void {
  for (const [module, memory] of memoriesInUse) {
    const spec = memorySpecs.get(module);
    if (!spec?.recycle || memory.buffer.byteLength !== spec.initial * 65536 || memoryPool.has(module)) continue;
    const bytes = new Uint8Array(memory.buffer);
    if (spec.zero) for (const [a, b] of spec.zero) bytes.fill(0, a, b);
    else bytes.fill(0);
    memoryPool.set(module, memory);
  }
  memoriesInUse.length = 0;
}

/**
 * An instance created before its request arrived (AheadMessage, or after a run of the same
 * component): the request that takes it pays only its call. It is never used by more than one
 * request, exactly like one created on demand; its memories come from the same pool.
 */
interface AheadInstance {
  readonly digest: string;
  readonly capPages: number | undefined;
  readonly exports: ReturnType<Instantiate>;
  readonly memories: Array<[WebAssembly.Module, WebAssembly.Memory]>;
  /** What creating it cost, reported as the instantiate time of the request that uses it. */
  readonly us: number;
}

let ahead: AheadInstance | undefined;
/** Runs started on this worker; an instance planned after a run is not made once the next has begun. */
let runs = 0;
/** The component of the last run. */
let lastDigest: string | undefined;

/**
 * Creates the instance of `digest` the next run will likely ask for. Only for components loaded with
 * `ahead` (no start function anywhere, so no guest code runs here and no deadline is needed); a
 * failure is left for that run to meet and report.
 */
function makeAhead(digest: string, capPages: number | undefined): void {
  const loaded = components.get(digest);
  if (!loaded?.ahead || (ahead && ahead.digest === digest && ahead.capPages === capPages)) return;
  discardAhead();
  runCapPages = capPages;
  const t0 = performance.now();
  try {
    const exports = loaded.instantiate(loaded.coreModule, hostImports, instantiateCore);
    ahead = { digest, capPages, exports, memories: memoriesInUse.splice(0), us: Math.round((performance.now() - t0) * 1000) };
  } catch {
    releaseMemories();
  }
}

/** Drops the instance made ahead; its memories go back to the pool, zeroed. */
function discardAhead(): void {
  if (!ahead) return;
  for (const m of ahead.memories) memoriesInUse.push(m);
  ahead = undefined;
  releaseMemories();
}

interface ConfigState {
  readonly config: GuestConfig;
  readonly environment: Array<[string, string]>;
  readonly filesystem: MountedFilesystem | undefined;
}

const { signal, events, responseWindow, logLimit } = workerData as {
  signal: SharedArrayBuffer;
  events: MessagePort;
  responseWindow: number;
  logLimit: number;
};
const wake = new Int32Array(signal);
const port = parentPort!;
const components = new Map<string, LoadedComponent>();
const configs = new Map<string, ConfigState>();
const hostImports = buildHostImports();
const OOM_TEXT = /out of memory|memory allocation of \d+ bytes failed/i;
/** Posting to the gateway batches response output; this threshold flushes early for big bodies. */
const POST_THRESHOLD = 64 * 1024;
/** How long a bare response head may wait for its first body bytes before it is sent alone. */
const HEAD_HOLD_NS = 20_000_000n;

function report(msg: ReportMessage, transfer?: ArrayBuffer[]): void {
  port.postMessage(encodeReport(msg), transfer ?? []);
}

function instantiateCore(m: WebAssembly.Module, i?: WebAssembly.Imports): WebAssembly.Instance {
  const spec = memorySpecs.get(m);
  if (!spec) return new WebAssembly.Instance(m, i);
  const cap = runCapPages ?? spec.capPages;
  const maximum = cap === undefined ? spec.maximum : Math.max(spec.initial, Math.min(cap, spec.maximum ?? Infinity));
  let memory = memoryPool.get(m);
  if (memory && memoryMaximum.get(memory) === maximum) memoryPool.delete(m);
  else {
    memory = new WebAssembly.Memory(maximum === undefined ? { initial: spec.initial } : { initial: spec.initial, maximum });
    memoryMaximum.set(memory, maximum);
  }
  memoriesInUse.push([m, memory]);
  return new WebAssembly.Instance(m, { ...i, spinet: { memory } });
}

/** One in-flight request: the event channel, the request body, the response, and stdio. */
class Exchange implements Waiter, ResponseTarget, HostChannel {
  readonly id: number;
  /** The guest said it ran out of memory (its linear memory hit the cap). */
  outOfMemory = false;
  // Host calls.
  #nextCid = 0;
  readonly #replies = new Map<number, CallResult>();
  readonly #forgotten = new Set<number>();
  readonly #bodyChunks: Uint8Array[] = [];
  #bodyEnded: boolean;
  #bodyFailure: string | undefined;
  #pullPending = false;
  // Response state.
  #head: { status: number; headers: string[] } | undefined;
  #headPosted = false;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #sentBytes = 0;
  #ackedBytes = 0;
  #ended = false;
  #endPosted = false;
  #closed: string | undefined;
  #error: string | undefined;
  #logBytes = 0;
  readonly requestBody: ByteSource;
  readonly body: ByteSink;

  constructor(id: number, bodyEmpty: boolean) {
    this.id = id;
    this.#bodyEnded = bodyEmpty;
    const ex = this;
    this.requestBody = {
      ready: () => ex.#bodyChunks.length > 0 || ex.#bodyEnded,
      block: (deadlineNs?: bigint) => {
        while (!(ex.#bodyChunks.length > 0 || ex.#bodyEnded)) {
          ex.#pull();
          if (!ex.waitAny(deadlineNs) && deadlineNs !== undefined) return;
        }
      },
      take: (max: number) => ex.#take(max),
      get failure() {
        return ex.#bodyFailure;
      },
    };
    this.body = {
      ready: () => ex.#capacity() !== 0,
      block: (deadlineNs?: bigint) => {
        while (ex.#capacity() === 0) {
          ex.#post();
          if (!ex.waitAny(deadlineNs) && deadlineNs !== undefined) return;
        }
      },
      capacity: () => ex.#capacity(),
      write: (bytes: Uint8Array) => {
        ex.#out.push(bytes);
        ex.#outBytes += bytes.length;
        if (ex.#outBytes >= POST_THRESHOLD) ex.#post();
      },
      flush: () => {
        if (ex.#outBytes >= POST_THRESHOLD) ex.#post();
      },
      get failure() {
        return ex.#closed;
      },
    };
  }

  // ── request body ──
  #take(max: number): Uint8Array | null {
    const first = this.#bodyChunks[0];
    if (!first) return this.#bodyEnded ? null : new Uint8Array(0);
    if (first.length <= max) {
      this.#bodyChunks.shift();
      return first;
    }
    this.#bodyChunks[0] = first.subarray(max);
    return first.subarray(0, max);
  }

  #pull(): void {
    if (this.#pullPending || this.#bodyEnded) return;
    this.#pullPending = true;
    report({ t: 'pull', id: this.id });
  }

  // ── Waiter ──
  prime(targets: readonly Readiness[]): void {
    if (targets.includes(this.requestBody)) this.#pull();
  }

  /** Waits for one event for this request (or the deadline); returns false on timeout. */
  waitAny(deadlineNs?: bigint): boolean {
    // Whatever the guest produced so far must reach the client before we sleep, except a bare head:
    // it is held briefly, so a guest that sets a response and then fails before finishing its body
    // still gets a clean 500 instead of a cut-off response (StarlingMonkey does this on exceptions).
    let holdUntil = this.#post(undefined, true) ? process.hrtime.bigint() + HEAD_HOLD_NS : undefined;
    for (;;) {
      const seen = Atomics.load(wake, 0);
      const msg = receiveMessageOnPort(events);
      if (msg) {
        if (this.#dispatch(msg.message as EventMessage)) return true;
        continue;
      }
      const now = process.hrtime.bigint();
      if (holdUntil !== undefined && now >= holdUntil) {
        holdUntil = undefined;
        this.#post();
      }
      let until = deadlineNs;
      if (holdUntil !== undefined && (until === undefined || holdUntil < until)) until = holdUntil;
      if (until !== undefined && deadlineNs !== undefined && now >= deadlineNs) return false;
      const timeout = until === undefined ? Infinity : Math.max(0, Number((until - now) / 1_000_000n)) + 1;
      Atomics.wait(wake, 0, seen, timeout);
    }
  }

  // ── HostChannel ──
  send(op: string, args: readonly unknown[]): number {
    const cid = ++this.#nextCid;
    const transfer: ArrayBuffer[] = [];
    for (const a of args) {
      // Byte arguments are fresh copies of guest memory (jco lifts lists by copying): move, don't copy.
      if (a instanceof Uint8Array && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer) transfer.push(a.buffer);
    }
    report({ t: 'call', id: this.id, cid, op, args }, transfer);
    return cid;
  }

  arrived(cid: number): boolean {
    return this.#replies.has(cid);
  }

  wait(cid: number, deadlineNs?: bigint): CallResult | undefined {
    while (!this.#replies.has(cid)) {
      if (!this.waitAny(deadlineNs) && deadlineNs !== undefined) return undefined;
    }
    const r = this.#replies.get(cid)!;
    this.#replies.delete(cid);
    return r;
  }

  forget(cid: number): void {
    if (!this.#replies.delete(cid)) this.#forgotten.add(cid);
  }

  /** Its client went away before it started (the cancel came while it waited behind another). */
  clientGone(): void {
    this.#closed ??= 'client closed the connection';
  }

  /** Applies one event; false if it belonged to another request. */
  #dispatch(ev: EventMessage): boolean {
    if (ev.id !== this.id) {
      noteCancelAhead(ev);
      return false;
    }
    switch (ev.t) {
      case 'reply':
        if (this.#forgotten.delete(ev.cid)) break;
        this.#replies.set(ev.cid, ev.ok ? { ok: true, value: ev.value } : { ok: false, error: ev.error });
        break;
      case 'body':
        this.#pullPending = false;
        if (ev.chunk.length > 0) this.#bodyChunks.push(ev.chunk);
        break;
      case 'body-end':
        this.#pullPending = false;
        this.#bodyEnded = true;
        break;
      case 'body-error':
        this.#pullPending = false;
        this.#bodyEnded = true;
        this.#bodyFailure = ev.message;
        break;
      case 'ack':
        this.#ackedBytes += ev.bytes;
        break;
      case 'cancel':
        this.#closed ??= 'client closed the connection';
        break;
    }
    return true;
  }

  // ── response ──
  #capacity(): number {
    if (this.#closed !== undefined || this.#ended) return -1;
    const inFlight = this.#sentBytes + this.#outBytes - this.#ackedBytes;
    return Math.max(0, Math.min(65536, responseWindow - inFlight));
  }

  head(status: number, headers: string[]): void {
    this.#head = { status, headers };
  }

  error(message: string): void {
    this.#error = message;
    this.#closed = 'response failed';
    this.#post();
  }

  end(): void {
    this.#ended = true;
    this.#post();
  }

  abort(reason: string): void {
    if (this.#ended) return;
    this.#closed = reason;
    this.#post(reason);
  }

  get responded(): boolean {
    return this.#head !== undefined || this.#error !== undefined;
  }

  /**
   * Sends whatever response output is pending as one message. With `holdBareHead`, a head with no
   * body bytes and no end yet is kept back; returns true when that happened.
   */
  #post(abort?: string, holdBareHead = false): boolean {
    const head = this.#head && !this.#headPosted ? this.#head : undefined;
    const end = this.#ended && !this.#endPosted;
    const error = this.#error;
    if (!head && !end && this.#outBytes === 0 && error === undefined && abort === undefined) return false;
    if (!this.#headPosted && !head && error === undefined && abort === undefined) return false; // body waits for its head
    if (holdBareHead && head && !end && this.#outBytes === 0 && error === undefined && abort === undefined) return true;
    const chunks = this.#out;
    const transfer: ArrayBuffer[] = [];
    for (const c of chunks) {
      // jco hands us fresh copies of guest memory; transfer them when they own their whole buffer.
      if (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength && c.buffer instanceof ArrayBuffer && !transfer.includes(c.buffer)) transfer.push(c.buffer);
    }
    const msg: ReportMessage = {
      t: 'out',
      id: this.id,
      ...(head ? { head } : {}),
      ...(chunks.length > 0 ? { chunks } : {}),
      ...(end ? { end: true } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(abort !== undefined ? { abort } : {}),
    };
    if (head) this.#headPosted = true;
    if (end) this.#endPosted = true;
    this.#error = undefined;
    this.#sentBytes += this.#outBytes;
    this.#out = [];
    this.#outBytes = 0;
    // Only a cleanly ended response rides on `done`: a failure must reach the gateway first, so
    // whoever streams the response has attached its listeners before the run's end is reported.
    if (this.#holdFinal && end && error === undefined && abort === undefined) this.final = { msg: msg as Extract<ReportMessage, { t: 'out' }>, transfer };
    else report(msg, transfer);
    return false;
  }

  /** Set by `finishRun`: a cleanly ended last output rides on the `done` report (one message, one wake-up, per request). */
  #holdFinal = false;
  final: { msg: Extract<ReportMessage, { t: 'out' }>; transfer: ArrayBuffer[] } | undefined;

  /**
   * Called when the guest returns. A response whose body was never finished is broken: if its head
   * has not gone out yet, the gateway can still answer a clean 500.
   */
  finishRun(): void {
    this.#holdFinal = true;
    if (this.#head && !this.#ended && this.#closed === undefined && this.#error === undefined) {
      this.#post('guest returned without finishing the response body');
    } else {
      this.#post();
    }
  }

  // ── stdio ──
  stdioSink(stream: 'stdout' | 'stderr'): ByteSink {
    const ex = this;
    return {
      ready: () => true,
      block: () => {},
      capacity: () => 65536,
      write: (bytes: Uint8Array) => {
        // Bounded: a guest printing in a loop must not flood the gateway log or its memory.
        // Runtimes report exhausted memory on stderr before they abort (SpiderMonkey: "out of memory";
        // Rust: "memory allocation of N bytes failed"): that is how a failure is known to be the cap's.
        if (stream === 'stderr' && !ex.outOfMemory && OOM_TEXT.test(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1'))) ex.outOfMemory = true;
        if (ex.#logBytes >= logLimit) return;
        const slice = bytes.length + ex.#logBytes > logLimit ? bytes.subarray(0, logLimit - ex.#logBytes) : bytes;
        ex.#logBytes += slice.length;
        let text = Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength).toString('utf8');
        if (ex.#logBytes >= logLimit) text += `\n[spinet: guest output truncated at ${logLimit} bytes]`;
        report({ t: 'log', id: ex.id, stream, text });
      },
      flush: () => {},
    };
  }
}

/**
 * Requests posted to this worker to run next whose clients went away while they waited: their cancel
 * arrives while another request runs (and reads the events). Only one request waits here at a time,
 * so the set is emptied at the start of each run.
 */
const cancelledAhead = new Set<number>();

function noteCancelAhead(ev: EventMessage): void {
  if (ev.t === 'cancel') cancelledAhead.add(ev.id);
}

function configFor(key: string): ConfigState {
  const c = configs.get(key);
  if (!c) throw new Error(`config ${key} was never sent to this worker`);
  return c;
}

function run(msg: RunMessage): void {
  runs++;
  const loaded = components.get(msg.digest);
  const ex = new Exchange(msg.id, msg.bodyEmpty);
  // Drop events left over from earlier requests on this worker, noting a cancel for this one.
  for (let m = receiveMessageOnPort(events); m; m = receiveMessageOnPort(events)) noteCancelAhead(m.message as EventMessage);
  if (cancelledAhead.has(msg.id)) ex.clientGone();
  cancelledAhead.clear();
  let outcome: RunOutcome = 'ok';
  let message: string | undefined;
  let instantiateUs = 0;
  let callUs = 0;
  let usedAhead = false;
  const config = configFor(msg.configKey);
  runCapPages = config.config.maxMemoryBytes === undefined ? undefined : Math.floor(config.config.maxMemoryBytes / 65536);
  const session = config.filesystem?.beginSession();
  activateInstance({
    waiter: ex,
    channel: ex,
    cli: { environment: config.environment, stdout: ex.stdioSink('stdout'), stderr: ex.stdioSink('stderr') },
    filesystem: config.filesystem,
  });
  try {
    if (!loaded) throw new Error(`component ${msg.digest} is not loaded on this worker`);
    const t0 = performance.now();
    let exports: ReturnType<Instantiate>;
    const made = ahead;
    if (made && made.digest === msg.digest && made.capPages === runCapPages) {
      ahead = undefined;
      usedAhead = true;
      exports = made.exports;
      for (const m of made.memories) memoriesInUse.push(m);
    } else {
      // Another component's instance made ahead gives its memory back before this one is created.
      discardAhead();
      try {
        exports = loaded.instantiate(loaded.coreModule, hostImports, instantiateCore);
      } catch (err) {
        outcome = 'instantiate';
        throw err;
      }
    }
    const t1 = performance.now();
    instantiateUs = usedAhead ? made!.us : Math.round((t1 - t0) * 1000);
    const handler = exports[msg.handler];
    try {
      if (msg.message !== undefined) {
        if (!handler?.handleMessage) throw new Error(`component does not export ${msg.handler}.handle-message`);
        try {
          handler.handleMessage(msg.message);
        } catch (err) {
          // jco throws the export's `err` result as the bare WIT error value (`'error'` for Spin's
          // enum); traps and host failures are Error objects.
          if (err instanceof Error) throw err;
          const payload = err;
          outcome = 'error';
          message = `handle-message returned error: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}`;
        }
      } else {
        if (!handler?.handle || !msg.head) throw new Error(`component does not export ${msg.handler}`);
        handler.handle(new IncomingRequest(msg.head, ex.requestBody), new ResponseOutparam(ex));
      }
    } finally {
      callUs = Math.round((performance.now() - t1) * 1000);
    }
  } catch (err) {
    if (err instanceof GuestExit) {
      outcome = 'exit';
      message = err.message;
    } else {
      if (outcome === 'ok') outcome = 'trap';
      message = describe(err);
    }
  } finally {
    activateInstance(undefined);
    session?.end();
  }
  ex.finishRun();
  const final = ex.final;
  report(
    { t: 'done', id: msg.id, outcome, ...(message !== undefined ? { message } : {}), ...(ex.outOfMemory ? { outOfMemory: true } : {}), ...(usedAhead ? { ahead: true } : {}), instantiateUs, callUs, ...(final ? { out: final.msg } : {}) },
    final?.transfer,
  );
  // The instance is gone: zeroing its memory for the next one (a megabyte for a small Rust guest)
  // need not delay this response. The next run message waits for this task to end anyway.
  releaseMemories();
  // The same component twice in a row (or an instance made ahead that was used): make its next
  // instance while this worker would otherwise wait for the gateway to send the next request. If
  // that request is already queued here, it runs first and nothing is made.
  const previous = lastDigest;
  lastDigest = msg.digest;
  if (loaded?.ahead && (usedAhead || previous === msg.digest)) {
    const mark = runs;
    const cap = runCapPages;
    setImmediate(() => {
      if (runs === mark) makeAhead(msg.digest, cap);
    });
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const kind = err instanceof WebAssembly.RuntimeError ? 'wasm trap' : err.name;
    return `${kind}: ${err.message}`;
  }
  return String(err);
}

function load(msg: Extract<ControlMessage, { t: 'load' }>): void {
  let error: string | undefined;
  try {
    let instantiate: Instantiate;
    if (msg.plan) {
      instantiate = linkPlan(msg.plan, hostImports) as unknown as Instantiate;
    } else {
      const script = new vm.Script(`(function () {\n${msg.glue}\n})`, { filename: `spinet-glue-${msg.digest.slice(0, 12)}.js` });
      instantiate = (script.runInThisContext() as () => Instantiate)();
    }
    const modules = new Map(msg.modules);
    // A finalizer in jco's glue could call into a finished instance after its memory was handed on;
    // such glue gets fresh memories only. spinet's linker keeps no reference to a finished instance.
    const recycle = msg.plan !== undefined || !msg.glue.includes('FinalizationRegistry');
    for (const [name, limits] of msg.memories) {
      const module = modules.get(name);
      if (module) memorySpecs.set(module, { ...limits, recycle });
    }
    const coreModule = (name: string): WebAssembly.Module => {
      const m = modules.get(name);
      if (!m) throw new Error(`the component asked for unknown core module ${name}`);
      return m;
    };
    components.set(msg.digest, { instantiate, modules, coreModule, ahead: msg.ahead === true && msg.plan !== undefined });
  } catch (err) {
    error = describe(err);
  }
  report({ t: 'loaded', digest: msg.digest, ...(error !== undefined ? { error } : {}) });
}

port.on('message', (wire: ControlWire) => {
  const msg = decodeControl(wire);
  switch (msg.t) {
    case 'load':
      load(msg);
      break;
    case 'drop': {
      if (ahead?.digest === msg.digest) ahead = undefined;
      const c = components.get(msg.digest);
      for (const m of c?.modules.values() ?? []) {
        memorySpecs.delete(m);
        memoryPool.delete(m);
      }
      components.delete(msg.digest);
      break;
    }
    case 'config':
      configs.set(msg.key, {
        config: msg.config,
        environment: msg.config.environment.map(([k, v]) => [k, v] as [string, string]),
        filesystem: msg.config.files.length > 0 ? new MountedFilesystem(msg.config.files) : undefined,
      });
      break;
    case 'drop-config':
      configs.get(msg.key)?.filesystem?.closeAll();
      configs.delete(msg.key);
      break;
    case 'run':
      run(msg);
      break;
    case 'ahead':
      makeAhead(msg.digest, msg.capPages);
      break;
  }
});
