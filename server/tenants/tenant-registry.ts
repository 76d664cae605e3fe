/**
 * The registry of loaded apps (tenants) and `identify(request)`: the one place that decides which app
 * a request belongs to.
 *
 * Two modes. Single-app (`spinet up`, no routing options): the one app serves every host, as Spin
 * does. Multi-tenant (`spinet serve`, routing options given): a request belongs to the app that
 * claims its host, either `<app>.<base domain>` or one of the app's custom hosts; failing that, and
 * only when path prefixes are enabled, to the app named by its first path segment (`/<app>/...`),
 * whose routes then see the prefix as spin-base-path. A host claim always wins over a prefix, so a
 * request on app A's host can never reach app B by its path.
 *
 * Swaps are atomic per app: a request sees the old or the new version, never a mix. Requests hold a
 * lease on the version they were identified with (`enter`), so an old version finishes its in-flight
 * work and `retired(app)` resolves once it has none left, when its resources can be released.
 */
import type { FastifyRequest } from 'fastify';
import type { LoadedApp } from './loaded-app.js';
import { TenantConflictError } from '../errors.js';

/** How multi-tenant requests find their app. */
export interface TenantRouting {
  /** `<app>.<baseDomain>` routes to app `<app>`; undefined = no host-name routing by app name. */
  readonly baseDomain?: string | undefined;
  /** Whether `/<app>/...` routes to app `<app>` on hosts no app claims. */
  readonly pathPrefix: boolean;
}

/** Where an app is reachable besides the base domain. */
export interface TenantClaims {
  /** Custom host names (no port), e.g. `shop.example.com`. */
  readonly hosts?: readonly string[];
}

/** The app a request is for, and how the request reached it. */
export interface TenantMatch {
  readonly app: LoadedApp;
  /** spin-base-path: `/` when identified by host, `/<app>` when by path prefix. */
  readonly basePath: string;
  /** The request path with the prefix removed: what the app's routes match. */
  readonly path: string;
}

