/**
 * App bundles: a tar.gz of spin.toml, its components and its files. `unpackBundle` is the gateway's
 * side and treats every byte as hostile; `packBundle` is `spinet deploy`'s side and packs exactly
 * what the manifest references, plus the app's `.env`.
 *
 * Defences when unpacking (node-tar does the tar format; every decision is made here, before an
 * entry is written): only regular files and directories (no symlinks, hard links, devices or FIFOs);
 * relative paths without `..`, backslashes or NUL; limits on compressed bytes, on unpacked bytes
 * (counted on the decompressed stream as it flows, so a decompression bomb is stopped at the limit,
 * not after), on one entry's size and on the number of entries. Any violation aborts the whole
 * unpack with the first reason; the caller discards the directory.
 */
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { Unpack, create as createTar } from 'tar';
import type { ReadEntry } from 'tar';
import { BundleInvalidError, BundleTooLargeError } from '../errors.js';
import { loadManifest } from '../manifest/load-manifest.js';
import type { ResolvedApp } from '../manifest/types.js';

/** What a bundle may hold. */
export interface BundleLimits {
  /** The tar.gz as uploaded. */
  readonly maxCompressedBytes: number;
  /** Everything after decompression (tar headers included): the decompression-bomb bound. */
  readonly maxUnpackedBytes: number;
  /** Files and directories. */
  readonly maxEntries: number;
}

/** Defaults: generous for real apps (a few components and a static site), small next to a disk. */
export const DEFAULT_BUNDLE_LIMITS: BundleLimits = Object.freeze({
  maxCompressedBytes: 100 * 1024 * 1024,
  maxUnpackedBytes: 512 * 1024 * 1024,
  maxEntries: 10_000,
});

/** What was unpacked. */
export interface UnpackedBundle {
  /** sha256 of the tar.gz as uploaded, hex. */
  readonly digest: string;
  readonly compressedBytes: number;
  readonly unpackedBytes: number;
  readonly entries: number;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/** Why an entry path is refused, or undefined if it is a plain relative path. */
export function entryPathProblem(p: string): string | undefined {
  if (p === '' || p === '.' || p === './') return undefined;
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'is an absolute path';
  if (p.split('/').some((s) => s === '..')) return 'climbs out of the bundle with ".."';
  return undefined;
}

const TYPE_WORDS: Record<string, string> = {
  SymbolicLink: 'a symbolic link',
  Link: 'a hard link',
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
};

/**
 * Unpacks a tar.gz stream into `dest` (an empty directory) under `limits`. Throws BundleInvalidError
 * or BundleTooLargeError with the first reason; `dest` may then hold a partial tree to discard.
 */
export async function unpackBundle(source: Readable, dest: string, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Promise<UnpackedBundle> {
  const hash = createHash('sha256');
  let compressedBytes = 0;
  let unpackedBytes = 0;
  let entries = 0;
  let declaredBytes = 0;
  let failure: Error | undefined;

  const unpack = new Unpack({
    cwd: dest,
    strict: true,
    // Never trust ownership or permission bits from a stranger's archive.
    preserveOwner: false,
    chmod: false,
    filter: (p: string, entry: ReadEntry | unknown) => {
      if (failure) return false;
      const e = entry as ReadEntry;
      const problem = entryPathProblem(p);
      if (problem) return refuse(new BundleInvalidError(`bundle entry "${printable(p)}" ${problem}; bundle paths must be relative and stay inside the bundle`));
      if (!ALLOWED_TYPES.has(e.type)) {
        return refuse(new BundleInvalidError(`bundle entry "${printable(p)}" is ${TYPE_WORDS[e.type] ?? `of type ${e.type}`}; bundles may hold only regular files and directories`));
      }
      if (++entries > limits.maxEntries) return refuse(new BundleTooLargeError(`bundle has more than ${limits.maxEntries} files and directories`));
      declaredBytes += e.size ?? 0;
      if (declaredBytes > limits.maxUnpackedBytes) return refuse(new BundleTooLargeError(`bundle unpacks to more than ${limits.maxUnpackedBytes} bytes`));
      return true;
    },
  });
  const refuse = (err: Error): false => {
    failure ??= err;
    return false;
  };

  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      compressedBytes += chunk.length;
      if (compressedBytes > limits.maxCompressedBytes) {
        cb(new BundleTooLargeError(`bundle is larger than ${limits.maxCompressedBytes} bytes compressed`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const gunzip = createGunzip();
  const bombGuard = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      unpackedBytes += chunk.length;
      // Counted as it decompresses: a bomb stops here, at the limit, not after filling the disk.
      if (unpackedBytes > limits.maxUnpackedBytes) {
        cb(new BundleTooLargeError(`bundle unpacks to more than ${limits.maxUnpackedBytes} bytes`));
        return;
      }
      cb(null, chunk);
    },
  });

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      source.unpipe(counted);
      source.resume();
      for (const s of [counted, gunzip, bombGuard]) s.destroy();
      reject(err);
    };
    source.on('error', (err) => fail(new BundleInvalidError(`bundle upload failed: ${err.message}`, { cause: err })));
    counted.on('error', (err) => fail(err));
    gunzip.on('error', (err) => fail(new BundleInvalidError(`bundle is not a gzip-compressed tar (${err.message}); create it with "tar -czf" or "spinet deploy"`, { cause: err })));
    bombGuard.on('error', (err) => fail(err));
    unpack.on('error', (err: Error) => fail(failure ?? new BundleInvalidError(`bundle is not a valid tar archive (${err.message})`, { cause: err })));
    unpack.on('close', () => {
      if (failure) fail(failure);
      else if (!settled) {
        settled = true;
        resolve();
      }
    });
    source.pipe(counted).pipe(gunzip).pipe(bombGuard);
    bombGuard.on('data', (chunk: Buffer) => {
      if (failure) {
        fail(failure);
        return;
      }
      if (!unpack.write(chunk)) {
        bombGuard.pause();
        unpack.once('drain', () => bombGuard.resume());
      }
    });
    bombGuard.on('end', () => unpack.end());
  });
  if (failure) throw failure;
  if (entries === 0) throw new BundleInvalidError('bundle is empty; it must hold spin.toml and the files it refers to');
  return { digest: hash.digest('hex'), compressedBytes, unpackedBytes, entries };
}

