/**
 * What each component of an app may do, resolved once at load: its variables, its key-value stores
 * (label → backend), and its allowed outbound hosts. `session()` gives the per-run HostSession the
 * executor serves host calls with. Every permission check happens here, on the gateway thread.
 */
import path from 'node:path';
import type { ResolvedApp, ResolvedComponent } from '../manifest/types.js';
import type { Logger } from '../observability/logger.js';
import { AllowedHosts, AllowedHostError, suggestEntry } from './allowed-hosts.js';
import type { RuntimeConfig } from './runtime-config.js';
import type { ResolvedVariables, ComponentVariables } from './variables.js';
import { VariablesError } from './variables.js';
import { EmbeddedKv, RedisKvStore, checkKv } from './key-value.js';
import type { KvLimits, KvStore } from './key-value.js';
import type { RedisClients } from './redis-clients.js';
import { redactUrl } from './redact-url.js';
import { parseRedisAddress, redisOperation } from './outbound-redis.js';
import { OutboundExchange } from './outbound-http.js';
import type { OutboundHead, OutboundHttp } from './outbound-http.js';
import { HostCallError } from './host-session.js';
import type { HostSession } from './host-session.js';
import { CapabilityConfigError } from '../errors.js';

/** Gateway-wide services shared by every app. */
export interface CapabilityServices {
  readonly embeddedKv: EmbeddedKv;
  readonly redis: RedisClients;
  readonly http: OutboundHttp;
  readonly kvLimits: KvLimits;
  /** `http://host:port` the gateway listens on, for requests to the app itself; undefined before listen. */
  readonly selfOrigin: () => string | undefined;
}

/** Per-app capability wiring. */
export interface AppCapabilityOptions {
  readonly app: ResolvedApp;
  readonly runtimeConfig: RuntimeConfig;
  readonly variables: ResolvedVariables;
  readonly services: CapabilityServices;
  readonly logger: Logger;
  /** Multi-tenant mode: keys in stores other apps may share (Redis) are prefixed with `<app>:`. */
  readonly namespaceSharedStores?: boolean;
  /** `--state-dir`; the runtime config's `state_dir` wins, and `<app>/.spin` is the default. */
  readonly stateDir?: string;
}

/** The state directory an app keeps its embedded store in. */
export function stateDirOf(app: ResolvedApp, runtimeConfig: RuntimeConfig, flag?: string): string {
  return runtimeConfig.stateDir ?? (flag === undefined ? path.join(app.root, '.spin') : path.resolve(flag));
}

/** Builds every component's capabilities; throws a CapabilityConfigError naming the component and fix. */
export function buildAppCapabilities(opts: AppCapabilityOptions): Map<string, ComponentCapabilities> {
  const { app, runtimeConfig, services } = opts;
  const stateDir = stateDirOf(app, runtimeConfig, opts.stateDir);
  const stores = new Map<string, KvStore>();
  const storeFor = (label: string, component: ResolvedComponent): KvStore => {
    let store = stores.get(label);
    if (store) return store;
    const configured = runtimeConfig.keyValueStores.get(label);
    if (configured?.type === 'redis') {
      store = new RedisKvStore(services.redis, configured.url, `redis store "${label}" at ${redactUrl(configured.url)}`, opts.namespaceSharedStores ? `${app.name}:` : '');
    } else if (configured?.type === 'spin') {
      store = services.embeddedKv.store(configured.path ?? path.join(stateDir, 'spinet-kv'), app.name, label);
    } else if (label === 'default') {
      store = services.embeddedKv.store(path.join(stateDir, 'spinet-kv'), app.name, label);
    } else {
      throw new CapabilityConfigError(
        `${app.manifestPath}${component.line ? `:${component.line}` : ''}: component.${component.id}.key_value_stores: store "${label}" is not defined. ` +
          `Only "default" exists without configuration; define it in a runtime config file (--runtime-config-file) as [key_value_store.${label}] with type = "spin" or type = "redis", url = "redis://..."`,
      );
    }
    stores.set(label, store);
    return store;
  };

  const ids = [...app.components.keys()];
  const out = new Map<string, ComponentCapabilities>();
  for (const component of app.components.values()) {
    const where = `${app.manifestPath}${component.line ? `:${component.line}` : ''}: component.${component.id}.allowed_outbound_hosts`;
    let allowed: AllowedHosts;
    let variables: ComponentVariables;
    try {
      variables = opts.variables.forComponent(component);
      allowed = AllowedHosts.parse(component.allowedOutboundHosts.map((h) => opts.variables.expand(h)), { componentIds: ids, where });
    } catch (err) {
      if (err instanceof AllowedHostError || err instanceof VariablesError) throw new CapabilityConfigError(err.message, { cause: err });
      throw err;
    }
    const kv = new Map<string, KvStore>();
    for (const label of component.keyValueStores) kv.set(label, storeFor(label, component));
    out.set(component.id, new ComponentCapabilities(app.name, component.id, kv, allowed, variables, services, opts.logger));
  }
  return out;
}

