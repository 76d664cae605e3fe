/**
 * The precompile cache: compiled components by sha256 digest in an LRU bounded by bytes.
 * Loading is single-flight (lru-cache's `fetch` shares one in-flight load among concurrent callers),
 * and identical bytes used by two apps share one entry because the key is the content digest.
 */
import { LRUCache } from 'lru-cache';
import { prepareComponent } from './component-loader.js';
import type { PreparedComponent } from './component-loader.js';

/** Cache settings. */
export interface ComponentCacheOptions {
  /** Upper bound on the bytes of all entries (core modules + glue). */
  readonly maxBytes: number;
  /** On-disk transpile cache directory, or undefined for none. */
  readonly diskCacheDir?: string | undefined;
  /** Cap on each instance's linear memory, in bytes (compiled into the module's memory import). */
  readonly maxInstanceMemory?: number | undefined;
  /** Called after a component was prepared (transpiled or read from disk, and compiled). */
  readonly onPrepared?: (c: PreparedComponent) => void;
  /** Called when an entry leaves the cache, so workers can forget it too. */
  readonly onEvict?: (digest: string) => void;
}

interface LoadContext {
  readonly bytes: Uint8Array;
  readonly label: string;
}

/** Counters the metrics module reads. */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
}

/** Compiled components by digest: an LRU with single-flight loading. */
export class ComponentCache {
  readonly #lru: LRUCache<string, PreparedComponent, LoadContext>;
  readonly stats: CacheStats = { hits: 0, misses: 0, evictions: 0 };

  constructor(opts: ComponentCacheOptions) {
    this.#lru = new LRUCache<string, PreparedComponent, LoadContext>({
      maxSize: opts.maxBytes,
      sizeCalculation: (c) => Math.max(1, c.byteSize),
      // An entry larger than the whole cache is still served (the request needs it), just not kept.
      maxEntrySize: opts.maxBytes,
      fetchMethod: async (digest, _stale, { context }) => {
        this.stats.misses++;
        const c = await prepareComponent(context.bytes, digest, { cacheDir: opts.diskCacheDir, label: context.label, maxInstanceMemory: opts.maxInstanceMemory });
        opts.onPrepared?.(c);
        return c;
      },
      dispose: (_value, digest, reason) => {
        if (reason === 'evict' || reason === 'delete') {
          if (reason === 'evict') this.stats.evictions++;
          opts.onEvict?.(digest);
        }
      },
      // Errors must not be cached: a fixed file should load on the next attempt.
      noDeleteOnFetchRejection: false,
    });
  }

  /** The compiled component for these bytes; compiles once even under concurrent callers. */
  async get(digest: string, bytes: Uint8Array, label: string): Promise<PreparedComponent> {
    const hit = this.#lru.get(digest);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    const c = await this.#lru.fetch(digest, { context: { bytes, label } });
    if (!c) throw new Error(`component ${digest} could not be loaded`);
    return c;
  }

  /** The entry for a digest if it is cached (no load, no LRU bump). */
  peek(digest: string): PreparedComponent | undefined {
    return this.#lru.peek(digest);
  }

  /**
   * Drops an entry no loaded app uses any more (its workers forget it too, through onEvict). An entry
   * still compiling is left alone: deleting it would fail the load waiting for it.
   */
  delete(digest: string): void {
    if (this.#lru.peek(digest) !== undefined) this.#lru.delete(digest);
  }

  /** Entries and bytes held now. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize };
  }
}
