/**
 * A Spin app ready to serve: its manifest resolved, its route table built, and every HTTP component
 * read, digested, compiled (into the shared precompile cache) and checked for the wasi:http export.
 * Everything that can fail is done here, at load time, so the request path only looks things up.
 */
import { loadManifest } from '../manifest/load-manifest.js';
import type { ResolvedApp, ResolvedComponent, StaticResponse } from '../manifest/types.js';
import { buildRouteTable } from '../routing/route-table.js';
import type { RouteTable } from '../routing/route-table.js';
import { readComponentFileWithDigest, requireHttpHandler, requireRedisHandler } from '../wasm/component-loader.js';
import type { ComponentCache } from '../wasm/component-cache.js';
import type { PreparedComponent } from '../wasm/component-loader.js';
import type { GuestConfig } from '../wasm/worker-protocol.js';
import { CapabilityConfigError, ComponentCompileError, ManifestSourceError } from '../errors.js';
import { buildAppCapabilities } from '../capabilities/app-capabilities.js';
import type { CapabilityServices, ComponentCapabilities } from '../capabilities/app-capabilities.js';
import { resolveVariables } from '../capabilities/variables.js';
import type { ResolvedVariables } from '../capabilities/variables.js';
import type { RuntimeConfig } from '../capabilities/runtime-config.js';
import type { Logger } from '../observability/logger.js';
import { servableFiles } from '../plugins/static-files.js';

/** A component as the HTTP trigger needs it at request time. */
export interface HttpComponent {
  readonly id: string;
  readonly digest: string;
  /** The incoming-handler export name to call. */
  readonly handler: string;
  readonly configKey: string;
  readonly config: GuestConfig;
  /** Where the bytes came from: re-read (and digest-checked) if the cache evicted the entry. */
  readonly sourcePath: string;
  /** Key-value stores, variables and outbound hosts this component may use. */
  readonly capabilities: ComponentCapabilities;
}

/** One `[[trigger.redis]]`, resolved. */
export interface RedisSubscription {
  /** redis:// URL (may hold a password: never log it unredacted). */
  readonly address: string;
  readonly channel: string;
  readonly component: HttpComponent;
}

/** A spin-fileserver component's files: request path (under the route) → host file. */
export interface StaticSite {
  readonly id: string;
  /** Guest path (`/index.html`) → absolute host path; only these files can ever be served. */
  readonly files: ReadonlyMap<string, string>;
  /** Mounted dotfiles that are not served (servableGuestPath), by guest path. */
  readonly withheld: readonly string[];
  /** spin-fileserver's FALLBACK_PATH (SPA fallback) and CUSTOM_404_PATH, as guest paths. */
  readonly fallbackPath?: string;
  readonly custom404Path?: string;
  /** CACHE_CONTROL (default `max-age=60`, as spin-fileserver). */
  readonly cacheControl: string;
}

/** Whether a component is Spin's static file server (by its published file name), which spinet replaces. */
export function isSpinFileserver(c: ResolvedComponent): boolean {
  const name = c.source.kind === 'url' ? new URL(c.source.url).pathname : c.source.kind === 'file' ? c.source.path : '';
  return /(^|\/)spin_static_fs\.wasm$/.test(name);
}

function staticSiteOf(c: ResolvedComponent): StaticSite {
  const env = c.environment;
  const guest = (p: string | undefined): string | undefined => (p === undefined || p === '' ? undefined : p.startsWith('/') ? p : `/${p}`);
  const fallbackPath = guest(env.FALLBACK_PATH);
  const custom404Path = guest(env.CUSTOM_404_PATH);
  const { files, withheld } = servableFiles(c.files);
  return {
    id: c.id,
    files,
    withheld,
    ...(fallbackPath ? { fallbackPath } : {}),
    ...(custom404Path ? { custom404Path } : {}),
    cacheControl: env.CACHE_CONTROL ?? 'max-age=60',
  };
}

/** The limits one run works under. */
export interface RunLimits {
  readonly deadlineMs: number;
  readonly maxBodyBytes: number;
  readonly maxResponseBytes: number;
}

/** The limits for a component's runs: its own `tool.spinet` settings, else the app's, else `defaults` (the gateway's). */
export function effectiveLimits(defaults: RunLimits, app: LoadedApp, componentId: string): RunLimits {
  const c = app.manifest.components.get(componentId)?.limits;
  const a = app.manifest.limits;
  return {
    deadlineMs: c?.deadlineMs ?? a?.deadlineMs ?? defaults.deadlineMs,
    maxBodyBytes: c?.maxBodyBytes ?? a?.maxBodyBytes ?? defaults.maxBodyBytes,
    maxResponseBytes: c?.maxResponseBytes ?? a?.maxResponseBytes ?? defaults.maxResponseBytes,
  };
}

/** The app's or component's own instance memory cap, when set (else the gateway default applies in the worker). */
function memoryCapOf(app: ResolvedApp, componentId: string): { maxMemoryBytes?: number } {
  const bytes = app.components.get(componentId)?.limits?.maxInstanceMemory ?? app.limits?.maxInstanceMemory;
  return bytes === undefined ? {} : { maxMemoryBytes: bytes };
}

