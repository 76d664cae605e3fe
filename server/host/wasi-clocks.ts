/**
 * wasi:clocks (monotonic-clock, wall-clock) for guests. Timers are pollables that the instance's
 * waiter can sleep on, so a guest waiting on a timer still receives request-body and write-credit events.
 */
import { Pollable } from './wasi-io.js';
import type { Readiness, Waiter } from './wasi-io.js';

let waiter: Waiter | undefined;

/** Installs the running instance's waiter (timers block through it). */
export function setClockWaiter(w: Waiter | undefined): void {
  waiter = w;
}

class Timer implements Readiness {
  readonly deadlineNs: bigint;
  constructor(deadlineNs: bigint) {
    this.deadlineNs = deadlineNs;
  }
  ready(): boolean {
    return process.hrtime.bigint() >= this.deadlineNs;
  }
  block(): void {
    while (!this.ready()) {
      if (!waiter) throw new Error('timer blocked outside a running instance');
      waiter.waitAny(this.deadlineNs);
    }
  }
}

/** `wasi:clocks/monotonic-clock`. */
export const monotonicClock = {
  now(): bigint {
    return process.hrtime.bigint();
  },
  resolution(): bigint {
    return 1n;
  },
  subscribeInstant(when: bigint): Pollable {
    return new Pollable(new Timer(when));
  },
  subscribeDuration(duration: bigint): Pollable {
    return new Pollable(new Timer(process.hrtime.bigint() + duration));
  },
};

/** `wasi:clocks/wall-clock`. */
export const wallClock = {
  now(): { seconds: bigint; nanoseconds: number } {
    const ms = Date.now();
    return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
  },
  resolution(): { seconds: bigint; nanoseconds: number } {
    return { seconds: 0n, nanoseconds: 1_000_000 };
  },
};
