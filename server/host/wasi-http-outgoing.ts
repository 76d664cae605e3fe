/**
 * `wasi:http/outgoing-handler` and the response side of outbound HTTP, on the worker. The request goes
 * to the gateway thread as host calls (`http.send`, `http.write`, `http.finish`, `http.read`,
 * `http.drop`); nothing here blocks until the guest asks to (a blocking read, or a poll). The
 * gateway checks `allowed_outbound_hosts`: a denied request resolves to `HTTP-request-denied`.
 */
import { Fields, IncomingBody, OutgoingRequest, RequestOptions } from './wasi-http.js';
import type { ErrorCode, ResponseTarget } from './wasi-http.js';
import { Pollable } from './wasi-io.js';
import type { ByteSink, ByteSource } from './wasi-io.js';
import { PendingCall, hostChannel } from './host-channel.js';

const UNIT_ERR: { tag: 'err'; val: undefined } = { tag: 'err', val: undefined };
const EMPTY = new Uint8Array(0);
const WRITE_CHUNK = 64 * 1024;

let nextFid = 0;

function describeError(e: unknown): string {
  const v = e as { tag?: string; val?: unknown };
  return v?.tag ? (v.val === undefined ? v.tag : `${v.tag}: ${typeof v.val === 'string' ? v.val : JSON.stringify(v.val)}`) : String(e);
}

/** Sends without waiting for (or keeping) the reply. */
function notify(op: string, args: unknown[]): void {
  const ch = hostChannel();
  ch.forget(ch.send(op, args));
}

/** The guest's request body, streamed to the gateway one acknowledged write at a time. */
class RequestBodySink implements ByteSink, ResponseTarget {
  /** Writes not yet acknowledged (more than one only when bytes written before handle() are flushed). */
  #pending: PendingCall[] = [];
  #failure: string | undefined;
  #closed = false;
  constructor(readonly fid: number) {}

  #settle(): void {
    while (this.#pending.length > 0) {
      const r = this.#pending[0]!.poll();
      if (!r) return;
      this.#pending.shift();
      if (!r.ok) {
        this.#failure = describeError(r.error);
        this.#closed = true;
      }
    }
  }

  // ByteSink
  ready(): boolean {
    this.#settle();
    return this.#pending.length === 0;
  }
  block(deadlineNs?: bigint): void {
    this.#settle();
    while (this.#pending.length > 0) {
      this.#pending[0]!.block(deadlineNs);
      const before = this.#pending.length;
      this.#settle();
      if (this.#pending.length === before) return; // deadline passed
    }
  }
  capacity(): number {
    this.#settle();
    if (this.#closed) return -1;
    return this.#pending.length > 0 ? 0 : WRITE_CHUNK;
  }
  write(bytes: Uint8Array): void {
    // A copy: the view may point into guest memory that the guest will reuse.
    this.#pending.push(new PendingCall('http.write', [this.fid, bytes.slice()]));
  }
  flush(): void {}
  get failure(): string | undefined {
    return this.#failure;
  }

  // ResponseTarget (how OutgoingBody hands over its bytes and its end)
  head(): void {}
  error(): void {}
  get body(): ByteSink {
    return this;
  }
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Ordered after any write: the gateway ends the stream once the last chunk is in.
    notify('http.finish', [this.fid]);
  }
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    notify('http.drop', [this.fid]);
  }
}

/** The response body as a byte source: one outstanding `http.read` at a time. */
class ResponseBodySource implements ByteSource {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #failure: string | undefined;
  #pending: PendingCall | undefined;
  constructor(readonly fid: number) {}

