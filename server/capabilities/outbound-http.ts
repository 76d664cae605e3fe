/**
 * Outbound HTTP (`wasi:http/outgoing-handler`) on the gateway thread, through undici. Bodies stream both
 * ways: the guest's request body arrives in chunks as it writes them (each write is acknowledged only
 * once undici has taken it, which is the guest's back-pressure), and the response body is read on
 * demand as the guest reads. Errors become `wasi:http/types.error-code` variants.
 */
import { PassThrough } from 'node:stream';
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
import { HostCallError } from './host-session.js';

/** The request head as the worker sends it. */
export interface OutboundHead {
  readonly method: string;
  readonly url: string;
  /** Flat [name, value, …], values latin1. */
  readonly headers: readonly string[];
  readonly hasBody: boolean;
  /** Timeouts in milliseconds from the guest's request-options. */
  readonly connectTimeoutMs?: number;
  readonly firstByteTimeoutMs?: number;
  readonly betweenBytesTimeoutMs?: number;
}

/** What the guest gets back: status and headers (the body is read separately). */
export interface OutboundResponseHead {
  readonly status: number;
  readonly headers: string[];
}

/** Response headers that describe the hop, not the message: never passed to a guest. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export interface OutboundHttpOptions {
  /** Connections per origin (runtime config `[outbound_http] max_connections`). */
  readonly maxConnections?: number;
  /** Default connect timeout, milliseconds. */
  readonly connectTimeoutMs?: number;
}

// undici takes longer to load than Fastify does, and most apps never call out: it loads on the
// first outbound request (synchronously: undici is CommonJS).
const require = createRequire(import.meta.url);
let undici: typeof import('undici') | undefined;

/** The gateway's outbound HTTP client: connection pools shared by every guest. */
export class OutboundHttp {
  readonly #agents = new Map<number, Agent>();
  readonly #opts: Required<OutboundHttpOptions>;

  constructor(opts: OutboundHttpOptions = {}) {
    this.#opts = { maxConnections: opts.maxConnections ?? 64, connectTimeoutMs: opts.connectTimeoutMs ?? 10_000 };
  }

  /** A pool per distinct connect timeout (undici sets connect timeouts per agent). */
  agent(connectTimeoutMs?: number): Agent {
    const timeout = connectTimeoutMs ?? this.#opts.connectTimeoutMs;
    let agent = this.#agents.get(timeout);
    if (!agent) {
      undici ??= require('undici') as typeof import('undici');
      agent = new undici.Agent({ connections: this.#opts.maxConnections, connect: { timeout } });
      this.#agents.set(timeout, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((a) => a.destroy()));
  }
}

/** Maps a Node/undici failure to the closest wasi:http error-code. */
export function errorCodeOf(err: unknown): { tag: string; val?: unknown } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  const message = e?.message ?? String(err);
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return { tag: 'DNS-error', val: { rcode: code, infoCode: undefined } };
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return { tag: 'connection-timeout' };
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { tag: 'HTTP-response-timeout' };
    case 'UND_ERR_BODY_TIMEOUT':
      return { tag: 'connection-read-timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { tag: 'connection-terminated' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { tag: 'destination-unavailable' };
    case 'UND_ERR_HEADERS_OVERFLOW':
      return { tag: 'HTTP-response-header-size', val: undefined };
    case 'UND_ERR_INVALID_ARG':
      return { tag: 'HTTP-request-URI-invalid' };
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { tag: 'HTTP-request-body-size', val: undefined };
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return { tag: 'HTTP-response-body-size', val: undefined };
    default:
      if (/certificate|self[- ]signed|CERT_/i.test(code + message)) return { tag: 'TLS-certificate-error' };
      if (/^ERR_SSL|^ERR_TLS|SSL routines/i.test(code + message)) return { tag: 'TLS-protocol-error' };
      return { tag: 'internal-error', val: message };
  }
}

/** One outbound request, from head to the end of its response body. */
export class OutboundExchange {
  readonly #body: PassThrough | undefined;
  readonly #abort = new AbortController();
  readonly response: Promise<OutboundResponseHead>;
  #iterator: AsyncIterator<Buffer> | undefined;
  #responseBody: Dispatcher.ResponseData['body'] | undefined;

  constructor(http: OutboundHttp, head: OutboundHead) {
    const url = new URL(head.url);
    const headers: string[] = [];
    for (let i = 0; i < head.headers.length; i += 2) headers.push(head.headers[i]!, head.headers[i + 1]!);
    this.#body = head.hasBody ? new PassThrough({ highWaterMark: 64 * 1024 }) : undefined;
    const options: Dispatcher.RequestOptions = {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: head.method as Dispatcher.HttpMethod,
      headers,
      body: this.#body ?? null,
      signal: this.#abort.signal,
      ...(head.firstByteTimeoutMs !== undefined ? { headersTimeout: head.firstByteTimeoutMs } : {}),
      ...(head.betweenBytesTimeoutMs !== undefined ? { bodyTimeout: head.betweenBytesTimeoutMs } : {}),
    };
    this.response = http
      .agent(head.connectTimeoutMs)
      .request(options)
      .then(
        (res) => {
          this.#responseBody = res.body;
          const flat: string[] = [];
          for (const [name, value] of Object.entries(res.headers)) {
            if (HOP_BY_HOP.has(name) || value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) flat.push(name, Buffer.from(v, 'utf8').toString('latin1'));
          }
          return { status: res.statusCode, headers: flat };
        },
        (err: unknown) => {
          throw new HostCallError(errorCodeOf(err), `outbound request to ${url.origin} failed: ${(err as Error)?.message ?? String(err)}`);
        },
      );
    // Nobody may be waiting yet; the guest reads the outcome through its future.
    this.response.catch(() => {});
  }

  /** Accepts a chunk of the request body; resolves when the client can take more. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    const body = this.#body;
    if (!body || body.writableEnded || body.destroyed) throw new HostCallError({ tag: 'internal-error', val: 'request body is closed' });
    if (body.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) return undefined;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        body.off('drain', done);
        body.off('close', done);
        if (body.destroyed && !body.writableFinished) reject(new HostCallError({ tag: 'connection-terminated' }));
        else resolve();
      };
      body.on('drain', done);
      body.on('close', done);
    });
  }

  /** The guest finished its request body. */
  finish(): void {
    this.#body?.end();
  }

  /** Next response body chunk, or null at the end. */
  async read(): Promise<Uint8Array | null> {
    await this.response;
    this.#iterator ??= (this.#responseBody as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    try {
      const next = await this.#iterator.next();
      if (next.done) return null;
      const c = next.value;
      return new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
    } catch (err) {
      throw new HostCallError(errorCodeOf(err));
    }
  }

  /** Stops everything: the guest dropped the request or response, or its instance ended. */
  abort(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort();
    this.#body?.destroy();
    this.#responseBody?.destroy();
  }
}
