/**
 * wasi:io (error, poll, streams) for guests running synchronously on an executor worker.
 *
 * Guests are synchronous Wasm: a blocking call (`blocking-read`, `poll`) must block the worker thread
 * until the gateway thread delivers data. Streams therefore implement readiness through a small
 * `Source` / `Sink` contract that can wait on the instance's event channel.
 */

/** `wasi:io/error.error`: a host error a guest can only stringify. */
export class IoError {
  readonly #message: string;
  constructor(message: string) {
    this.#message = message;
  }
  /** WIT `to-debug-string`. */
  toDebugString(): string {
    return this.#message;
  }
}

/** What a pollable waits on. `block` returns when ready or when `deadlineNs` (monotonic) passes. */
export interface Readiness {
  ready(): boolean;
  /** Block until ready or the monotonic deadline (nanoseconds, `undefined` = forever). */
  block(deadlineNs?: bigint): void;
  /** Monotonic deadline at which this becomes ready by itself (timers), if any. */
  readonly deadlineNs?: bigint | undefined;
  /** Start whatever request makes this ready (e.g. ask for the next body chunk) without waiting. */
  prime?(): void;
}

/** `wasi:io/poll.pollable`. */
export class Pollable {
  readonly #target: Readiness;
  constructor(target: Readiness) {
    this.#target = target;
  }
  /** WIT `ready`. */
  ready(): boolean {
    return this.#target.ready();
  }
  /** WIT `block`. */
  block(): void {
    if (!this.#target.ready()) this.#target.block(this.#target.deadlineNs);
  }
  /** The readiness behind this pollable (host-internal). */
  get target(): Readiness {
    return this.#target;
  }
}

/** The instance-wide wait used by `poll` to block on several pollables at once. */
export interface Waiter {
  /** Block until some event arrives or the deadline passes; returns false on timeout. */
  waitAny(deadlineNs?: bigint): boolean;
  /** Ask every listed readiness to request its data (e.g. send a body pull) before waiting. */
  prime(targets: readonly Readiness[]): void;
}

let currentWaiter: Waiter | undefined;

/** Installs the waiter of the instance that is running now (one instance runs per worker at a time). */
export function setWaiter(waiter: Waiter | undefined): void {
  currentWaiter = waiter;
}

/** WIT `wasi:io/poll.poll`: indexes of the ready pollables; blocks until at least one is ready. */
export function poll(list: readonly Pollable[]): Uint32Array {
  if (list.length === 0) throw new RangeError('poll called with an empty list');
  if (list.length > 0xffffffff) throw new RangeError('poll list too long');
  for (;;) {
    const ready: number[] = [];
    let deadline: bigint | undefined;
    for (let i = 0; i < list.length; i++) {
      const target = list[i]!.target;
      if (target.ready()) ready.push(i);
      else if (target.deadlineNs !== undefined && (deadline === undefined || target.deadlineNs < deadline)) {
        deadline = target.deadlineNs;
      }
    }
    if (ready.length > 0) return Uint32Array.from(ready);
    if (list.length === 1) {
      list[0]!.block();
      continue;
    }
    const waiter = currentWaiter;
    if (!waiter) throw new Error('poll outside a running instance');
    const targets = list.map((p) => p.target);
    for (const t of targets) t.prime?.();
    waiter.prime(targets);
    waiter.waitAny(deadline);
  }
}

/** The error variant of `wasi:io/streams.stream-error` as jco represents it. */
export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: IoError };

/** A result as jco accepts it from a host function. */
export type WitResult<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };

const CLOSED: { tag: 'err'; val: StreamError } = Object.freeze({ tag: 'err', val: Object.freeze({ tag: 'closed' }) });
const EMPTY = new Uint8Array(0);

/** Where an input stream reads from. */
export interface ByteSource extends Readiness {
  /** Up to `max` buffered bytes without blocking; `EMPTY` when none; `null` at end of stream. */
  take(max: number): Uint8Array | null;
  /** The failure that ended the stream, if it failed rather than ended. */
  readonly failure?: string | undefined;
}

/** `wasi:io/streams.input-stream`. */
export class InputStream {
  #source: ByteSource | undefined;
  constructor(source: ByteSource) {
    this.#source = source;
  }
  #result(chunk: Uint8Array | null): WitResult<Uint8Array, StreamError> | Uint8Array {
    if (chunk !== null) return chunk;
    const failure = this.#source?.failure;
    if (failure !== undefined) return { tag: 'err', val: { tag: 'last-operation-failed', val: new IoError(failure) } };
    return CLOSED;
  }
  /** WIT `read`. */
  read(len: bigint): WitResult<Uint8Array, StreamError> | Uint8Array {
    const source = this.#source;
    if (!source) return CLOSED;
    if (len === 0n) return EMPTY;
    return this.#result(source.take(clampLen(len)));
  }
  /** WIT `blocking-read`. */
  blockingRead(len: bigint): WitResult<Uint8Array, StreamError> | Uint8Array {
    const source = this.#source;
    if (!source) return CLOSED;
    if (len === 0n) return EMPTY;
    for (;;) {
      const chunk = source.take(clampLen(len));
      if (chunk === null || chunk.length > 0) return this.#result(chunk);
      source.block(undefined);
    }
  }
  /** WIT `skip`. */
  skip(len: bigint): WitResult<bigint, StreamError> | bigint {
    const r = this.read(len);
    return r instanceof Uint8Array ? BigInt(r.length) : (r as WitResult<bigint, StreamError>);
  }
  /** WIT `blocking-skip`. */
  blockingSkip(len: bigint): WitResult<bigint, StreamError> | bigint {
    const r = this.blockingRead(len);
    return r instanceof Uint8Array ? BigInt(r.length) : (r as WitResult<bigint, StreamError>);
  }
  /** WIT `subscribe`. */
  subscribe(): Pollable {
    return new Pollable(this.#source ?? ALWAYS_READY);
  }
  /** Detach from the source (the stream's parent was finished or dropped). */
  detach(): void {
    this.#source = undefined;
  }
  [Symbol.dispose](): void {
    this.#source = undefined;
  }
}

