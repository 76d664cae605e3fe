/**
 * buildGateway(config): the whole gateway, assembled but not listening (tests use `inject()`, the
 * CLI calls `listen`). Loads the app before returning, so a broken manifest or component fails here,
 * before any port is opened. With `tenancy` options (`spinet serve`) it starts with no app and apps
 * come and go through `deployApp` / `removeApp`, each swap atomic.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from './config.js';
import { Executor } from './wasm/executor.js';
import { ComponentCache } from './wasm/component-cache.js';
import { TenantRegistry } from './tenants/tenant-registry.js';
import type { TenantClaims, TenantRouting } from './tenants/tenant-registry.js';
import { loadApp } from './tenants/loaded-app.js';
import type { LoadedApp } from './tenants/loaded-app.js';
import type { RedisTrigger } from './triggers/redis.js';
import { SPINET_VERSION } from './version.js';
import type { GatewayMetrics } from './observability/metrics.js';
import type { PreparedComponent } from './wasm/component-loader.js';
import { loggerOptions } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { EmbeddedKv } from './capabilities/key-value.js';
import { RedisClients } from './capabilities/redis-clients.js';
import { OutboundHttp } from './capabilities/outbound-http.js';
import { EMPTY_RUNTIME_CONFIG, loadRuntimeConfig } from './capabilities/runtime-config.js';
import type { CapabilityServices } from './capabilities/app-capabilities.js';
import path from 'node:path';

/** A built gateway and the parts tests and the CLI reach into. */
export interface Gateway {
  readonly fastify: FastifyInstance;
  readonly executor: Executor;
  readonly cache: ComponentCache;
  readonly tenants: TenantRegistry;
  readonly metrics: GatewayMetrics;
  /** The Redis trigger, loaded (with ioredis) once an app with `[[trigger.redis]]` is loaded; undefined before. */
  readonly redisTrigger: RedisTrigger | undefined;
  /** The operator listener (metrics, status page) when SPINET_METRICS_LISTEN is set; not listening yet. */
  readonly operator: FastifyInstance | undefined;
  /**
   * Loads an app (manifest validated, every component read, compiled and checked) without letting it
   * take traffic. Throws what `loadApp` throws; nothing running changes.
   */
  prepareApp(manifestPath: string, opts?: DeployAppOptions): Promise<LoadedApp>;
  /**
   * Puts a prepared app in service atomically (replacing the version of the same name), moves its
   * Redis subscriptions over, and releases the old version once its in-flight requests are done.
   * Throws TenantConflictError (nothing changes) if its host claims clash with another app's.
   */
  activateApp(app: LoadedApp, claims?: TenantClaims): void;
  /**
   * prepareApp + activateApp: validate, compile and warm a new version, then swap it in. The way to
   * hot-swap an app on a running gateway (`spinet watch`, the admin API). In single-app mode
   * (`spinet up`) the new app replaces the one app, whatever its name.
   */
  deployApp(manifestPath: string, opts?: DeployAppOptions): Promise<LoadedApp>;
  /** `spinet up`: reloads the app from the configured manifest and hot-swaps it in (deployApp). */
  reload(): Promise<LoadedApp>;
  /** Takes an app out of service; its in-flight requests finish. False if no app has that name. */
  removeApp(name: string): boolean;
  /** Resolves once every version swapped out so far has finished its requests and been released. */
  settled(): Promise<void>;
  /** Stops taking requests, lets in-flight ones finish (up to the configured grace), frees workers. */
  close(): Promise<void>;
}

/** How to load one app onto a running gateway. */
export interface DeployAppOptions {
  /** Tenant name (metrics label, key-value namespace, `<name>.<base domain>`); the manifest's name by default. */
  readonly name?: string;
  /** Custom host names the app claims (multi-tenant mode). */
  readonly hosts?: readonly string[];
  /** `--variable`-style values for this app (`name=value`). */
  readonly variables?: readonly string[];
  /** Literal variable values set at deploy time (multi-tenant mode; never read as `@file`). */
  readonly variableValues?: Readonly<Record<string, string>>;
}

/** A gateway a CLI command started: its address and how to stop it (no gateway when only help was shown). */
export interface RunningGateway {
  readonly address: string;
  readonly gateway?: Gateway;
  stop(): Promise<void>;
}

