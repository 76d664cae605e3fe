/**
 * Deploy, roll back and remove apps on a running gateway, backed by the app store: the admin API's
 * engine. A deploy is: unpack (hostile-input checks) → check the manifest refers only inside the
 * bundle → store as a new version → load it fully (compile every component) → make it current in the
 * store → swap it in. Until the swap nothing that serves traffic changes, and a failure at any step
 * leaves the store's current versions and the running apps as they were.
 *
 * Replicas sharing a store learn of changes through `onChange` (e.g. Redis pub/sub) and `sync(app)`
 * brings this gateway in line with what the store says.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { LoadedApp } from './loaded-app.js';
import type { TenantClaims, TenantRegistry } from './tenant-registry.js';
import { AppStore } from './app-store.js';
import type { AppRecord, AppVersion } from './app-store.js';
import { checkBundleManifest } from './bundle.js';
import { AppNotFoundError, TenantConflictError, VariablesError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

/** What the service needs from the gateway (Gateway implements it). */
export interface TenantHost {
  readonly tenants: TenantRegistry;
  prepareApp(
    manifestPath: string,
    opts: { readonly name: string; readonly hosts?: readonly string[]; readonly variableValues?: Readonly<Record<string, string>> },
  ): Promise<LoadedApp>;
  activateApp(app: LoadedApp, claims?: TenantClaims): void;
  removeApp(name: string): boolean;
}

/** An app as the admin API shows it. */
export interface AppStatus {
  readonly name: string;
  /** `serving`: this gateway serves the store's current version; `stale`: an older one; `failed`: it could not load here. */
  readonly state: 'serving' | 'stale' | 'failed';
  readonly version: number;
  readonly digest: string;
  readonly createdAt: string;
  readonly hosts: readonly string[];
  readonly manifestName: string;
  /** Names of the variables set at deploy time (never their values). */
  readonly variables: readonly string[];
  /** Versions kept, oldest first; the last is current. */
  readonly history: readonly number[];
  readonly routes: ReadonlyArray<{ readonly route: string; readonly component: string | null }>;
  readonly error?: string;
}

/** What happened to an app, for other replicas. */
export interface AppChange {
  readonly app: string;
  readonly action: 'deploy' | 'rollback' | 'remove';
  readonly version?: number;
}

/** Options of the service. */
export interface AppServiceOptions {
  readonly store: AppStore;
  readonly host: TenantHost;
  readonly logger: Logger;
  /** Called after every change this gateway made (publish it to the other replicas). */
  readonly onChange?: (change: AppChange) => void | Promise<void>;
}

/** Deploy options. */
export interface DeployRequest {
  readonly hosts?: readonly string[];
  /** Values for the app's declared variables, stored with this version (values are never logged). */
  readonly variables?: Readonly<Record<string, string>>;
}

/**
 * Errors from loading an app mention the store's paths: the client sees paths in its bundle
 * (`app.wasm`), and anything else in the store as `<store>/...`, never the gateway's directories.
 */
function relativeToBundle(err: unknown, dir: string, storeRoot: string): unknown {
  if (err instanceof Error) {
    err.message = err.message.split(`${dir}${path.sep}`).join('').split(dir).join('.').split(storeRoot).join('<store>');
  }
  return err;
}

/** The engine behind the admin API. */
export class AppService {
  readonly #store: AppStore;
  readonly #host: TenantHost;
  readonly #log: Logger;
  readonly #onChange: AppServiceOptions['onChange'];
  /** Version of each app this gateway serves. */
  readonly #serving = new Map<string, number>();
  readonly #failed = new Map<string, string>();
  /** The store version that last failed to load here, per app (sync does not retry it). */
  readonly #failedVersion = new Map<string, number>();
  /** Per-app queue: one change at a time per app, in order. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(opts: AppServiceOptions) {
    this.#store = opts.store;
    this.#host = opts.host;
    this.#log = opts.logger;
    this.#onChange = opts.onChange;
  }

  /** The store behind the service. */
  get store(): AppStore {
    return this.#store;
  }

  #exclusive<T>(app: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(app) ?? Promise.resolve();
    const next = prev.then(work, work);
    const tail = next.catch(() => {});
    this.#locks.set(app, tail);
    void tail.then(() => {
      if (this.#locks.get(app) === tail) this.#locks.delete(app);
    });
    return next;
  }

