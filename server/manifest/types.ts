/**
 * The resolved, validated form of a spin.toml (manifest v2): what the rest of spinet consumes.
 * Produced by `loadManifest()` in server/manifest/load-manifest.ts; nothing downstream re-reads TOML.
 */

/** An application variable from `[variables]`. */
export interface VariableDecl {
  readonly description?: string;
  readonly required: boolean;
  readonly default?: string;
  readonly secret: boolean;
}

/** `static_response` of an HTTP trigger: served without instantiating anything. */
export interface StaticResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** One `[[trigger.http]]` entry. */
export interface HttpTrigger {
  /** Position among the manifest's `[[trigger.http]]` entries (0-based), for messages and precedence. */
  readonly index: number;
  /** The route as written (sanitised only by Spin's rules), or `{ private: true }`. */
  readonly route: string | { readonly private: true };
  /** Component id, absent for static responses. */
  readonly component?: string;
  readonly staticResponse?: StaticResponse;
  /** 1-based line of the `[[trigger.http]]` header in spin.toml, when known. */
  readonly line?: number;
}

/** One `[[trigger.redis]]` entry (parsed now; served by the Redis-trigger issue). */
export interface RedisTrigger {
  readonly index: number;
  readonly channel: string;
  readonly component: string;
  readonly address?: string;
  readonly line?: number;
}

/** Where a component's bytes come from. */
export type ComponentSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string; readonly digest: string }
  | { readonly kind: 'registry'; readonly registry?: string; readonly package: string; readonly version: string };

/** One file visible to the guest: an absolute guest path mapped to a real host file. */
export interface MountedFile {
  /** Absolute, normalised guest path, e.g. `/static/index.html`. */
  readonly guestPath: string;
  /** Absolute host path (realpath), always inside the app root. */
  readonly hostPath: string;
}

/** `[component.x.build]` */
export interface BuildConfig {
  readonly command: readonly string[];
  /** Working directory of the commands; absolute once resolved by loadManifest (default: the app root). */
  readonly workdir?: string;
  readonly watch: readonly string[];
}

/** Limits a component may override (`[component.<id>.tool.spinet]`); unset = the app's, then the gateway's. */
export interface ComponentLimits {
  readonly deadlineMs?: number;
  readonly maxBodyBytes?: number;
  readonly maxResponseBytes?: number;
  /** Cap on each instance's linear memory, in bytes. */
  readonly maxInstanceMemory?: number;
}

/** Per-app limits (`[application.tool.spinet]`). */
export interface AppLimits extends ComponentLimits {
  /** Requests the whole app may take per window; past it → 429. */
  readonly rateLimit?: { readonly requests: number; readonly perSeconds: number };
}

/** A `[component.<id>]` table, resolved against the app root. */
export interface ResolvedComponent {
  readonly id: string;
  readonly description?: string;
  readonly source: ComponentSource;
  /** Every file the guest may read, after `files` globs/mounts and `exclude_files` were applied. */
  readonly files: readonly MountedFile[];
  readonly excludeFiles: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly allowedOutboundHosts: readonly string[];
  readonly keyValueStores: readonly string[];
  /** `sqlite_databases` labels (spinet provides no SQLite; kept so the host can say so precisely). */
  readonly sqliteDatabases?: readonly string[];
  /** `ai_models` (spinet provides no LLM host; kept so the host can say so precisely). */
  readonly aiModels?: readonly string[];
  readonly variables: Readonly<Record<string, string>>;
  readonly build?: BuildConfig;
  /** spinet limits from `[component.<id>.tool.spinet]`. */
  readonly limits?: ComponentLimits;
  /** 1-based line of the `[component.<id>]` header, when known. */
  readonly line?: number;
}

/** A whole validated Spin application. */
export interface ResolvedApp {
  /** Absolute path of the spin.toml this came from. */
  readonly manifestPath: string;
  /** Directory of the manifest: relative paths resolve against it. */
  readonly root: string;
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  readonly authors: readonly string[];
  readonly variables: Readonly<Record<string, VariableDecl>>;
  readonly httpTriggers: readonly HttpTrigger[];
  readonly redisTriggers: readonly RedisTrigger[];
  /** `[application.trigger.redis] address`, if set. */
  readonly redisAddress?: string;
  /** spinet limits from `[application.tool.spinet]`. */
  readonly limits?: AppLimits;
  readonly components: ReadonlyMap<string, ResolvedComponent>;
  /** Non-fatal findings (e.g. duplicate routes) to be logged at load. */
  readonly warnings: readonly string[];
}
