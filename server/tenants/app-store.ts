/**
 * The app store: every deployed version of every app, on disk, immutable once written.
 *
 * ```
 * <root>/apps/<app>/v<N>/        the unpacked bundle of version N (spin.toml at its top; its .env, if
 *                                any, mode 0600: the app's working directory, where variables are read)
 * <root>/apps/<app>/v<N>.json    its metadata: digest, sizes, hosts, variable names, when
 * <root>/apps/<app>/v<N>.variables.json  variable values set at deploy (mode 0600; outside the bundle,
 *                                so no file server mount can reach them)
 * <root>/apps/<app>/current.json the versions in service order, last = current: {"history":[1,2,4]}
 *                                (and "retired": versions rolled back, to delete at the next deploy)
 * <root>/apps/<app>/current.lock held (O_EXCL) by whoever is rewriting current.json
 * <root>/claims.lock             held (O_EXCL) by whoever is making current a version that claims hosts
 * <root>/tmp/                    uploads being unpacked; anything older than an hour at start-up is debris
 * <root>/store.json              {"id": ...}: names the store for the replicas sharing it (fleet channel)
 * ```
 * A version directory appears by one rename of a fully unpacked upload, and the pointer changes by
 * writing a temporary file and renaming it over `current.json`, so a reader (another replica, or this
 * one after a crash) sees the old state or the new, never a half-written one. Only the last `keep`
 * versions of the history are kept for rollback; older directories are deleted.
 *
 * Several replicas may share one store. A version number is claimed by an exclusive create of its
 * metadata file, so two writers never get the same number; `current.json` is rewritten only under an
 * exclusive lock file, so concurrent deploys, rollbacks and deletes never lose one another's changes.
 * A version that claims custom hosts becomes current only under the store-wide claims lock, after
 * checking every other app's current version: two replicas making two apps current with one host at
 * the same instant cannot both succeed. (Locks: store-lock.ts; claims lock first, then an app's.)
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppNotFoundError, AppStoreError, TenantConflictError } from '../errors.js';
import { unpackBundle, BUNDLE_DOTENV, DEFAULT_BUNDLE_LIMITS } from './bundle.js';
import type { BundleLimits, UnpackedBundle } from './bundle.js';
import { TENANT_NAME } from './tenant-registry.js';
import { withFileLock } from './store-lock.js';
import type { HeldLock } from './store-lock.js';

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
  /** Names of the variables set at deploy time (their values are kept apart, never shown). */
  readonly variables?: readonly string[];
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
  /** Uploads left in `tmp/` longer than this are removed at start-up (younger ones may be another replica's). */
  readonly debrisAgeMs?: number;
  /** How long to wait for another writer's pointer or claims lock before failing. */
  readonly lockWaitMs?: number;
  /**
   * A lock not refreshed for this long belongs to a writer that died holding it (on another machine;
   * one that died on this host is seen at once). Holders refresh theirs every quarter of it.
   */
  readonly lockStaleMs?: number;
}

interface Pointer {
  readonly history: number[];
  /** Versions rolled back out of the history, deleted by the next activation. */
  readonly retired?: number[];
}

/** The on-disk app store. */
export class AppStore {
  readonly root: string;
  readonly #keep: number;
  readonly #limits: BundleLimits;
  readonly #debrisAgeMs: number;
  readonly #lockWaitMs: number;
  readonly #lockStaleMs: number;

