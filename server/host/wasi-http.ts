/**
 * wasi:http/types and wasi:http/outgoing-handler (0.2.x) for guests: the resource model of one incoming
 * request and its response, bridged to the gateway through `RequestBody` / `ResponseTarget`.
 *
 * Follows wasmtime-wasi-http's rules where the WIT leaves room: lower-cased header names, hop-by-hop
 * headers forbidden in fields, each child resource (body, stream) handed out once.
 */
import { Buffer } from 'node:buffer';
import { IoError, InputStream, OutputStream, Pollable, ALWAYS_READY } from './wasi-io.js';
import type { ByteSink, ByteSource, WitResult } from './wasi-io.js';

type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };
/** `wasi:http/types.error-code` as jco represents it (only the cases the host produces are typed). */
export type ErrorCode = { tag: string; val?: unknown };
type Method = { tag: string; val?: string };
type Scheme = { tag: 'HTTP' } | { tag: 'HTTPS' } | { tag: 'other'; val: string };

const INVALID_SYNTAX: { tag: 'err'; val: HeaderError } = { tag: 'err', val: { tag: 'invalid-syntax' } };
const FORBIDDEN: { tag: 'err'; val: HeaderError } = { tag: 'err', val: { tag: 'forbidden' } };
const IMMUTABLE: { tag: 'err'; val: HeaderError } = { tag: 'err', val: { tag: 'immutable' } };
const UNIT_ERR: { tag: 'err'; val: undefined } = { tag: 'err', val: undefined };

/** Header names a guest may not set: hop-by-hop headers the gateway owns (wasmtime's list). */
const FORBIDDEN_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

// RFC 9110 token characters, as a lookup table for speed on the header path.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function validValue(value: Uint8Array): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    // CR, LF and NUL would split or truncate the header on the wire; other controls except HTAB too.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

/** `wasi:http/types.fields`: an ordered multimap of lower-cased names to byte values. */
export class Fields {
  #names: string[] = [];
  #values: Uint8Array[] = [];
  #immutable = false;

