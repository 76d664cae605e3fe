/**
 * A Spin app ready to serve: its manifest resolved, its route table built, and every HTTP component
 * read, digested, compiled (into the shared precompile cache) and checked for the wasi:http export.
 * Everything that can fail is done here, at load time, so the request path only looks things up.
 */
import { readFile } from 'node:fs/promises';
import { loadManifest } from '../manifest/load-manifest.js';
import type { ResolvedApp, ResolvedComponent, StaticResponse } from '../manifest/types.js';
import { buildRouteTable } from '../routing/route-table.js';
import type { RouteTable } from '../routing/route-table.js';
import { digestOf, requireHttpHandler } from '../wasm/component-loader.js';
import type { ComponentCache } from '../wasm/component-cache.js';
import type { PreparedComponent } from '../wasm/component-loader.js';
import type { GuestConfig } from '../wasm/worker-protocol.js';
import { ComponentCompileError, ManifestSourceError } from '../errors.js';
import { buildAppCapabilities } from '../capabilities/app-capabilities.js';
import type { CapabilityServices, ComponentCapabilities } from '../capabilities/app-capabilities.js';
import { resolveVariables } from '../capabilities/variables.js';
import type { ResolvedVariables } from '../capabilities/variables.js';
import type { RuntimeConfig } from '../capabilities/runtime-config.js';
import type { Logger } from '../observability/logger.js';

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

/** What loading an app needs besides its manifest. */
export interface LoadOptions {
  readonly cache: ComponentCache;
  readonly logger: Logger;
  readonly runtimeConfig: RuntimeConfig;
  readonly services: CapabilityServices;
  /** `--variable` values, the environment and the working directory (for `.env`). */
  readonly variables: { readonly cliValues: readonly string[]; readonly env: Readonly<Record<string, string | undefined>>; readonly cwd: string };
  readonly stateDir?: string | undefined;
}

/** A loaded, routable app. */
export interface LoadedApp {
  readonly name: string;
  readonly manifest: ResolvedApp;
  readonly router: RouteTable;
  readonly components: ReadonlyMap<string, HttpComponent>;
  readonly staticResponses: ReadonlyMap<number, StaticResponse>;
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
  for (const w of manifest.warnings) logger.warn({ app: manifest.name }, w);
  const gen = ++generation;
  const variables = await resolveVariables(manifest, {
    cliValues: opts.variables.cliValues,
    providers: opts.runtimeConfig.variablesProviders,
    env: opts.variables.env,
    cwd: opts.variables.cwd,
  });
  const capabilities = buildAppCapabilities({
    app: manifest,
    runtimeConfig: opts.runtimeConfig,
    variables,
    services: opts.services,
    logger,
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
  });

  const routed = new Set<string>();
  for (const t of manifest.httpTriggers) if (t.component) routed.add(t.component);

  const components = new Map<string, HttpComponent>();
  // Compile sequentially: each jco transpile and compile already uses the machine, and errors stay ordered.
  for (const id of routed) {
    const c = manifest.components.get(id)!;
    const sourcePath = sourcePathOf(manifest, c);
    const label = `${manifest.manifestPath}: component.${id} (${sourcePath})`;
    const bytes = await readFile(sourcePath).catch((err: NodeJS.ErrnoException) => {
      throw new ManifestSourceError(`${label}: cannot read the component: ${err.message}`, { cause: err });
    });
    const digest = digestOf(bytes);
    const prepared = await cache.get(digest, bytes, label);
    const handler = requireHttpHandler(prepared, label);
    if (prepared.uncappedModules.length > 0) {
      logger.warn({ app: manifest.name, component: id, modules: prepared.uncappedModules }, 'the instance memory cap cannot be enforced for this component (its memory could not be made importable)');
    }
    components.set(id, {
      id,
      digest,
      handler,
      configKey: `${manifest.name}/${id}/${gen}`,
      config: {
        app: manifest.name,
        component: id,
        environment: Object.entries(c.environment),
        files: c.files,
      },
      sourcePath,
      capabilities: capabilities.get(id)!,
    });
    logger.info(
      { app: manifest.name, component: id, digest: digest.slice(0, 12), transpileMs: Math.round(prepared.transpileMs), compileMs: Math.round(prepared.compileMs) },
      'component ready',
    );
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
  for (const w of router.warnings()) if (!alreadyReported.some((tag) => w.includes(tag))) logger.warn({ app: manifest.name }, w);

  return {
    name: manifest.name,
    manifest,
    router,
    components,
    staticResponses,
    variables,
    async prepared(component: HttpComponent): Promise<PreparedComponent> {
      const hit = cache.peek(component.digest);
      if (hit) return cache.get(component.digest, new Uint8Array(0), component.sourcePath);
      const bytes = await readFile(component.sourcePath);
      if (digestOf(bytes) !== component.digest) {
        throw new ComponentCompileError(
          `${component.sourcePath} changed on disk since the app was loaded (digest mismatch); redeploy or restart to pick up the new component`,
        );
      }
      return cache.get(component.digest, bytes, component.sourcePath);
    },
  };
}