  constructor(root: string, opts: AppStoreOptions = {}) {
    this.root = path.resolve(root);
    this.#keep = Math.max(2, opts.keep ?? 5);
    this.#limits = opts.limits ?? DEFAULT_BUNDLE_LIMITS;
    this.#debrisAgeMs = opts.debrisAgeMs ?? 60 * 60 * 1000;
    this.#lockStaleMs = opts.lockStaleMs ?? 10_000;
    // Long enough to outlast a dead writer's lock going stale.
    this.#lockWaitMs = opts.lockWaitMs ?? this.#lockStaleMs + 5_000;
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

  /**
   * Creates the store's directories and clears debris of interrupted uploads. Only old debris: a
   * younger upload may be another replica's, in progress.
   */
  async init(): Promise<void> {
    try {
      await mkdir(path.join(this.root, 'apps'), { recursive: true });
      await mkdir(path.join(this.root, 'tmp'), { recursive: true });
      const now = Date.now();
      for (const entry of await readdir(path.join(this.root, 'tmp'))) {
        const p = path.join(this.root, 'tmp', entry);
        const age = await stat(p).then((s) => now - s.mtimeMs, () => undefined);
        if (age !== undefined && age >= this.#debrisAgeMs) await rm(p, { recursive: true, force: true });
      }
    } catch (err) {
      throw new AppStoreError(`cannot prepare the app store at ${this.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The store's id, created by whichever replica gets there first; replicas sharing the store share it. */
  async id(): Promise<string> {
    const file = path.join(this.root, 'store.json');
    try {
      await mkdir(this.root, { recursive: true });
      await writeFile(file, `${JSON.stringify({ id: randomBytes(8).toString('hex') })}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new AppStoreError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
    }
    // Another replica may be between creating and writing it: an empty file is read again.
    for (let attempt = 0; ; attempt++) {
      const text = await readFile(file, 'utf8').catch((err: unknown) => {
        throw new AppStoreError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
      });
      const id = text.trim() === '' ? undefined : (JSON.parse(text) as { id?: unknown }).id;
      if (typeof id === 'string' && /^[0-9a-zA-Z_-]{1,64}$/.test(id)) return id;
      if (text.trim() !== '' || attempt >= 50) throw new AppStoreError(`${file} is malformed: it should be {"id": "<letters and digits>"}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Runs `work` holding the app's pointer lock (`current.lock`), so a read-modify-write of
   * `current.json` by another replica cannot interleave with this one.
   */
  #locked<T>(app: string, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    return withFileLock(
      path.join(this.#appDir(app), 'current.lock'),
      { what: `the current version of ${app}`, staleMs: this.#lockStaleMs, waitMs: this.#lockWaitMs, missing: () => new AppNotFoundError(`app "${app}" was deleted meanwhile`) },
      work,
    );
  }

  /**
   * Runs `work` holding the store-wide claims lock (`claims.lock`): whoever makes current a version
   * that claims hosts checks and writes under it, so no other app can take one of those hosts between
   * the check and the write, on this replica or another.
   */
  withClaimsLock<T>(work: (lock: HeldLock) => Promise<T>): Promise<T> {
    return withFileLock(
      path.join(this.root, 'claims.lock'),
      { what: 'the host claims of the app store', staleMs: this.#lockStaleMs, waitMs: this.#lockWaitMs },
      work,
    );
  }

  /**
   * TenantConflictError if an app other than `app` claims one of `hosts` in its current version.
   * Authoritative only under the claims lock (activate and rollback check there); before it, an early
   * refusal that spares an upload.
   */
  async assertHostsFree(app: string, hosts: readonly string[]): Promise<void> {
    if (hosts.length === 0) return;
    for (const other of await this.list()) {
      if (other.app === app) continue;
      const taken = hosts.find((h) => other.current.hosts.includes(h));
      if (taken !== undefined) {
        throw new TenantConflictError(`host "${taken}" is already claimed by app "${other.app}"; remove it from that app first or choose another host`);
      }
    }
  }

  /** Unpacks an upload into the temporary area (hostile-input checks in unpackBundle). */
  async stage(body: Readable): Promise<StagedBundle> {
    const dir = path.join(this.root, 'tmp', `upload-${randomBytes(8).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    try {
      const bundle = await unpackBundle(body, dir, this.#limits);
      // The app's .env holds variable values, often secrets: for the gateway's user only, whatever
      // mode it was packed with (like v<N>.variables.json).
      const dotenv = path.join(dir, BUNDLE_DOTENV);
      if ((await lstat(dotenv).catch(() => undefined))?.isFile()) {
        await chmod(dotenv, 0o600).catch((err: Error) => {
          throw new AppStoreError(`cannot restrict the permissions of the uploaded .env (${dotenv}): ${err.message}; check that the gateway's user owns the app store`, { cause: err });
        });
      }
      return { dir, bundle };
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
  async commit(
    app: string,
    staged: StagedBundle,
    meta: { readonly hosts: readonly string[]; readonly manifestName: string; readonly variables?: Readonly<Record<string, string>> },
  ): Promise<AppVersion> {
    const variableNames = Object.keys(meta.variables ?? {}).sort();
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
        ...(variableNames.length > 0 ? { variables: variableNames } : {}),
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
        if (variableNames.length > 0) {
          await writeFile(this.#variablesFile(app, version), `${JSON.stringify(meta.variables)}\n`, { flag: 'wx', mode: 0o600 });
        }
        await rename(staged.dir, this.versionDir(app, version));
      } catch (err) {
        await rm(path.join(appDir, `v${version}.json`), { force: true });
        await rm(this.#variablesFile(app, version), { force: true });
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
    await rm(this.#variablesFile(app, version), { force: true });
    await rm(path.join(this.#appDir(app), `v${version}.json`), { force: true });
  }

  #variablesFile(app: string, version: number): string {
    return path.join(this.#appDir(app), `v${version}.variables.json`);
  }

  /** The variable values a version was deployed with ({} if none). */
  async variableValues(app: string, version: number): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(this.#variablesFile(app, version), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new AppStoreError(`cannot read the variables of version ${version} of ${app}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || !Object.values(parsed).every((v) => typeof v === 'string')) {
      throw new AppStoreError(`the variables of version ${version} of ${app} are malformed`);
    }
    return parsed as Record<string, string>;
  }

  /** Makes `version` current (pushed onto the history), prunes versions beyond `keep`, returns the record. */
  async activate(app: string, version: number): Promise<AppRecord> {
    const { hosts } = await this.meta(app, version);
    if (hosts.length === 0) return this.#activate(app, version, undefined);
    // Check and write under the claims lock: no other app can claim one of these hosts in between.
    return this.withClaimsLock(async (claims) => {
      await this.assertHostsFree(app, hosts);
      return this.#activate(app, version, claims);
    });
  }

  #activate(app: string, version: number, claims: HeldLock | undefined): Promise<AppRecord> {
    return this.#locked(app, async (lock) => {
      const before = await this.#pointer(app);
      const history = (before?.history ?? []).filter((v) => v !== version);
      history.push(version);
      const kept = history.slice(-this.#keep);
      await claims?.assertHeld();
      await this.#writePointer(app, { history: kept }, lock);
      // Only versions that left the history: others on disk may be another replica's deploy in progress.
      const retired = [...(before?.retired ?? []), ...history.slice(0, -this.#keep)].filter((v) => !kept.includes(v));
      await this.#prune(app, kept, retired);
      return (await this.get(app))!;
    });
  }

  /** Makes the previous version current again; AppNotFoundError if there is none. */
  async rollback(app: string): Promise<AppRecord> {
    if (!(await this.#pointer(app))) throw new AppNotFoundError(`no app named "${app}" is deployed`);
    // The earlier version may claim hosts another app has taken since: checked under the claims lock.
    return this.withClaimsLock((claims) =>
      this.#locked(app, async (lock) => {
        const pointer = await this.#pointer(app);
        if (!pointer) throw new AppNotFoundError(`no app named "${app}" is deployed`);
        if (pointer.history.length < 2) throw new AppNotFoundError(`app "${app}" has no earlier version to roll back to`);
        const target = pointer.history[pointer.history.length - 2]!;
        await this.assertHostsFree(app, (await this.meta(app, target)).hosts);
        await claims.assertHeld();
        await this.#writePointer(app, { history: pointer.history.slice(0, -1), retired: [...(pointer.retired ?? []), pointer.history[pointer.history.length - 1]!] }, lock);
        return (await this.get(app))!;
      }),
    );
  }

  /** Deletes an app and all its versions; false if there was none. */
  async remove(app: string): Promise<boolean> {
    const appDir = this.#appDir(app);
    if (!(await this.#pointer(app))) return false;
    // One rename makes it disappear for every reader; the files go after. Under the pointer lock, so
    // a writer waiting for it finds the app gone rather than recreating a pointer to deleted versions.
    const gone = path.join(this.root, 'tmp', `removed-${app}-${randomBytes(4).toString('hex')}`);
    let removed: boolean;
    try {
      removed = await this.#locked(app, async () => {
        try {
          await rename(appDir, gone);
          return true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw new AppStoreError(`cannot remove ${app}: ${(err as Error).message}`, { cause: err });
        }
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'SPINET_ERR_APP_NOT_FOUND') return false;
      throw err;
    }
    await rm(gone, { recursive: true, force: true });
    return removed;
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
    const retired = (parsed as { retired?: unknown }).retired;
    return { history: parsed.history as number[], ...(Array.isArray(retired) && retired.every((v) => Number.isInteger(v)) ? { retired: retired as number[] } : {}) };
  }

  async #writePointer(app: string, pointer: Pointer, lock: HeldLock): Promise<void> {
    const file = path.join(this.#appDir(app), 'current.json');
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(pointer)}\n`);
      await lock.assertHeld();
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new AppStoreError(`cannot update the current version of ${app}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Deletes retired versions, and versions never activated whose metadata is older than the debris
   * age (a deploy that died half-way). A version not in the history may be another replica's deploy
   * in progress, so it is never deleted just for being absent.
   */
  async #prune(app: string, history: readonly number[], retired: readonly number[]): Promise<void> {
    const now = Date.now();
    for (const v of await this.versions(app)) {
      if (history.includes(v)) continue;
      if (!retired.includes(v)) {
        const age = await stat(path.join(this.#appDir(app), `v${v}.json`)).then((st) => now - st.mtimeMs, () => 0);
        if (age < this.#debrisAgeMs) continue;
      }
      await rm(this.versionDir(app, v), { recursive: true, force: true });
      await rm(this.#variablesFile(app, v), { force: true });
      await rm(path.join(this.#appDir(app), `v${v}.json`), { force: true });
    }
  }
}