/** Where a run's guest stdout/stderr goes: the log, one entry per line, with the app's secrets redacted. */
export function guestOutputLog(log: Logger, app: LoadedApp): (stream: 'stdout' | 'stderr', text: string) => void {
  return (stream, text) => {
    const line = text.replace(/\n$/, '');
    // A guest's runtime may write a line's newline separately: no empty log entries for those.
    if (line !== '') log.info({ stream }, app.variables.redact(line));
  };
}

/** What loading an app needs besides its manifest. */
export interface LoadOptions {
  readonly cache: ComponentCache;
  readonly logger: Logger;
  readonly runtimeConfig: RuntimeConfig;
  readonly services: CapabilityServices;
  /**
   * `--variable` values, the environment and the working directory (for `.env`); `values`: literal
   * values set at deploy time (`spinet deploy --variable`), never read as `@file`, ahead of every provider.
   */
  readonly variables: {
    readonly cliValues: readonly string[];
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly cwd: string;
    readonly values?: Readonly<Record<string, string>> | undefined;
  };
  readonly stateDir?: string | undefined;
  /**
   * The tenant name (`spinet serve`: the name it was deployed under). It labels metrics and logs and
   * namespaces the embedded key-value store; defaults to the manifest's `[application] name`.
   */
  readonly name?: string | undefined;
  /** Multi-tenant mode: keys in shared (Redis) key-value stores get the app's name as a prefix. */
  readonly namespaceSharedStores?: boolean | undefined;
}

/** A loaded, routable app. */
export interface LoadedApp {
  readonly name: string;
  readonly manifest: ResolvedApp;
  readonly router: RouteTable;
  readonly components: ReadonlyMap<string, HttpComponent>;
  readonly staticResponses: ReadonlyMap<number, StaticResponse>;
  /** spin-fileserver components (by id), served natively from their `files`. */
  readonly staticSites: ReadonlyMap<string, StaticSite>;
  /** Redis subscriptions: address and channel resolved, with the component each message runs. */
  readonly redisTriggers: readonly RedisSubscription[];
  /** Resolved application variables (also redacts secrets from log text). */
  readonly variables: ResolvedVariables;
  /** The compiled component for a request: a cache hit normally, a reload after eviction. */
  prepared(component: HttpComponent): Promise<PreparedComponent>;
}

let generation = 0;

function sourcePathOf(app: ResolvedApp, c: ResolvedComponent): string {
  if (c.source.kind === 'file') return c.source.path;
  const where = `${app.manifestPath}${c.line ? `:${c.line}` : ''}: component.${c.id}.source`;
  if (c.source.kind === 'url') {
    throw new ManifestSourceError(
      `${where}: URL sources (${c.source.url}) are not fetched by spinet yet; download the file, check its digest, and set source = "path/to/file.wasm"`,
    );
  }
  throw new ManifestSourceError(`${where}: registry sources (${c.source.package}) are not supported; set source to a local .wasm file`);
}

