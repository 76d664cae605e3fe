/**
 * Request buffering before a worker is taken: the gateway reads the first part of a request body (or
 * all of it, when it is small) on its own event loop, within a time limit, and only then hands the
 * request to the executor. A client trickling its body holds a socket, never a worker, and is answered
 * 408 when the time runs out. What was read is replayed to the guest ahead of the rest of the stream,
 * so large uploads still stream with bounded memory.
 */
import { Readable } from 'node:stream';

/** How much to read ahead and how long the client may take. */
export interface PrefetchOptions {
  /** Read up to this many bytes (or the whole body, if it ends first) before dispatch. */
  readonly bufferBytes: number;
  /** The client must deliver that much (or its whole body) within this many ms. */
  readonly timeoutMs: number;
  /** The request body limit: a body that passes it while prefetching is refused. */
  readonly maxBodyBytes: number;
}

/** What prefetching found. */
export type Prefetched =
  | { readonly kind: 'ready'; readonly body: Readable; readonly bytes: number; readonly complete: boolean }
  | { readonly kind: 'timeout'; readonly bytes: number }
  | { readonly kind: 'too-large'; readonly bytes: number }
  | { readonly kind: 'aborted'; readonly bytes: number };

/** Reads the start of `stream` (a request body) as described in {@link PrefetchOptions}. */
export function prefetchBody(stream: Readable, opts: PrefetchOptions): Promise<Prefetched> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onGone);
      stream.off('aborted', onGone);
      stream.off('close', onClose);
    };
    const finish = (r: Prefetched): void => {
      if (settled) return;
      cleanup();
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes > opts.maxBodyBytes) {
        stream.pause();
        finish({ kind: 'too-large', bytes });
      } else if (bytes >= opts.bufferBytes) {
        stream.pause();
        finish({ kind: 'ready', body: replay(chunks, stream), bytes, complete: false });
      }
    };
    const onEnd = (): void => finish({ kind: 'ready', body: Readable.from(chunks, { objectMode: false }), bytes, complete: true });
    const onGone = (): void => finish({ kind: 'aborted', bytes });
    const onClose = (): void => {
      if (!stream.readableEnded) onGone();
    };
    const timer = setTimeout(() => {
      stream.pause();
      finish({ kind: 'timeout', bytes });
    }, opts.timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onGone);
    stream.on('aborted', onGone);
    stream.on('close', onClose);
    // A late socket error after we stopped listening must not become an uncaught exception.
    stream.on('error', () => {});
  });
}

/** The chunks already read, then whatever `rest` still delivers (its errors included). */
function replay(chunks: readonly Buffer[], rest: Readable): Readable {
  return Readable.from(
    (async function* () {
      yield* chunks;
      for await (const chunk of rest) yield chunk as Buffer;
    })(),
    { objectMode: false },
  );
}