  /** Loads every app in the store (start-up). An app that cannot load is logged and left out; the rest serve. */
  async loadAll(): Promise<void> {
    await this.#store.init();
    for (const record of await this.#store.list()) {
      try {
        await this.#exclusive(record.app, () => this.#bringIn(record.current));
      } catch (err) {
        this.#log.error({ app: record.app, version: record.current.version, err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'stored app could not be loaded; it is not served');
      }
    }
  }

  async #bringIn(v: AppVersion): Promise<LoadedApp> {
    const dir = this.#store.versionDir(v.app, v.version);
    try {
      const variableValues = await this.#store.variableValues(v.app, v.version);
      const loaded = await this.#host.prepareApp(dir, { name: v.app, hosts: v.hosts, variableValues });
      this.#host.activateApp(loaded, { hosts: v.hosts });
      this.#serving.set(v.app, v.version);
      this.#failed.delete(v.app);
      this.#failedVersion.delete(v.app);
      return loaded;
    } catch (err) {
      this.#failed.set(v.app, (relativeToBundle(err, dir, this.#store.root) as Error).message);
      this.#failedVersion.set(v.app, v.version);
      throw err;
    }
  }

  /** Deploys a tar.gz bundle as the next version of `app` and swaps it in. */
  deploy(app: string, body: Readable, req: DeployRequest = {}): Promise<AppStatus> {
    // Name and hosts are checked before the upload is even read.
    const hosts = this.#host.tenants.checkClaims(app, { hosts: req.hosts ?? [] });
    return this.#exclusive(app, async () => {
      // Early, to spare the upload; the check that counts is activate's, under the store's claims lock.
      await this.#store.assertHostsFree(app, hosts);
      const staged = await this.#store.stage(body);
      let version: AppVersion | undefined;
      try {
        const manifest = await checkBundleManifest(staged.dir).catch((err: unknown) => {
          throw relativeToBundle(err, staged.dir, this.#store.root);
        });
        // Names only in the message: a value may be a secret.
        const undeclared = Object.keys(req.variables ?? {}).filter((n) => !Object.hasOwn(manifest.variables, n));
        if (undeclared.length > 0) {
          const declared = Object.keys(manifest.variables);
          throw new VariablesError(
            `--variable sets ${undeclared.map((n) => `"${n}"`).join(', ')}, not declared in the app's [variables]. ${declared.length === 0 ? 'The app declares no variables.' : `Declared variables: ${declared.join(', ')}.`}`,
          );
        }
        version = await this.#store.commit(app, staged, { hosts, manifestName: manifest.name, ...(req.variables ? { variables: req.variables } : {}) });
      } catch (err) {
        await this.#store.discard(staged.dir);
        throw err;
      }
      const dir = this.#store.versionDir(app, version.version);
      let loaded: LoadedApp;
      try {
        loaded = await this.#host.prepareApp(dir, { name: app, hosts, variableValues: req.variables ?? {} });
        // Claims again: another app may have taken a host while this one compiled. activate checks
        // the store's apps and makes this version current under one lock, so of two apps (on any
        // replicas) claiming one host at the same instant exactly one gets it.
        this.#host.tenants.checkClaims(app, { hosts });
        await this.#store.activate(app, version.version);
      } catch (err) {
        await this.#store.drop(app, version.version);
        throw relativeToBundle(err, dir, this.#store.root);
      }
      this.#host.activateApp(loaded, { hosts });
      this.#serving.set(app, version.version);
      this.#failed.delete(app);
      this.#failedVersion.delete(app);
      this.#log.info({ app, version: version.version, digest: version.digest.slice(0, 12), hosts, variables: version.variables ?? [] }, 'app deployed');
      await this.#notify({ app, action: 'deploy', version: version.version });
      return this.#status((await this.#store.get(app))!);
    });
  }

  /** Makes the previous version current again and swaps it in. */
  rollback(app: string): Promise<AppStatus> {
    return this.#exclusive(app, async () => {
      const before = await this.#store.get(app);
      if (!before) throw new AppNotFoundError(`no app named "${app}" is deployed`);
      if (before.history.length < 2) throw new AppNotFoundError(`app "${app}" has no earlier version to roll back to`);
      const target = before.history[before.history.length - 2]!;
      const meta = await this.#store.meta(app, target);
      // Load the earlier version first: if it cannot load (or its hosts are taken now), nothing changes.
      const dir = this.#store.versionDir(app, target);
      let loaded: LoadedApp;
      try {
        loaded = await this.#host.prepareApp(dir, { name: app, hosts: meta.hosts, variableValues: await this.#store.variableValues(app, target) });
        this.#host.tenants.checkClaims(app, { hosts: meta.hosts });
      } catch (err) {
        throw relativeToBundle(err, dir, this.#store.root);
      }
      const record = await this.#store.rollback(app);
      if (record.current.version !== target) {
        // Another replica changed the history meanwhile: serve what the store now says.
        await this.#bringIn(record.current);
        await this.#notify({ app, action: 'rollback', version: record.current.version });
        return this.#status(record);
      }
      this.#host.activateApp(loaded, { hosts: record.current.hosts });
      this.#serving.set(app, target);
      this.#failed.delete(app);
      this.#failedVersion.delete(app);
      this.#log.info({ app, version: target, from: before.current.version }, 'app rolled back');
      await this.#notify({ app, action: 'rollback', version: target });
      return this.#status(record);
    });
  }

  /** Takes an app out of service and deletes it from the store. */
  remove(app: string): Promise<void> {
    return this.#exclusive(app, async () => {
      const removed = await this.#store.remove(app);
      const wasServed = this.#host.removeApp(app);
      this.#serving.delete(app);
      this.#failed.delete(app);
      this.#failedVersion.delete(app);
      if (!removed && !wasServed) throw new AppNotFoundError(`no app named "${app}" is deployed`);
      this.#log.info({ app }, 'app deleted');
      await this.#notify({ app, action: 'remove' });
    });
  }

  /** Brings this gateway in line with the store for one app (another replica changed it). */
  sync(app: string): Promise<void> {
    return this.#exclusive(app, async () => {
      const record = await this.#store.get(app);
      if (!record) {
        if (this.#host.removeApp(app)) this.#log.info({ app }, 'app deleted elsewhere; removed here');
        this.#serving.delete(app);
        this.#failed.delete(app);
        this.#failedVersion.delete(app);
        return;
      }
      const version = record.current.version;
      if (this.#serving.get(app) === version && !this.#failed.has(app)) return;
      // A version that failed to load here fails again; it is retried only when the store moves on.
      if (this.#failedVersion.get(app) === version) return;
      try {
        await this.#bringIn(record.current);
      } catch (err) {
        this.#log.error({ app, version, err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'app changed elsewhere but its current version could not be loaded here; still serving the previous one');
        throw err;
      }
      this.#log.info({ app, version }, 'app changed elsewhere; now serving its current version');
    });
  }

  /**
   * sync() for every app in the store and every app this gateway serves: the periodic safety net for
   * missed change messages. Resolves once all are done; failures are logged, not thrown.
   */
  async syncAll(): Promise<void> {
    const names = new Set([...(await this.#store.list()).map((r) => r.app), ...this.#serving.keys()]);
    await Promise.all([...names].map((app) => this.sync(app).catch(() => {})));
  }

  /** Every app in the store with its state on this gateway. */
  async list(): Promise<AppStatus[]> {
    return (await this.#store.list()).map((r) => this.#status(r));
  }

  /** One app; AppNotFoundError if it is not deployed. */
  async show(app: string): Promise<AppStatus> {
    const record = await this.#store.get(app);
    if (!record) throw new AppNotFoundError(`no app named "${app}" is deployed`);
    return this.#status(record);
  }

  #status(record: AppRecord): AppStatus {
    const v = record.current;
    const loaded = this.#host.tenants.get(record.app);
    const serving = this.#serving.get(record.app);
    const error = this.#failed.get(record.app);
    return {
      name: record.app,
      state: error !== undefined ? 'failed' : serving === v.version ? 'serving' : 'stale',
      version: v.version,
      digest: v.digest,
      createdAt: v.createdAt,
      hosts: v.hosts,
      manifestName: v.manifestName,
      variables: v.variables ?? [],
      history: record.history,
      routes: loaded
        ? loaded.router.routes().map((e) => ({ route: e.raw, component: e.target.kind === 'component' ? e.target.component : null }))
        : [],
      ...(error !== undefined ? { error } : {}),
    };
  }

  async #notify(change: AppChange): Promise<void> {
    try {
      await this.#onChange?.(change);
    } catch (err) {
      this.#log.warn({ ...change, err: (err as Error).message }, 'could not tell the other replicas about a change; they pick it up on their next sync');
    }
  }
}