  #absorb(): void {
    const r = this.#pending?.poll();
    if (!r) return;
    this.#pending = undefined;
    if (!r.ok) {
      this.#failure = describeError(r.error);
      this.#ended = true;
    } else if (r.value === null || r.value === undefined) {
      this.#ended = true;
    } else {
      this.#chunks.push(r.value as Uint8Array);
    }
  }

  #request(): void {
    if (!this.#pending && !this.#ended && this.#chunks.length === 0) this.#pending = new PendingCall('http.read', [this.fid]);
  }

  prime(): void {
    this.#request();
  }
  ready(): boolean {
    this.#absorb();
    return this.#chunks.length > 0 || this.#ended;
  }
  block(deadlineNs?: bigint): void {
    while (!this.ready()) {
      this.#request();
      this.#pending!.block(deadlineNs);
      if (!this.#pending!.ready() && deadlineNs !== undefined) return;
    }
  }
  take(max: number): Uint8Array | null {
    this.#absorb();
    const first = this.#chunks[0];
    if (!first) {
      if (this.#ended) return null;
      this.#request(); // read ahead, so the next poll has something to wait for
      return EMPTY;
    }
    if (first.length <= max) {
      this.#chunks.shift();
      return first;
    }
    this.#chunks[0] = first.subarray(max);
    return first.subarray(0, max);
  }
  get failure(): string | undefined {
    return this.#failure;
  }
}

/** `wasi:http/types.incoming-response`. */
export class IncomingResponse {
  readonly #status: number;
  readonly #headers: readonly string[];
  readonly #fid: number;
  #consumed = false;
  constructor(status: number, headers: readonly string[], fid: number) {
    this.#status = status;
    this.#headers = headers;
    this.#fid = fid;
  }
  /** WIT `status`. */
  status(): number {
    return this.#status;
  }
  /** WIT `headers`: immutable. */
  headers(): Fields {
    return Fields.fromFlat(this.#headers);
  }
  /** WIT `consume`: the body, once. */
  consume(): IncomingBody | typeof UNIT_ERR {
    if (this.#consumed) return UNIT_ERR;
    this.#consumed = true;
    return new IncomingBody(new ResponseBodySource(this.#fid));
  }
  [Symbol.dispose](): void {
    // Nobody will read the body: let the gateway close the connection's stream now.
    if (!this.#consumed) notify('http.drop', [this.#fid]);
  }
}

/** `wasi:http/types.future-incoming-response`. */
export class FutureIncomingResponse {
  readonly #call: PendingCall;
  readonly #fid: number;
  #taken = false;
  constructor(call: PendingCall, fid: number) {
    this.#call = call;
    this.#fid = fid;
  }
  /** WIT `subscribe`. */
  subscribe(): Pollable {
    return new Pollable(this.#call);
  }
  /** WIT `get`: none until ready; then once some(ok(response | error-code)); then some(err). */
  get(): unknown {
    if (this.#taken) return UNIT_ERR;
    const r = this.#call.poll();
    if (!r) return undefined;
    this.#taken = true;
    if (!r.ok) return { tag: 'ok', val: { tag: 'err', val: r.error as ErrorCode } };
    const head = r.value as { status: number; headers: string[] };
    return { tag: 'ok', val: { tag: 'ok', val: new IncomingResponse(head.status, head.headers, this.#fid) } };
  }
  [Symbol.dispose](): void {
    if (!this.#taken) {
      this.#call.abandon();
      notify('http.drop', [this.#fid]);
    }
  }
}

function ms(ns: bigint | undefined): number | undefined {
  return ns === undefined ? undefined : Number(ns / 1_000_000n);
}

/** WIT `wasi:http/outgoing-handler.handle`: starts the request; the response arrives through the future. */
export function handle(request: OutgoingRequest, options: RequestOptions | undefined): { tag: 'ok'; val: FutureIncomingResponse } | { tag: 'err'; val: ErrorCode } {
  const scheme = request.scheme();
  const schemeName = scheme === undefined ? undefined : scheme.tag === 'HTTP' ? 'http' : scheme.tag === 'HTTPS' ? 'https' : scheme.val.toLowerCase();
  const authority = request.authority();
  const path = request.pathWithQuery() ?? '/';
  if (schemeName !== undefined && schemeName !== 'http' && schemeName !== 'https') {
    return { tag: 'err', val: { tag: 'HTTP-protocol-error' } };
  }
  const fid = ++nextFid;
  const body = request.outgoingBody;
  const head = {
    method: request.methodToken(),
    // No authority: a request to the app itself (Spin's `self`), resolved by the gateway.
    url: authority === undefined || authority === '' ? undefined : `${schemeName ?? 'https'}://${authority}${path.startsWith('/') ? path : `/${path}`}`,
    path,
    headers: request.flatHeaders(),
    hasBody: body !== undefined,
    connectTimeoutMs: ms(options?.connectTimeout()),
    firstByteTimeoutMs: ms(options?.firstByteTimeout()),
    betweenBytesTimeoutMs: ms(options?.betweenBytesTimeout()),
  };
  const call = new PendingCall('http.send', [fid, head]);
  if (body) body.attach(new RequestBodySink(fid));
  return { tag: 'ok', val: new FutureIncomingResponse(call, fid) };
}
