/**
 * The StarlingMonkey (componentize-js) globals guests use: a Service-Worker-style fetch event.
 * Request, Response, Headers, TextEncoder, crypto.subtle come from TypeScript's DOM lib.
 */
interface SpinetFetchEvent extends Event {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
  /** Keeps the instance alive for work that outlives the response (e.g. a streamed body). */
  waitUntil(promise: Promise<unknown>): void;
}

declare function addEventListener(type: 'fetch', listener: (event: SpinetFetchEvent) => void): void;
