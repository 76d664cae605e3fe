/**
 * The app store: every deployed version of every app, on disk, immutable once written.
 *
 * ```
 * <root>/apps/<app>/v<N>/        the unpacked bundle of version N (spin.toml at its top)
 * <root>/apps/<app>/v<N>.json    its metadata: digest, sizes, hosts, when
 * <root>/apps/<app>/current.json the versions in service order, last = current: {"history":[1,2,4]}
 * <root>/tmp/                    uploads being unpacked; anything here at start-up is debris
 * ```
 * A version directory appears by one rename of a fully unpacked upload, and the pointer changes by
 * writing a temporary file and renaming it over `current.json`, so a reader (another replica, or this
 * one after a crash) sees the old state or the new, never a half-written one. Only the last `keep`
 * versions of the history are kept for rollback; older directories are deleted.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppNotFoundError, AppStoreError } from '../errors.js';
import { unpackBundle, DEFAULT_BUNDLE_LIMITS } from './bundle.js';
import type { BundleLimits, UnpackedBundle } from './bundle.js';
import { TENANT_NAME } from './tenant-registry.js';

/** One stored version's metadata. */
export interface AppVersion {
  readonly app: string;
  readonly version: number;
  /** sha256 of the uploaded tar.gz. */
  readonly digest: string;
  readonly createdAt: string;
  /** Custom hosts the app claims in this version. */
  readonly hosts: readonly string[];
  /** `[application] name` from its spin.toml. */
  readonly manifestName: string;
  readonly compressedBytes: number;
  readonly unpackedBytes: number;
  readonly entries: number;
}

/** An app as stored: its current version and what it can roll back to. */
export interface AppRecord {
  readonly app: string;
  readonly current: AppVersion;
  /** Version numbers in service order, oldest first; the last is current. */
  readonly history: readonly number[];
}

/** An upload unpacked into the store's temporary area, not yet a version. */
export interface StagedBundle {
  readonly dir: string;
  readonly bundle: UnpackedBundle;
}

/** Store settings. */
export interface AppStoreOptions {
  /** Versions kept per app (current included), for rollback. */
  readonly keep?: number;
  readonly limits?: BundleLimits;
}

interface Pointer {
  readonly history: number[];
}

/** The on-disk app store. */
export class AppStore {
  readonly root: string;
  readonly #keep: number;
  readonly #limits: BundleLimits;

  constructor(root: string, opts: AppStoreOptions = {}) {
    this.root = path.resolve(root);
    this.#keep = Math.max(2, opts.keep ?? 5);
    this.#limits = opts.limits ?? DEFAULT_BUNDLE_LIMITS;
  }

  /** The bundle limits uploads are held to. */
  get limits(): BundleLimits {
    return this.#limits;
  }