/** App names double as DNS labels and path segments: lower-case letters, digits and inner dashes. */
export const TENANT_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-cases a Host header value and drops its port and any trailing dot. */
export function hostName(header: string | undefined): string {
  if (header === undefined) return '';
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Checks a custom host name; returns it normalised or throws TenantConflictError with the fix. */
export function normaliseHost(raw: string): string {
  const h = raw.trim().toLowerCase().replace(/\.$/, '');
  if (!HOST_NAME.test(h)) {
    throw new TenantConflictError(`"${raw}" is not a host name; give a DNS name without scheme, port or path, e.g. shop.example.com`);
  }
  return h;
}

interface Entry {
  readonly app: LoadedApp;
  readonly hosts: readonly string[];
}

/** Loaded apps, swapped atomically, with in-flight accounting per version. */
export class TenantRegistry {
  readonly #routing: TenantRouting | undefined;
  #apps: ReadonlyMap<string, Entry> = new Map();
  #hosts: ReadonlyMap<string, LoadedApp> = new Map();
  #default: LoadedApp | undefined;
  readonly #inFlight = new Map<LoadedApp, number>();
  readonly #drainWaiters = new Map<LoadedApp, Array<() => void>>();

  /** `routing` switches on multi-tenant identification; without it the only app serves every host. */
  constructor(routing?: TenantRouting) {
    this.#routing = routing === undefined ? undefined : { ...routing, baseDomain: routing.baseDomain === undefined ? undefined : normaliseHost(routing.baseDomain) };
  }

  /** Whether requests are identified by host and prefix (`spinet serve`) rather than all going to one app. */
  get multiTenant(): boolean {
    return this.#routing !== undefined;
  }

  /** Replace every app at once; with one app and no routing options, it serves all hosts. Returns the apps replaced. */
  replaceAll(apps: readonly LoadedApp[]): LoadedApp[] {
    const before = this.list();
    this.#apps = new Map(apps.map((a) => [a.name, { app: a, hosts: [] }]));
    this.#rebuildHosts();
    this.#default = this.#routing === undefined && apps.length === 1 ? apps[0] : undefined;
    return before.filter((a) => !apps.includes(a));
  }

  /**
   * Throws TenantConflictError if `name` may not claim these hosts: one held by another app, or a
   * host under the base domain that names another app (`<other>.<base domain>`).
   */
  checkClaims(name: string, claims: TenantClaims = {}): string[] {
    if (!TENANT_NAME.test(name)) {
      throw new TenantConflictError(`app name "${name}" is not allowed; use 1-63 lower-case letters, digits and inner dashes (it becomes a host label and a path segment)`);
    }
    const hosts = [...new Set((claims.hosts ?? []).map(normaliseHost))];
    const base = this.#routing?.baseDomain;
    for (const host of hosts) {
      if (base !== undefined && host === base) {
        throw new TenantConflictError(`host "${host}" is the gateway's base domain; an app cannot claim it (apps get <app>.${base})`);
      }
      if (base !== undefined && host.endsWith(`.${base}`)) {
        const label = host.slice(0, -(base.length + 1));
        if (label !== name) {
          throw new TenantConflictError(`host "${host}" is reserved for the app named "${label}" (apps get <app>.${base}); choose a host outside ${base}`);
        }
      }
      const holder = this.#hosts.get(host);
      if (holder && holder.name !== name) {
        throw new TenantConflictError(`host "${host}" is already claimed by app "${holder.name}"; remove it from that app first or choose another host`);
      }
    }
    return hosts;
  }

  /**
   * Adds or replaces one app atomically after checking its claims (TenantConflictError on a clash;
   * nothing changes then). Returns the version it replaced, if any: in-flight requests finish on it.
   */
  put(app: LoadedApp, claims: TenantClaims = {}): LoadedApp | undefined {
    if (this.#routing === undefined) {
      const old = this.#default ?? this.list()[0];
      this.replaceAll([app]);
      return old === app ? undefined : old;
    }
    const hosts = this.checkClaims(app.name, claims);
    const previous = this.#apps.get(app.name)?.app;
    const next = new Map(this.#apps);
    next.set(app.name, { app, hosts });
    this.#apps = next;
    this.#rebuildHosts();
    return previous === app ? undefined : previous;
  }

  /** Removes an app; returns the removed version (its in-flight requests still finish). */
  remove(name: string): LoadedApp | undefined {
    const entry = this.#apps.get(name);
    if (!entry) return undefined;
    const next = new Map(this.#apps);
    next.delete(name);
    this.#apps = next;
    this.#rebuildHosts();
    if (this.#default === entry.app) this.#default = undefined;
    return entry.app;
  }

  #rebuildHosts(): void {
    const hosts = new Map<string, LoadedApp>();
    for (const { app, hosts: claimed } of this.#apps.values()) for (const h of claimed) hosts.set(h, app);
    this.#hosts = hosts;
  }

  /** The app a request is for, or undefined (→ 404). */
  identify(request: FastifyRequest, path: string): TenantMatch | undefined {
    return this.resolve(request.headers.host, path);
  }

  /** `identify` on plain values: the Host header as received and the raw request path. */
  resolve(hostHeader: string | undefined, path: string): TenantMatch | undefined {
    if (this.#routing === undefined) return this.#default ? { app: this.#default, basePath: '/', path } : undefined;
    const host = hostName(hostHeader);
    const claimed = this.#hosts.get(host);
    if (claimed) return { app: claimed, basePath: '/', path };
    const base = this.#routing.baseDomain;
    if (base !== undefined && host.endsWith(`.${base}`)) {
      const app = this.#apps.get(host.slice(0, -(base.length + 1)))?.app;
      // A host under the base domain names its app; an unknown one is a 404, never a prefix lookup.
      return app ? { app, basePath: '/', path } : undefined;
    }
    if (!this.#routing.pathPrefix || path.charCodeAt(0) !== 47 /* / */) return undefined;
    const slash = path.indexOf('/', 1);
    const segment = slash === -1 ? path.slice(1) : path.slice(1, slash);
    const app = this.#apps.get(segment)?.app;
    if (!app) return undefined;
    return { app, basePath: `/${segment}`, path: slash === -1 ? '/' : path.slice(slash) };
  }

  /** The current version of an app. */
  get(name: string): LoadedApp | undefined {
    return this.#apps.get(name)?.app;
  }

  /** The custom hosts an app claims. */
  hostsOf(name: string): readonly string[] {
    return this.#apps.get(name)?.hosts ?? [];
  }

  /** All loaded apps (current versions). */
  list(): LoadedApp[] {
    return [...this.#apps.values()].map((e) => e.app);
  }

  /** Marks one request (or message) as running on `app`; call the returned function once it is done. */
  enter(app: LoadedApp): () => void {
    this.#inFlight.set(app, (this.#inFlight.get(app) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.#inFlight.get(app) ?? 1) - 1;
      if (n > 0) {
        this.#inFlight.set(app, n);
        return;
      }
      this.#inFlight.delete(app);
      for (const w of this.#drainWaiters.get(app)?.splice(0) ?? []) w();
      this.#drainWaiters.delete(app);
    };
  }

  /** Requests running on `app` now. */
  inFlight(app: LoadedApp): number {
    return this.#inFlight.get(app) ?? 0;
  }

  /** Resolves once no request is running on `app` (at once if none is). */
  drained(app: LoadedApp): Promise<void> {
    if (!this.#inFlight.has(app)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#drainWaiters.get(app) ?? [];
      list.push(resolve);
      this.#drainWaiters.set(app, list);
    });
  }
}