/** Where an output stream writes to. */
export interface ByteSink extends Readiness {
  /** Bytes that may be written now without blocking (0 = wait for `ready()`); -1 when closed. */
  capacity(): number;
  /** Accept bytes (never more than the last `capacity()`); the sink copies or takes ownership. */
  write(bytes: Uint8Array): void;
  /** Push buffered bytes towards the destination. */
  flush(): void;
  readonly failure?: string | undefined;
}

/** `wasi:io/streams.output-stream`. */
export class OutputStream {
  #sink: ByteSink | undefined;
  constructor(sink: ByteSink) {
    this.#sink = sink;
  }
  #closed(): { tag: 'err'; val: StreamError } {
    const failure = this.#sink?.failure;
    return failure !== undefined
      ? { tag: 'err', val: { tag: 'last-operation-failed', val: new IoError(failure) } }
      : CLOSED;
  }
  /** WIT `check-write`. */
  checkWrite(): WitResult<bigint, StreamError> | bigint {
    const sink = this.#sink;
    if (!sink) return CLOSED;
    const cap = sink.capacity();
    return cap < 0 ? this.#closed() : BigInt(cap);
  }
  /** WIT `write`: the guest must have checked capacity; writing more is a contract break (trap). */
  write(contents: Uint8Array): WitResult<undefined, StreamError> | undefined {
    const sink = this.#sink;
    if (!sink) return CLOSED;
    const cap = sink.capacity();
    if (cap < 0) return this.#closed();
    if (contents.length > cap) throw new RangeError(`output-stream.write of ${contents.length} bytes exceeds check-write permit of ${cap}`);
    if (contents.length > 0) sink.write(contents);
    return undefined;
  }
  /** WIT `blocking-write-and-flush` (at most 4096 bytes by contract; larger writes are accepted). */
  blockingWriteAndFlush(contents: Uint8Array): WitResult<undefined, StreamError> | undefined {
    const sink = this.#sink;
    if (!sink) return CLOSED;
    let offset = 0;
    while (offset < contents.length) {
      const cap = sink.capacity();
      if (cap < 0) return this.#closed();
      if (cap === 0) {
        sink.block(undefined);
        continue;
      }
      const n = Math.min(cap, contents.length - offset);
      sink.write(offset === 0 && n === contents.length ? contents : contents.subarray(offset, offset + n));
      offset += n;
    }
    sink.flush();
    return undefined;
  }
  /** WIT `flush`. */
  flush(): WitResult<undefined, StreamError> | undefined {
    const sink = this.#sink;
    if (!sink) return CLOSED;
    if (sink.capacity() < 0) return this.#closed();
    sink.flush();
    return undefined;
  }
  /** WIT `blocking-flush`. */
  blockingFlush(): WitResult<undefined, StreamError> | undefined {
    return this.flush();
  }
  /** WIT `subscribe`. */
  subscribe(): Pollable {
    return new Pollable(this.#sink ?? ALWAYS_READY);
  }
  /** WIT `write-zeroes`. */
  writeZeroes(len: bigint): WitResult<undefined, StreamError> | undefined {
    return this.write(new Uint8Array(clampLen(len)));
  }
  /** WIT `blocking-write-zeroes-and-flush`. */
  blockingWriteZeroesAndFlush(len: bigint): WitResult<undefined, StreamError> | undefined {
    return this.blockingWriteAndFlush(new Uint8Array(clampLen(len)));
  }
  /** WIT `splice`: copy up to `len` available bytes from `src`. */
  splice(src: InputStream, len: bigint): WitResult<bigint, StreamError> | bigint {
    const check = this.checkWrite();
    if (typeof check !== 'bigint') return check;
    const n = check < len ? check : len;
    if (n === 0n) return 0n;
    const chunk = src.read(n);
    if (!(chunk instanceof Uint8Array)) return chunk as WitResult<bigint, StreamError>;
    const w = this.write(chunk);
    return w === undefined ? BigInt(chunk.length) : (w as WitResult<bigint, StreamError>);
  }
  /** WIT `blocking-splice`. */
  blockingSplice(src: InputStream, len: bigint): WitResult<bigint, StreamError> | bigint {
    const chunk = src.blockingRead(len);
    if (!(chunk instanceof Uint8Array)) return chunk as WitResult<bigint, StreamError>;
    const w = this.blockingWriteAndFlush(chunk);
    return w === undefined ? BigInt(chunk.length) : (w as WitResult<bigint, StreamError>);
  }
  /** Detach from the sink (the body was finished or dropped). */
  detach(): void {
    this.#sink = undefined;
  }
  [Symbol.dispose](): void {
    this.#sink = undefined;
  }
}

/** A readiness that is always ready (closed streams, zero-duration timers). */
export const ALWAYS_READY: Readiness = Object.freeze({
  ready: () => true,
  block: () => {},
});

/** An input stream with nothing in it (stdin). */
export const EMPTY_SOURCE: ByteSource = Object.freeze({
  ready: () => true,
  block: () => {},
  take: () => null,
});

function clampLen(len: bigint): number {
  // Reads are bounded per call so a guest asking for 2^64 bytes does not make us allocate it.
  return len > 1_048_576n ? 1_048_576 : Number(len);
}