/** One component's capabilities; hands out a session per run. */
export class ComponentCapabilities {
  constructor(
    readonly app: string,
    readonly component: string,
    readonly kv: ReadonlyMap<string, KvStore>,
    readonly allowedHosts: AllowedHosts,
    readonly variables: ComponentVariables,
    readonly services: CapabilityServices,
    readonly logger: Logger,
  ) {}

  session(): HostSession {
    return new RunSession(this);
  }

  /** Logs the manifest entry that would allow a denied target (once per target, to keep logs useful). */
  readonly #hinted = new Set<string>();
  denied(kind: 'http' | 'redis', target: URL | undefined, raw: string): void {
    const entry = target ? suggestEntry(target) : undefined;
    const key = `${kind} ${entry ?? raw}`;
    if (this.#hinted.has(key)) return;
    if (this.#hinted.size < 1000) this.#hinted.add(key);
    const shown = kind === 'redis' ? redactUrl(raw) : raw.split('?')[0];
    this.logger.warn(
      { app: this.app, component: this.component, target: shown },
      entry
        ? `outbound ${kind} denied: add "${entry}" to component.${this.component}.allowed_outbound_hosts in spin.toml to allow it`
        : `outbound ${kind} denied: "${shown}" is not a valid ${kind === 'redis' ? 'redis:// address' : 'URL'}`,
    );
  }
}

/** Host calls for one run of one component. */
class RunSession implements HostSession {
  readonly #caps: ComponentCapabilities;
  #exchanges: Map<number, OutboundExchange> | undefined;
  #closed = false;

  constructor(caps: ComponentCapabilities) {
    this.#caps = caps;
  }

  call(op: string, args: readonly unknown[]): unknown {
    if (this.#closed) throw new HostCallError({ tag: 'other', val: 'instance has ended' });
    const dot = op.indexOf('.');
    const family = op.slice(0, dot);
    const name = op.slice(dot + 1);
    switch (family) {
      case 'kv':
        return this.#kv(name, args);
      case 'var': {
        const r = this.#caps.variables.get(args[0] as string);
        if (!r.ok) throw new HostCallError(r.error);
        return r.value;
      }
      case 'redis':
        return this.#redis(name, args);
      case 'http':
        return this.#http(name, args);
      default:
        throw new HostCallError({ tag: 'other', val: `unknown host call ${op}` });
    }
  }

  #store(label: string): KvStore {
    const store = this.#caps.kv.get(label);
    // Spin answers access-denied whether or not the store exists elsewhere: labels are not discoverable.
    if (!store) throw new HostCallError({ tag: 'access-denied' }, `component ${this.#caps.component} may not open key-value store "${label}"`);
    return store;
  }

  #kv(name: string, args: readonly unknown[]): unknown {
    const store = this.#store(args[0] as string);
    const limits = this.#caps.services.kvLimits;
    switch (name) {
      case 'open':
        return undefined;
      case 'get':
        checkKv(limits, args[1] as string);
        return store.get(args[1] as string);
      case 'set':
        checkKv(limits, args[1] as string, args[2] as Uint8Array);
        return store.set(args[1] as string, args[2] as Uint8Array);
      case 'delete':
        checkKv(limits, args[1] as string);
        return store.delete(args[1] as string);
      case 'exists':
        checkKv(limits, args[1] as string);
        return store.exists(args[1] as string);
      case 'keys':
        return store.keys();
      default:
        throw new HostCallError({ tag: 'other', val: `unknown key-value operation ${name}` });
    }
  }

  #redis(name: string, args: readonly unknown[]): unknown {
    const address = args[0] as string;
    const url = parseRedisAddress(address);
    if (!url || !this.#caps.allowedHosts.allows(url)) {
      this.#caps.denied('redis', url, address);
      throw new HostCallError({ tag: 'invalid-address' });
    }
    if (name === 'open') return undefined;
    return redisOperation(this.#caps.services.redis, name, address, args.slice(1));
  }

  #http(name: string, args: readonly unknown[]): unknown {
    const fid = args[0] as number;
    if (name === 'send') return this.#send(fid, args[1] as OutboundHead & { url?: string; path: string });
    const exchange = this.#exchanges?.get(fid);
    switch (name) {
      case 'write':
        if (!exchange) throw new HostCallError({ tag: 'internal-error', val: 'request is closed' });
        return exchange.write(args[1] as Uint8Array);
      case 'finish':
        exchange?.finish();
        return undefined;
      case 'read':
        if (!exchange) throw new HostCallError({ tag: 'internal-error', val: 'response is closed' });
        return exchange.read().then((chunk) => {
          if (chunk === null) this.#exchanges?.delete(fid);
          return chunk;
        });
      case 'drop':
        exchange?.abort();
        this.#exchanges?.delete(fid);
        return undefined;
      default:
        throw new HostCallError({ tag: 'internal-error', val: `unknown http operation ${name}` });
    }
  }

