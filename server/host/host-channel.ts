/**
 * Calls from a guest's host functions to the gateway thread, for capabilities a worker cannot serve on
 * its own (key-value, variables, outbound HTTP and Redis). The guest runs synchronously, so a call is a
 * report plus a wait on the instance's event channel for the matching reply. Calls may also be left
 * pending (outbound HTTP) and polled through a `Readiness`.
 */
import type { Readiness } from './wasi-io.js';

/** A host call's outcome: a value, or the guest-visible WIT error variant. */
export type CallResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** The running instance's side of the call channel (implemented by the executor worker's Exchange). */
export interface HostChannel {
  /** Posts a call and returns its id without waiting. */
  send(op: string, args: readonly unknown[]): number;
  /** Whether the reply to `cid` has arrived. */
  arrived(cid: number): boolean;
  /** Blocks until the reply to `cid` arrives (or the monotonic deadline); returns it and forgets it. */
  wait(cid: number, deadlineNs?: bigint): CallResult | undefined;
  /** The reply is no longer wanted: drop it when it comes. */
  forget(cid: number): void;
}

let current: HostChannel | undefined;

/** Installs the channel of the instance that runs now (one per worker at a time). */
export function setHostChannel(channel: HostChannel | undefined): void {
  current = channel;
}

/** The running instance's channel; host functions only run inside an instance. */
export function hostChannel(): HostChannel {
  if (!current) throw new Error('host call outside a running instance');
  return current;
}

/** Calls the gateway and blocks for its answer. */
export function callHost(op: string, ...args: unknown[]): CallResult {
  const ch = hostChannel();
  return ch.wait(ch.send(op, args))!;
}

/** A call left running: ready when its reply has arrived. */
export class PendingCall implements Readiness {
  readonly #channel: HostChannel;
  readonly cid: number;
  #result: CallResult | undefined;
  constructor(op: string, args: readonly unknown[]) {
    this.#channel = hostChannel();
    this.cid = this.#channel.send(op, args);
  }
  ready(): boolean {
    return this.#result !== undefined || this.#channel.arrived(this.cid);
  }
  block(deadlineNs?: bigint): void {
    if (this.#result === undefined) this.#result = this.#channel.wait(this.cid, deadlineNs);
  }
  /** The result if it has arrived (taking it from the channel), else undefined. */
  poll(): CallResult | undefined {
    if (this.#result === undefined && this.#channel.arrived(this.cid)) this.#result = this.#channel.wait(this.cid);
    return this.#result;
  }
  /** Waits for the result. */
  result(): CallResult {
    this.block();
    return this.#result!;
  }
  /** Nobody will read the result. */
  abandon(): void {
    if (this.#result === undefined) this.#channel.forget(this.cid);
  }
}