/** Loads an app from a spin.toml (or its directory), compiling its components into `cache`. */
export async function loadApp(manifestPath: string, opts: LoadOptions): Promise<LoadedApp> {
  const { cache, logger } = opts;
  const manifest = await loadManifest(manifestPath);
  const name = opts.name ?? manifest.name;
  for (const w of manifest.warnings) logger.warn({ app: name }, w);
  const gen = ++generation;
  const variables = await resolveVariables(manifest, {
    cliValues: opts.variables.cliValues,
    providers: opts.variables.values ? [{ type: 'static', values: opts.variables.values }, ...opts.runtimeConfig.variablesProviders] : opts.runtimeConfig.variablesProviders,
    env: opts.variables.env,
    cwd: opts.variables.cwd,
  });
  const capabilities = buildAppCapabilities({
    // Key-value namespaces follow the tenant name, so two deployments of one manifest stay apart.
    app: name === manifest.name ? manifest : { ...manifest, name },
    runtimeConfig: opts.runtimeConfig,
    variables,
    services: opts.services,
    logger,
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
    ...(opts.namespaceSharedStores ? { namespaceSharedStores: true } : {}),
  });

  const routed = new Set<string>();
  for (const t of manifest.httpTriggers) if (t.component) routed.add(t.component);
  const redisRouted = new Set(manifest.redisTriggers.map((t) => t.component));

  // Spin apps serve front-ends with the spin-fileserver component; spinet serves its files natively.
  const staticSites = new Map<string, StaticSite>();
  for (const id of routed) {
    const c = manifest.components.get(id)!;
    if (!isSpinFileserver(c)) continue;
    const site = staticSiteOf(c);
    staticSites.set(id, site);
    routed.delete(id);
    logger.info({ app: name, component: id, files: site.files.size }, 'spin-fileserver component: files served natively');
    if (site.withheld.length > 0) {
      logger.warn(
        { app: name, component: id, withheld: site.withheld.length, examples: site.withheld.slice(0, 5) },
        `component.${id} mounts ${site.withheld.length} dotfile(s) (such as ${site.withheld[0]}) that are not served: only /.well-known/ may hold dotfiles; exclude them with exclude_files, or mount a narrower directory`,
      );
    }
  }

  const components = new Map<string, HttpComponent>();
  const redisComponents = new Map<string, HttpComponent>();
  // Compile sequentially: each jco transpile and compile already uses the machine, and errors stay ordered.
  for (const id of new Set([...routed, ...redisRouted])) {
    const c = manifest.components.get(id)!;
    const sourcePath = sourcePathOf(manifest, c);
    const label = `${manifest.manifestPath}: component.${id} (${sourcePath})`;
    const { bytes, digest } = await readComponentFileWithDigest(sourcePath).catch((err: NodeJS.ErrnoException) => {
      throw new ManifestSourceError(`${label}: cannot read the component: ${err.message}`, { cause: err });
    });
    const prepared = await cache.get(digest, bytes, label);
    if (prepared.uncappedModules.length > 0) {
      logger.warn({ app: name, component: id, modules: prepared.uncappedModules }, 'the instance memory cap cannot be enforced for this component (its memory could not be made importable)');
    }
    const base = {
      id,
      digest,
      configKey: `${name}/${id}/${gen}`,
      config: {
        app: name,
        component: id,
        environment: Object.entries(c.environment),
        files: c.files,
        ...memoryCapOf(manifest, id),
      },
      sourcePath,
      capabilities: capabilities.get(id)!,
    };
    if (routed.has(id)) components.set(id, { ...base, handler: requireHttpHandler(prepared, label) });
    if (redisRouted.has(id)) redisComponents.set(id, { ...base, handler: requireRedisHandler(prepared, label) });
    logger.info(
      { app: name, component: id, digest: digest.slice(0, 12), transpileMs: Math.round(prepared.transpileMs), compileMs: Math.round(prepared.compileMs) },
      'component ready',
    );
  }

  // Redis triggers, with `{{ variable }}` templates in address and channel resolved now.
  const redisTriggers: RedisSubscription[] = [];
  for (const t of manifest.redisTriggers) {
    const where = `${manifest.manifestPath}${t.line ? `:${t.line}` : ''}: trigger.redis[${t.index}]`;
    const rawAddress = t.address ?? manifest.redisAddress;
    if (rawAddress === undefined) {
      throw new CapabilityConfigError(`${where}: no Redis address; set address = "redis://host:port" on the trigger or [application.trigger.redis] address`);
    }
    let address: string;
    let channel: string;
    try {
      address = variables.expand(rawAddress);
      channel = variables.expand(t.channel);
    } catch (err) {
      throw new CapabilityConfigError(`${where}: ${(err as Error).message}`, { cause: err });
    }
    if (!/^rediss?:\/\/[^/]/.test(address)) {
      throw new CapabilityConfigError(`${where}: address "${variables.redact(address)}" is not a redis:// or rediss:// URL`);
    }
    if (channel === '') throw new CapabilityConfigError(`${where}: channel is empty`);
    redisTriggers.push({ address, channel, component: redisComponents.get(t.component)! });
  }

  const staticResponses = new Map<number, StaticResponse>();
  const router = buildRouteTable(
    manifest.httpTriggers.map((t) => {
      if (t.staticResponse) staticResponses.set(t.index, t.staticResponse);
      return {
        route: t.route,
        triggerIndex: t.index,
        target: t.component ? { kind: 'component' as const, component: t.component } : { kind: 'static' as const, triggerIndex: t.index },
      };
    }),
  );
  // Duplicates written identically were already reported by the manifest (with line numbers);
  // the router adds only those that differ as written but are the same route (`/a/` and `/a`).
  const rawOf = new Map(manifest.httpTriggers.map((t) => [t.index, typeof t.route === 'string' ? t.route : undefined]));
  const alreadyReported = router
    .duplicates()
    .filter((d) => rawOf.get(d.replacedTriggerIndex) === rawOf.get(d.effectiveTriggerIndex))
    .map((d) => `#${d.replacedTriggerIndex + 1} and again by #${d.effectiveTriggerIndex + 1};`);
  for (const w of router.warnings()) if (!alreadyReported.some((tag) => w.includes(tag))) logger.warn({ app: name }, w);

  return {
    name,
    manifest,
    router,
    components,
    staticSites,
    redisTriggers,
    staticResponses,
    variables,
    async prepared(component: HttpComponent): Promise<PreparedComponent> {
      const hit = cache.peek(component.digest);
      if (hit) return cache.get(component.digest, new Uint8Array(0), component.sourcePath);
      const { bytes, digest } = await readComponentFileWithDigest(component.sourcePath);
      if (digest !== component.digest) {
        throw new ComponentCompileError(
          `${component.sourcePath} changed on disk since the app was loaded (digest mismatch); redeploy or restart to pick up the new component`,
        );
      }
      return cache.get(component.digest, bytes, component.sourcePath);
    },
  };
}