  /** WIT `from-list`. */
  static fromList(entries: ReadonlyArray<readonly [string, Uint8Array]>): Fields | { tag: 'err'; val: HeaderError } {
    const f = new Fields();
    for (const [name, value] of entries) {
      if (!validName(name) || !validValue(value)) return INVALID_SYNTAX;
      const lower = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(lower)) return FORBIDDEN;
      f.#names.push(lower);
      f.#values.push(value);
    }
    return f;
  }

  /** Host-side constructor for request headers: already validated by Node's parser, immutable. */
  static fromFlat(flat: readonly string[]): Fields {
    const f = new Fields();
    for (let i = 0; i < flat.length; i += 2) {
      f.#names.push(flat[i]!);
      f.#values.push(Buffer.from(flat[i + 1]!, 'latin1'));
    }
    f.#immutable = true;
    return f;
  }

  /** WIT `get`. */
  get(name: string): Uint8Array[] {
    const lower = name.toLowerCase();
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i] === lower) out.push(this.#values[i]!);
    return out;
  }

  /** WIT `has`. */
  has(name: string): boolean {
    return this.#names.includes(name.toLowerCase());
  }

  /** WIT `set`. */
  set(name: string, values: readonly Uint8Array[]): WitResult<undefined, HeaderError> | undefined {
    if (this.#immutable) return IMMUTABLE;
    if (!validName(name)) return INVALID_SYNTAX;
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower)) return FORBIDDEN;
    for (const v of values) if (!validValue(v)) return INVALID_SYNTAX;
    this.#remove(lower);
    for (const v of values) {
      this.#names.push(lower);
      this.#values.push(v);
    }
    return undefined;
  }

  /** WIT `delete`. */
  delete(name: string): WitResult<undefined, HeaderError> | undefined {
    if (this.#immutable) return IMMUTABLE;
    if (!validName(name)) return INVALID_SYNTAX;
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower)) return FORBIDDEN;
    this.#remove(lower);
    return undefined;
  }

  /** WIT `append`. */
  append(name: string, value: Uint8Array): WitResult<undefined, HeaderError> | undefined {
    if (this.#immutable) return IMMUTABLE;
    if (!validName(name) || !validValue(value)) return INVALID_SYNTAX;
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower)) return FORBIDDEN;
    this.#names.push(lower);
    this.#values.push(value);
    return undefined;
  }

  /** WIT `entries`. */
  entries(): Array<[string, Uint8Array]> {
    const out: Array<[string, Uint8Array]> = new Array(this.#names.length);
    for (let i = 0; i < this.#names.length; i++) out[i] = [this.#names[i]!, this.#values[i]!];
    return out;
  }

  /** WIT `clone`: always mutable. */
  clone(): Fields {
    const f = new Fields();
    f.#names = this.#names.slice();
    f.#values = this.#values.slice();
    return f;
  }

  #remove(lower: string): void {
    for (let i = this.#names.length - 1; i >= 0; i--) {
      if (this.#names[i] === lower) {
        this.#names.splice(i, 1);
        this.#values.splice(i, 1);
      }
    }
  }

  /** Freeze (fields handed to a request/response become immutable, as in wasmtime). */
  freeze(): this {
    this.#immutable = true;
    return this;
  }

  /** Flat [name, value, …] with latin1 values, for the gateway thread. */
  toFlat(): string[] {
    const out: string[] = new Array(this.#names.length * 2);
    for (let i = 0; i < this.#names.length; i++) {
      out[2 * i] = this.#names[i]!;
      out[2 * i + 1] = Buffer.from(this.#values[i]!.buffer, this.#values[i]!.byteOffset, this.#values[i]!.byteLength).toString('latin1');
    }
    return out;
  }
}

const METHODS: Record<string, Method> = {
  GET: { tag: 'get' },
  HEAD: { tag: 'head' },
  POST: { tag: 'post' },
  PUT: { tag: 'put' },
  DELETE: { tag: 'delete' },
  CONNECT: { tag: 'connect' },
  OPTIONS: { tag: 'options' },
  TRACE: { tag: 'trace' },
  PATCH: { tag: 'patch' },
};

/** The request body as the gateway delivers it: a byte source plus end-of-body trailers. */
export type RequestBody = ByteSource;

/** What the guest's response turns into on the gateway side. */
export interface ResponseTarget {
  /** The guest set the outparam: status and headers are final. */
  head(status: number, headers: string[]): void;
  /** The guest set the outparam to an error. */
  error(message: string): void;
  /** Where body bytes go. */
  readonly body: ByteSink;
  /** The guest finished the body. */
  end(): void;
  /** The guest dropped the body without finishing it: the response is corrupt. */
  abort(reason: string): void;
}

/** A value in flat header form with its parsed request line, as the gateway sends it. */
export interface IncomingHead {
  readonly method: string;
  readonly pathWithQuery: string;
  readonly scheme: 'http' | 'https';
  readonly authority: string;
  readonly headers: readonly string[];
}

/** `wasi:http/types.incoming-request`. */
export class IncomingRequest {
  readonly #head: IncomingHead;
  #body: RequestBody | undefined;
  #headers: Fields | undefined;
  constructor(head: IncomingHead, body: RequestBody) {
    this.#head = head;
    this.#body = body;
  }
  /** WIT `method`. */
  method(): Method {
    return METHODS[this.#head.method] ?? { tag: 'other', val: this.#head.method };
  }
  /** WIT `path-with-query`. */
  pathWithQuery(): string | undefined {
    return this.#head.pathWithQuery;
  }
  /** WIT `scheme`. */
  scheme(): Scheme | undefined {
    return this.#head.scheme === 'https' ? { tag: 'HTTPS' } : { tag: 'HTTP' };
  }
  /** WIT `authority`. */
  authority(): string | undefined {
    return this.#head.authority;
  }
  /** WIT `headers`: immutable. */
  headers(): Fields {
    // A fresh handle each call: the guest may drop one and ask again.
    this.#headers ??= Fields.fromFlat(this.#head.headers);
    return this.#headers.clone().freeze();
  }
  /** WIT `consume`: the body, once. */
  consume(): IncomingBody | typeof UNIT_ERR {
    const body = this.#body;
    if (!body) return UNIT_ERR;
    this.#body = undefined;
    return new IncomingBody(body);
  }
}

/** `wasi:http/types.incoming-body`. */
export class IncomingBody {
  #source: RequestBody;
  #stream: InputStream | undefined;
  #taken = false;
  constructor(source: RequestBody) {
    this.#source = source;
  }
  /** WIT `stream`: once. */
  stream(): InputStream | typeof UNIT_ERR {
    if (this.#taken) return UNIT_ERR;
    this.#taken = true;
    this.#stream = new InputStream(this.#source);
    return this.#stream;
  }
  /** WIT `finish`: request trailers are not forwarded, so they resolve to none. */
  static finish(body: IncomingBody): FutureTrailers {
    body.#stream?.detach();
    return new FutureTrailers();
  }
}

/** `wasi:http/types.future-trailers`: always resolves to no trailers. */
export class FutureTrailers {
  #consumed = false;
  /** WIT `subscribe`. */
  subscribe(): Pollable {
    return new Pollable(ALWAYS_READY);
  }
  /** WIT `get`: some(ok(ok(none))) once, then some(err). */
  get(): unknown {
    if (this.#consumed) return UNIT_ERR;
    this.#consumed = true;
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

/** `wasi:http/types.outgoing-response`. */
export class OutgoingResponse {
  #status = 200;
  readonly #headers: Fields;
  #bodyTaken = false;
  #body: OutgoingBody | undefined;
  constructor(headers: Fields) {
    this.#headers = headers.freeze();
  }
  /** WIT `status-code`. */
  statusCode(): number {
    return this.#status;
  }
  /** WIT `set-status-code`: 100–999 like the http crate (Node writes any 3-digit code). */
  setStatusCode(code: number): typeof UNIT_ERR | undefined {
    if (!Number.isInteger(code) || code < 100 || code > 999) return UNIT_ERR;
    this.#status = code;
    return undefined;
  }
  /** WIT `headers`: immutable child. */
  headers(): Fields {
    return this.#headers.clone().freeze();
  }
  /** WIT `body`: once. */
  body(): OutgoingBody | typeof UNIT_ERR {
    if (this.#bodyTaken) return UNIT_ERR;
    this.#bodyTaken = true;
    this.#body = new OutgoingBody();
    return this.#body;
  }
  /** Host-side: status, headers and the body (if taken) for committing to a target. */
  commit(target: ResponseTarget): void {
    target.head(this.#status, this.#headers.toFlat());
    if (this.#body) this.#body.attach(target);
    else target.end(); // No body resource was ever requested: an empty body.
  }
}

/** A sink that holds body bytes written before the response was committed (the WIT allows it). */
class PendingSink implements ByteSink {
  chunks: Uint8Array[] = [];
  ready(): boolean {
    return true;
  }
  block(): void {}
  capacity(): number {
    return 65536;
  }
  write(bytes: Uint8Array): void {
    // Copy: the bytes view guest memory that the next call may reuse.
    this.chunks.push(bytes.slice());
  }
  flush(): void {}
}

/** A sink that forwards to the target once attached, and holds bytes until then. */
class BodySink implements ByteSink {
  #pending: PendingSink | undefined = new PendingSink();
  #target: ResponseTarget | undefined;
  get #active(): ByteSink {
    return this.#target ? this.#target.body : this.#pending!;
  }
  attach(target: ResponseTarget): void {
    this.#target = target;
    const pending = this.#pending!;
    this.#pending = undefined;
    for (const c of pending.chunks) target.body.write(c);
  }
  get deadlineNs(): bigint | undefined {
    return undefined;
  }
  ready(): boolean {
    return this.#active.ready();
  }
  block(deadlineNs?: bigint): void {
    this.#active.block(deadlineNs);
  }
  capacity(): number {
    return this.#active.capacity();
  }
  write(bytes: Uint8Array): void {
    this.#active.write(bytes);
  }
  flush(): void {
    this.#active.flush();
  }
  get failure(): string | undefined {
    return this.#active.failure;
  }
}

/** `wasi:http/types.outgoing-body`. */
export class OutgoingBody {
  readonly #sink = new BodySink();
  #stream: OutputStream | undefined;
  #streamTaken = false;
  #target: ResponseTarget | undefined;
  #finished = false;
  #finishedBeforeAttach = false;
  /** WIT `write`: once. */
  write(): OutputStream | typeof UNIT_ERR {
    if (this.#streamTaken) return UNIT_ERR;
    this.#streamTaken = true;
    this.#stream = new OutputStream(this.#sink);
    return this.#stream;
  }
  /** WIT `finish`: ends the body; trailers are accepted and not forwarded (HTTP/1.1 chunked trailers are rarely honoured). */
  static finish(body: OutgoingBody, _trailers?: Fields): undefined {
    body.#finished = true;
    body.#stream?.detach();
    if (body.#target) body.#target.end();
    else body.#finishedBeforeAttach = true;
    return undefined;
  }
  /** Host-side: the response was committed; bytes now flow to the target. */
  attach(target: ResponseTarget): void {
    this.#target = target;
    this.#sink.attach(target);
    if (this.#finishedBeforeAttach) target.end();
  }
  [Symbol.dispose](): void {
    // Dropping a body without finish() means the guest gave up mid-body: wasmtime treats it as an error.
    if (!this.#finished) {
      this.#finished = true;
      this.#stream?.detach();
      this.#target?.abort('outgoing-body dropped without finish');
    }
  }
}

/** `wasi:http/types.response-outparam`. */
export class ResponseOutparam {
  #target: ResponseTarget | undefined;
  constructor(target: ResponseTarget) {
    this.#target = target;
  }
  /** WIT `set`: once; a second set traps the guest, as in wasmtime. */
  static set(param: ResponseOutparam, response: { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: ErrorCode }): void {
    const target = param.#target;
    if (!target) throw new Error('response-outparam.set called twice');
    param.#target = undefined;
    if (response.tag === 'ok') response.val.commit(target);
    else target.error(describeErrorCode(response.val));
  }
}

/** Human-readable form of an error-code for logs. */
export function describeErrorCode(code: ErrorCode): string {
  return code.val === undefined ? code.tag : `${code.tag}: ${typeof code.val === 'object' ? JSON.stringify(code.val, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : String(code.val)}`;
}

/** `wasi:http/types.request-options`: timeouts for outgoing requests (durations in nanoseconds). */
export class RequestOptions {
  #connect: bigint | undefined;
  #firstByte: bigint | undefined;
  #betweenBytes: bigint | undefined;
  /** WIT `connect-timeout`. */
  connectTimeout(): bigint | undefined {
    return this.#connect;
  }
  /** WIT `set-connect-timeout`. */
  setConnectTimeout(d: bigint | undefined): undefined {
    this.#connect = d;
    return undefined;
  }
  /** WIT `first-byte-timeout`. */
  firstByteTimeout(): bigint | undefined {
    return this.#firstByte;
  }
  /** WIT `set-first-byte-timeout`. */
  setFirstByteTimeout(d: bigint | undefined): undefined {
    this.#firstByte = d;
    return undefined;
  }
  /** WIT `between-bytes-timeout`. */
  betweenBytesTimeout(): bigint | undefined {
    return this.#betweenBytes;
  }
  /** WIT `set-between-bytes-timeout`. */
  setBetweenBytesTimeout(d: bigint | undefined): undefined {
    this.#betweenBytes = d;
    return undefined;
  }
}

/** `wasi:http/types.outgoing-request`: the request a guest builds for outbound HTTP. */
export class OutgoingRequest {
  #method: Method = { tag: 'get' };
  #pathWithQuery: string | undefined;
  #scheme: Scheme | undefined;
  #authority: string | undefined;
  readonly #headers: Fields;
  #body: OutgoingBody | undefined;
  constructor(headers: Fields) {
    this.#headers = headers.freeze();
  }
  /** WIT `method`. */
  method(): Method {
    return this.#method;
  }
  /** WIT `set-method`. */
  setMethod(m: Method): typeof UNIT_ERR | undefined {
    if (m.tag === 'other' && (typeof m.val !== 'string' || !validName(m.val))) return UNIT_ERR;
    this.#method = m;
    return undefined;
  }
  /** WIT `path-with-query`. */
  pathWithQuery(): string | undefined {
    return this.#pathWithQuery;
  }
  /** WIT `set-path-with-query`. */
  setPathWithQuery(p: string | undefined): typeof UNIT_ERR | undefined {
    if (p !== undefined && /[\s]/.test(p)) return UNIT_ERR;
    this.#pathWithQuery = p;
    return undefined;
  }
  /** WIT `scheme`. */
  scheme(): Scheme | undefined {
    return this.#scheme;
  }
  /** WIT `set-scheme`. */
  setScheme(s: Scheme | undefined): typeof UNIT_ERR | undefined {
    this.#scheme = s;
    return undefined;
  }
  /** WIT `authority`. */
  authority(): string | undefined {
    return this.#authority;
  }
  /** WIT `set-authority`. */
  setAuthority(a: string | undefined): typeof UNIT_ERR | undefined {
    if (a !== undefined && /[\s/?#@]/.test(a)) return UNIT_ERR;
    this.#authority = a;
    return undefined;
  }
  /** WIT `headers`: immutable child. */
  headers(): Fields {
    return this.#headers.clone().freeze();
  }
  /** WIT `body`: once. */
  body(): OutgoingBody | typeof UNIT_ERR {
    if (this.#body) return UNIT_ERR;
    this.#body = new OutgoingBody();
    return this.#body;
  }
  /** Host-side: method as a token (`GET`, or the `other` value). */
  methodToken(): string {
    return this.#method.tag === 'other' ? (this.#method.val ?? 'GET') : this.#method.tag.toUpperCase();
  }
  /** Host-side: the headers in flat form. */
  flatHeaders(): string[] {
    return this.#headers.toFlat();
  }
  /** Host-side: the body resource, if the guest asked for one. */
  get outgoingBody(): OutgoingBody | undefined {
    return this.#body;
  }
}

/** WIT `wasi:http/types.http-error-code`: host I/O errors carry no HTTP error code here. */
export function httpErrorCode(_err: IoError): ErrorCode | undefined {
  return undefined;
}
