/**
 * Hand-made tar.gz archives for hostile-bundle tests: any path, type or declared size, written with
 * node-tar's Header (which, unlike tar creation, refuses nothing).
 */
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

/** One raw tar entry. */
export interface RawEntry {
  readonly path: string;
  readonly type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  readonly body?: Buffer | string;
  readonly linkpath?: string;
  /** Size written in the header, when it should lie about the body. */
  readonly declaredSize?: number;
}

/** The uncompressed tar bytes for `entries` (with the two closing zero blocks). */
export function rawTar(entries: readonly RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const header = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? 'File',
      size: e.declaredSize ?? body.length,
      mode: e.type === 'Directory' ? 0o755 : 0o644,
      mtime: new Date(0),
      ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    }).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** rawTar, gzipped. */
export function rawTarGz(entries: readonly RawEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}