function printable(p: string): string {
  return p.replace(/[\0-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Loads the manifest of an unpacked bundle and refuses one that refers outside it: a component
 * `source` or a `files` mount resolving elsewhere (another app's bundle, /etc). URL sources other
 * than Spin's file server are refused later by the loader.
 */
export async function checkBundleManifest(root: string): Promise<ResolvedApp> {
  const manifestPath = path.join(root, 'spin.toml');
  const st = await stat(manifestPath).catch(() => undefined);
  if (!st?.isFile()) throw new BundleInvalidError('bundle has no spin.toml at its top level; pack the app directory itself (spinet deploy does)');
  const app = await loadManifest(manifestPath).catch((err: unknown) => {
    // The loader refuses escaping mounts itself; for a bundle that is a hostile-input refusal (400).
    const e = err as { code?: string; message?: string };
    if (e.code === 'SPINET_ERR_MANIFEST_FILES' && /outside/.test(e.message ?? '')) throw new BundleInvalidError(`refers outside the bundle: ${e.message}`, { cause: err });
    throw err;
  });
  const real = await realpath(root);
  const within = (p: string): boolean => inside(root, p) || inside(real, p) || inside(app.root, p);
  for (const c of app.components.values()) {
    if (c.source.kind === 'file' && !within(path.resolve(app.root, c.source.path))) {
      throw new BundleInvalidError(`spin.toml: component.${c.id}.source refers outside the bundle; put the component in the app directory and refer to it by a relative path`);
    }
    for (const f of c.files) {
      if (!within(f.hostPath)) throw new BundleInvalidError(`spin.toml: component.${c.id}.files refers outside the bundle; mount only files inside the app directory`);
    }
  }
  return app;
}

/**
 * The dotenv file beside spin.toml. `spin up` run in the app directory reads `SPIN_VARIABLE_<NAME>`
 * values from `./.env`; a tenant's working directory is its bundle, so `spinet deploy` packs it (with
 * its mode) and the gateway reads it there, after deploy-time values and the runtime config's providers.
 */
export const BUNDLE_DOTENV = '.env';

/**
 * The files `spinet deploy` packs: spin.toml, each component source, every mounted file and the
 * app's `.env` if it has one, relative to the app root.
 */
export function bundleFiles(app: ResolvedApp): string[] {
  const root = app.root;
  const out = new Set<string>([path.relative(root, app.manifestPath)]);
  if (statSync(path.join(root, BUNDLE_DOTENV), { throwIfNoEntry: false })?.isFile()) out.add(BUNDLE_DOTENV);
  const add = (p: string, what: string): void => {
    if (!inside(root, p)) throw new BundleInvalidError(`${what} (${p}) is outside the app directory ${root}; a bundle can only hold files inside it`);
    out.add(path.relative(root, p).split(path.sep).join('/'));
  };
  for (const c of app.components.values()) {
    if (c.source.kind === 'file') add(path.resolve(root, c.source.path), `component.${c.id}.source`);
    for (const f of c.files) add(f.hostPath, `component.${c.id}.files`);
  }
  return [...out].sort();
}

/** Packs an app's bundle (bundleFiles) as a gzip-compressed tar stream. */
export function packBundle(app: ResolvedApp): Readable {
  // portable: no owner names or ctimes; follow: a symlinked file goes in as the file it points to.
  return createTar({ gzip: true, cwd: app.root, portable: true, follow: true, noDirRecurse: true }, bundleFiles(app)) as unknown as Readable;
}
