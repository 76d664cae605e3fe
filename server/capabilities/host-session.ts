/**
 * The gateway-thread side of a guest's host calls. One `HostSession` serves one run (request or
 * message): the worker posts `call` reports, the executor hands them here and sends back the value or
 * the guest-visible error. `close()` runs when the instance ends, so nothing a guest opened (an
 * outbound request, a body stream) outlives it.
 */

/** An error the guest sees as its WIT error variant (e.g. `{ tag: 'access-denied' }`). */
export class HostCallError extends Error {
  constructor(
    readonly variant: { readonly tag: string; readonly val?: unknown },
    message?: string,
  ) {
    super(message ?? (variant.val === undefined ? variant.tag : `${variant.tag}: ${String(variant.val)}`));
    this.name = 'HostCallError';
  }
}

/** Host calls for one run. */
export interface HostSession {
  /** Serves one call; throws HostCallError for errors the guest should see. */
  call(op: string, args: readonly unknown[]): unknown;
  /** The instance ended: release everything the run opened. */
  close(): void;
}