/** Extra knobs for embedding and tests. */
export interface BuildOptions {
  /** A pino-compatible logger instance or options; defaults to the config's level on stdout. */
  readonly logger?: Record<string, unknown> | boolean;
  /** Environment for variable providers (`SPIN_VARIABLE_*`); process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory whose `.env` the default variable provider reads; the process's cwd by default. */
  readonly cwd?: string;
  /**
   * Multi-tenant mode (`spinet serve`): requests find their app by host name or path prefix, the
   * gateway starts with no app (config.manifest is not loaded), and apps are deployed at run time.
   * Tenants get no process environment for their variables (one app must not read another's
   * SPIN_VARIABLE_*): values come from the deployment and the `.env` in the app's own directory.
   */
  readonly tenancy?: TenantRouting;
}

/**
 * The HTTP side's modules (Fastify plugins, prom-client, the HTTP trigger), loaded while the app's
 * components compile: compiling runs off the main thread, module loading on it, so the one fills
 * the other's wait instead of queueing behind it at start-up.
 */
function loadHttpSide() {
  return Promise.all([import('./observability/metrics.js'), import('./plugins/static-files.js'), import('./plugins/status.js'), import('./plugins/metrics.js'), import('./triggers/http.js')]);
}

/** The component cache, telling start-up when a component has started compiling. */
class StartupCache extends ComponentCache {
  onGet: (() => void) | undefined;

  override get(digest: string, bytes: Uint8Array, label: string): Promise<PreparedComponent> {
    // A miss has planned the component and handed its core modules to the compiler by the time get returns.
    const prepared = super.get(digest, bytes, label);
    this.onGet?.();
    return prepared;
  }
}