  #appDir(app: string): string {
    if (!TENANT_NAME.test(app)) throw new AppNotFoundError(`"${app}" is not an app name`);
    return path.join(this.root, 'apps', app);
  }

  /** The directory holding a version's bundle. */
  versionDir(app: string, version: number): string {
    return path.join(this.#appDir(app), `v${version}`);
  }

  /** Creates the store's directories and clears debris of interrupted uploads. */
  async init(): Promise<void> {
    try {
      await mkdir(path.join(this.root, 'apps'), { recursive: true });
      await rm(path.join(this.root, 'tmp'), { recursive: true, force: true });
      await mkdir(path.join(this.root, 'tmp'), { recursive: true });
    } catch (err) {
      throw new AppStoreError(`cannot prepare the app store at ${this.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Unpacks an upload into the temporary area (hostile-input checks in unpackBundle). */
  async stage(body: Readable): Promise<StagedBundle> {
    const dir = path.join(this.root, 'tmp', `upload-${randomBytes(8).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    try {
      return { dir, bundle: await unpackBundle(body, dir, this.#limits) };
    } catch (err) {
      await this.discard(dir);
      throw err;
    }
  }

  /** Deletes a staged or uncommitted directory. */
  async discard(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * Turns a staged upload into the app's next version (not yet current): one rename, so the version
   * directory is complete whenever it exists.
   */
  async commit(app: string, staged: StagedBundle, meta: { readonly hosts: readonly string[]; readonly manifestName: string }): Promise<AppVersion> {
    const appDir = this.#appDir(app);
    await mkdir(appDir, { recursive: true });
    for (let attempt = 0; attempt < 20; attempt++) {
      const version = (await this.#highestVersion(app)) + 1;
      const record: AppVersion = {
        app,
        version,
        digest: staged.bundle.digest,
        createdAt: new Date().toISOString(),
        hosts: [...meta.hosts],
        manifestName: meta.manifestName,
        compressedBytes: staged.bundle.compressedBytes,
        unpackedBytes: staged.bundle.unpackedBytes,
        entries: staged.bundle.entries,
      };
      // The metadata first (claiming the number), then the directory; a reader goes by the pointer.
      try {
        await writeFile(path.join(appDir, `v${version}.json`), `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // another replica took it
        throw new AppStoreError(`cannot write version metadata for ${app}: ${(err as Error).message}`, { cause: err });
      }
      try {
        await rename(staged.dir, this.versionDir(app, version));
      } catch (err) {
        await rm(path.join(appDir, `v${version}.json`), { force: true });
        throw new AppStoreError(`cannot store version ${version} of ${app}: ${(err as Error).message}`, { cause: err });
      }
      return record;
    }
    throw new AppStoreError(`could not allocate a version number for ${app}`);
  }

  /** Deletes a committed version that never became current (its app failed to load). */
  async drop(app: string, version: number): Promise<void> {
    const pointer = await this.#pointer(app);
    if (pointer?.history.includes(version)) return;
    await rm(this.versionDir(app, version), { recursive: true, force: true });
    await rm(path.join(this.#appDir(app), `v${version}.json`), { force: true });
  }

  /** Makes `version` current (pushed onto the history), prunes versions beyond `keep`, returns the record. */
  async activate(app: string, version: number): Promise<AppRecord> {
    const history = ((await this.#pointer(app))?.history ?? []).filter((v) => v !== version);
    history.push(version);
    const kept = history.slice(-this.#keep);
    await this.#writePointer(app, { history: kept });
    await this.#prune(app, kept);
    return (await this.get(app))!;
  }

  /** Makes the previous version current again; AppNotFoundError if there is none. */
  async rollback(app: string): Promise<AppRecord> {
    const pointer = await this.#pointer(app);
    if (!pointer) throw new AppNotFoundError(`no app named "${app}" is deployed`);
    if (pointer.history.length < 2) throw new AppNotFoundError(`app "${app}" has no earlier version to roll back to`);
    await this.#writePointer(app, { history: pointer.history.slice(0, -1) });
    return (await this.get(app))!;
  }

  /** Deletes an app and all its versions; false if there was none. */
  async remove(app: string): Promise<boolean> {
    const appDir = this.#appDir(app);
    if (!(await this.#pointer(app))) return false;
    // One rename makes it disappear for every reader; the files go after.
    const gone = path.join(this.root, 'tmp', `removed-${app}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(appDir, gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new AppStoreError(`cannot remove ${app}: ${(err as Error).message}`, { cause: err });
    }
    await rm(gone, { recursive: true, force: true });
    return true;
  }

  /** An app's record, or undefined if it is not deployed. */
  async get(app: string): Promise<AppRecord | undefined> {
    const pointer = await this.#pointer(app);
    if (!pointer || pointer.history.length === 0) return undefined;
    const version = pointer.history[pointer.history.length - 1]!;
    return { app, current: await this.meta(app, version), history: pointer.history };
  }

  /** Every deployed app, by name. */
  async list(): Promise<AppRecord[]> {
    let names: string[];
    try {
      names = await readdir(path.join(this.root, 'apps'));
    } catch (err) {
      throw new AppStoreError(`cannot read the app store at ${this.root}: ${(err as Error).message}`, { cause: err });
    }
    const out: AppRecord[] = [];
    for (const name of names.filter((n) => TENANT_NAME.test(n)).sort()) {
      const rec = await this.get(name);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Version numbers present on disk (for tests and diagnostics). */
  async versions(app: string): Promise<number[]> {
    let entries: string[];
    try {
      entries = await readdir(this.#appDir(app));
    } catch {
      return [];
    }
    return [...new Set(entries.map((e) => /^v(\d+)(?:\.json)?$/.exec(e)?.[1]).filter((v): v is string => v !== undefined).map(Number))].sort((a, b) => a - b);
  }

  async #highestVersion(app: string): Promise<number> {
    return Math.max(0, ...(await this.versions(app)));
  }

  /** One version's metadata. */
  async meta(app: string, version: number): Promise<AppVersion> {
    try {
      return JSON.parse(await readFile(path.join(this.#appDir(app), `v${version}.json`), 'utf8')) as AppVersion;
    } catch (err) {
      throw new AppStoreError(`version ${version} of ${app} has no readable metadata: ${(err as Error).message}`, { cause: err });
    }
  }

  async #pointer(app: string): Promise<Pointer | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.#appDir(app), 'current.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AppStoreError(`cannot read the current version of ${app}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = JSON.parse(text) as { history?: unknown };
    if (!Array.isArray(parsed.history) || !parsed.history.every((v) => Number.isInteger(v))) {
      throw new AppStoreError(`${path.join(this.#appDir(app), 'current.json')} is malformed`);
    }
    return { history: parsed.history as number[] };
  }

  async #writePointer(app: string, pointer: Pointer): Promise<void> {
    const file = path.join(this.#appDir(app), 'current.json');
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(pointer)}\n`);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new AppStoreError(`cannot update the current version of ${app}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Deletes versions that are out of the history and older than its newest (newer ones may be mid-deploy). */
  async #prune(app: string, history: readonly number[]): Promise<void> {
    const newest = Math.max(...history);
    for (const v of await this.versions(app)) {
      if (history.includes(v) || v > newest) continue;
      await rm(this.versionDir(app, v), { recursive: true, force: true });
      await rm(path.join(this.#appDir(app), `v${v}.json`), { force: true });
    }
  }
}