  #send(fid: number, head: OutboundHead & { url?: string; path: string }): Promise<unknown> {
    let url: URL | undefined;
    let target: string | undefined = head.url;
    let selfPath = head.path;
    if (target !== undefined) {
      // `self.alt` names the app itself for guests whose HTTP client needs an absolute URL (Spin 3).
      const m = /^https?:\/\/self\.alt(?::\d+)?(\/.*)?$/i.exec(target);
      if (m) {
        target = undefined;
        selfPath = m[1] ?? '/';
      }
    }
    if (target === undefined) {
      // No authority: a request to this app itself, allowed by `self` (Spin's rule).
      const origin = this.#caps.services.selfOrigin();
      if (!this.#caps.allowedHosts.allowsSelf || origin === undefined) {
        this.#caps.denied('http', undefined, selfPath);
        throw new HostCallError({ tag: 'HTTP-request-denied' });
      }
      target = `${origin}${selfPath.startsWith('/') ? selfPath : `/${selfPath}`}`;
      url = new URL(target);
    } else {
      try {
        url = new URL(target);
      } catch {
        throw new HostCallError({ tag: 'HTTP-request-URI-invalid' });
      }
      if (url.hostname.endsWith('.spin.internal')) {
        throw new HostCallError({ tag: 'HTTP-request-denied' }, 'service chaining (*.spin.internal) is not supported by spinet yet');
      }
      if (!this.#caps.allowedHosts.allows(url)) {
        this.#caps.denied('http', url, target);
        throw new HostCallError({ tag: 'HTTP-request-denied' });
      }
    }
    const exchange = new OutboundExchange(this.#caps.services.http, { ...head, url: url.toString() });
    (this.#exchanges ??= new Map()).set(fid, exchange);
    return exchange.response;
  }

  close(): void {
    this.#closed = true;
    for (const e of this.#exchanges?.values() ?? []) e.abort();
    this.#exchanges = undefined;
  }
}