/** Assembles the gateway for `config` and loads its app. Never listens. */
export async function buildGateway(config: GatewayConfig, opts: BuildOptions = {}): Promise<Gateway> {
  const fastify = Fastify({
    logger: opts.logger ?? loggerOptions(config.logLevel, false),
    logController: new LogController({ disableRequestLogging: !config.accessLog }),
    // Keep-alive sockets must not hold shutdown hostage.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Spin matches on the raw path; let every path reach the catch-all route.
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 65535 },
  });
  const log = fastify.log as unknown as Logger;
  const executor = new Executor({ workers: config.workers, maxQueue: config.maxQueue, logger: log.child({ module: 'executor' }) });
  let metrics: GatewayMetrics | undefined;
  // Components prepared before the metrics exist (the first app's, at start-up) are counted once they do.
  const preparedEarly: PreparedComponent[] = [];
  const observeCompile = (m: GatewayMetrics, c: PreparedComponent): void => {
    // spinet's linker plans (reads the component, plans its linking); jco's fallback transpiles.
    if (c.transpileMs > 0) m.compileDuration.observe({ phase: c.linker === 'spinet' ? 'plan' : 'transpile' }, c.transpileMs / 1000);
    m.compileDuration.observe({ phase: 'compile' }, c.compileMs / 1000);
  };
  const cache = new StartupCache({
    onPrepared: (c) => (metrics ? observeCompile(metrics, c) : preparedEarly.push(c)),
    maxBytes: config.cacheMaxBytes,
    diskCacheDir: config.cacheDir === '' ? undefined : config.cacheDir,
    maxInstanceMemory: config.maxInstanceMemory,
    onEvict: (digest) => executor.dropComponent(digest),
  });
  const tenants = new TenantRegistry(opts.tenancy);
  // The Redis trigger (and ioredis with it) loads when the first app with a Redis trigger is prepared,
  // before that app can be activated; most apps are HTTP-only and never pay for it. Until then no app
  // has subscriptions, so there is nothing for it to start, swap or close.
  let redisTrigger: RedisTrigger | undefined;
  let redisTriggerLoad: Promise<RedisTrigger> | undefined;
  const redisTriggerFor = async (app: LoadedApp): Promise<void> => {
    if (app.redisTriggers.length === 0 || redisTrigger) return;
    redisTriggerLoad ??= import('./triggers/redis.js').then(({ RedisTrigger }) => {
      redisTrigger = new RedisTrigger({ executor, metrics: metrics!, logger: log.child({ module: 'redis-trigger' }), limits: config });
      return redisTrigger;
    });
    await redisTriggerLoad;
  };
  const embeddedKv = new EmbeddedKv();
  const redis = new RedisClients(log.child({ module: 'redis' }));
  let http: OutboundHttp | undefined;
  let services: CapabilityServices | undefined;
  let runtimeConfig = EMPTY_RUNTIME_CONFIG;
  const closeServices = async (): Promise<void> => {
    await Promise.allSettled([embeddedKv.close(), redis.close(), http?.close()]);
  };
  // The app loads (manifest, component reads, plan, compile) while the HTTP side loads and registers.
  let initialApp: LoadedApp | undefined;
  /** Loads an app's components onto the workers, with instances made ahead, before its first requests. */
  const warmApp = (app: LoadedApp): void => {
    const seen = new Set<string>();
    const components = [...app.components.values(), ...app.redisTriggers.map((t) => t.component)].filter((c) => !seen.has(c.configKey) && seen.add(c.configKey));
    Promise.all(components.map(async (c) => ({ component: await app.prepared(c), configKey: c.configKey, config: c.config }))).then(
      (items) => executor.warm(items),
      // A component that cannot be had now fails its first request, which says why.
      () => {},
    );
  };
  const appLoading = (async () => {
    runtimeConfig = config.runtimeConfigFile === undefined ? EMPTY_RUNTIME_CONFIG : await loadRuntimeConfig(config.runtimeConfigFile);
    if (runtimeConfig.maxInstanceMemory !== undefined) {
      log.warn({ file: runtimeConfig.path }, 'max_instance_memory in the runtime config is not applied; set SPINET_MAX_INSTANCE_MEMORY (or SPIN_MAX_INSTANCE_MEMORY) instead');
    }
    http = new OutboundHttp(runtimeConfig.outboundHttp.maxConnections !== undefined ? { maxConnections: runtimeConfig.outboundHttp.maxConnections } : {});
    services = {
      embeddedKv,
      redis,
      http,
      kvLimits: { maxKeyBytes: 1024, maxValueBytes: config.kvMaxValueBytes },
      selfOrigin: () => {
        const a = fastify.server.address();
        if (!a || typeof a === 'string') return undefined;
        const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '[::1]' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
        return `http://${host}:${a.port}`;
      },
    };
    if (!opts.tenancy) {
      initialApp = await loadApp(config.manifest, {
        cache,
        logger: log,
        runtimeConfig,
        services,
        variables: { cliValues: config.variables, env: opts.env ?? process.env, cwd: opts.cwd ?? process.cwd() },
        stateDir: config.stateDir,
      });
      // The workers load it and make its first instances while the HTTP side loads here.
      warmApp(initialApp);
    }
  })();
  // Its failure is taken up below, once the HTTP side is done.
  appLoading.catch(() => {});
  // The HTTP side waits for the first component to start compiling (or the app to finish loading):
  // started earlier, its module loading would hold up reading and planning the component instead.
  await Promise.race([new Promise<void>((resolve) => (cache.onGet = resolve)), appLoading.catch(() => {})]);
  cache.onGet = undefined;
  let operator: FastifyInstance | undefined;
  let httpSideError: unknown;
  try {
    const [{ buildMetrics }, { registerStaticFiles }, { registerStatusRoutes }, { registerMetricsRoute }, { registerHttpTrigger }] = await loadHttpSide();
    const m = (metrics = buildMetrics({ cache, executor }));
    for (const c of preparedEarly.splice(0)) observeCompile(m, c);
    await registerStaticFiles(fastify);
    // Operator routes (metrics, status page) on their own listener when configured, else on the gateway.
    if (config.metricsListen) {
      operator = Fastify({ logger: false, forceCloseConnections: true });
      await registerStaticFiles(operator);
    }
    const statusSources = { tenants, executor, cache, metrics: m, cacheMaxBytes: config.cacheMaxBytes, version: SPINET_VERSION };
    registerMetricsRoute(operator ?? fastify, m);
    registerStatusRoutes(operator ?? fastify, statusSources);
    await registerHttpTrigger(fastify, { tenants, executor, config, metrics: m });
  } catch (err) {
    httpSideError = err;
  }
  try {
    // An app that cannot load is the error to report, whatever else went wrong meanwhile.
    await appLoading;
    if (httpSideError !== undefined) throw httpSideError;
    if (initialApp) {
      await redisTriggerFor(initialApp);
      tenants.replaceAll([initialApp]);
    }
  } catch (err) {
    await executor.close(0);
    await closeServices();
    throw err;
  }
  const gatewayMetrics = metrics!;
  // Subscriptions start now but never hold start-up: the HTTP side serves whether or not Redis is up.
  for (const app of tenants.list()) redisTrigger?.start(app);

  const capabilityServices = services!;
  const retiring = new Set<Promise<void>>();
  // While an app is being prepared its components may be cache hits no registered app holds yet.
  let preparing = 0;
  // Prepared apps not yet activated (a deploy between compiling and its switch) use their components
  // too. Weakly held: a version whose deploy failed after preparing is never activated, and is
  // forgotten with it.
  const prepared = new Set<WeakRef<LoadedApp>>();
  /** Frees what an old version held once its last request is done: worker configs and unused compiled code. */
  const release = (old: LoadedApp): void => {
    const done = tenants.drained(old).then(() => {
      const inUse = new Set<string>();
      const waiting: LoadedApp[] = [];
      for (const ref of prepared) {
        const a = ref.deref();
        if (a) waiting.push(a);
        else prepared.delete(ref);
      }
      for (const a of [...tenants.list(), ...waiting]) {
        for (const c of a.components.values()) inUse.add(c.digest);
        for (const t of a.redisTriggers) inUse.add(t.component.digest);
      }
      for (const c of [...old.components.values(), ...old.redisTriggers.map((t) => t.component)]) {
        executor.dropConfig(c.configKey);
        if (!inUse.has(c.digest) && preparing === 0) cache.delete(c.digest);
      }
      log.info({ app: old.name }, 'previous version released');
    });
    retiring.add(done);
    void done.finally(() => retiring.delete(done));
  };
  const prepareApp = async (manifestPath: string, o: DeployAppOptions = {}): Promise<LoadedApp> => {
    const multi = opts.tenancy !== undefined;
    preparing++;
    try {
      const app = await loadApp(manifestPath, {
        cache,
        logger: log,
        runtimeConfig,
        services: capabilityServices,
        variables: multi
          ? { cliValues: o.variables ?? [], env: {}, cwd: path.dirname(path.resolve(manifestPath.endsWith('.toml') ? manifestPath : path.join(manifestPath, 'spin.toml'))), values: o.variableValues }
          : { cliValues: o.variables ?? config.variables, env: opts.env ?? process.env, cwd: opts.cwd ?? process.cwd() },
        stateDir: config.stateDir,
        namespaceSharedStores: multi,
        ...(o.name !== undefined ? { name: o.name } : {}),
      });
      await redisTriggerFor(app);
      prepared.add(new WeakRef(app));
      return app;
    } finally {
      preparing--;
    }
  };
  const activateApp = (app: LoadedApp, claims: TenantClaims = {}): void => {
    const old = tenants.put(app, claims);
    warmApp(app);
    for (const ref of prepared) if (ref.deref() === app) prepared.delete(ref);
    redisTrigger?.replace(old, app);
    if (old) release(old);
    log.info({ app: app.name, hosts: tenants.hostsOf(app.name), replaced: old !== undefined }, old ? 'app swapped to a new version' : 'app deployed');
  };
  const deployApp = async (manifestPath: string, o: DeployAppOptions = {}): Promise<LoadedApp> => {
    const claims = o.hosts ? { hosts: o.hosts } : {};
    // Fail fast on a name or host clash, before spending a compile on it (activate checks again).
    if (opts.tenancy && o.name !== undefined) tenants.checkClaims(o.name, claims);
    const app = await prepareApp(manifestPath, o);
    activateApp(app, claims);
    return app;
  };

  let closing: Promise<void> | undefined;
  return {
    fastify,
    executor,
    cache,
    tenants,
    metrics: gatewayMetrics,
    get redisTrigger() {
      return redisTrigger;
    },
    operator,
    prepareApp,
    activateApp,
    deployApp,
    reload: () => deployApp(config.manifest),
    removeApp(name) {
      const old = tenants.remove(name);
      if (!old) return false;
      redisTrigger?.replace(old, undefined);
      release(old);
      log.info({ app: name }, 'app removed');
      return true;
    },
    async settled() {
      while (retiring.size > 0) await Promise.all([...retiring]);
    },
    close() {
      closing ??= (async () => {
        // One grace period for everything in flight: HTTP requests and Redis messages drain together.
        // Fastify's close stops accepting and waits for in-flight requests (which wait for their
        // guests); the executor's close ends guests still running at the deadline, which lets those
        // requests answer, so fastify.close() resolves soon after.
        const deadline = Date.now() + config.shutdownGraceMs;
        const left = (): number => Math.max(0, deadline - Date.now());
        const http = fastify.close();
        await Promise.all([redisTriggerLoad?.then((t) => t.close(left())), Promise.race([http, new Promise((r) => setTimeout(r, left()).unref())])]);
        await executor.close(left());
        await http;
        await operator?.close();
        await closeServices();
      })();
      return closing;
    },
  };
}
