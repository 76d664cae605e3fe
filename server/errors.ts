/**
 * Every SPINET_ERR_* code spinet throws, defined once (with @fastify/error, or as a plain class where
 * a module needs `instanceof` and its own name).
 * Each code is documented in docs/errors.md (a test checks that).
 * Sections are owned by areas; add new codes to the section of the area that throws them.
 */
import createError from '@fastify/error';

// ── config / CLI ───────────────────────────────────────────────────────────────
/** A gateway config value (flag or environment variable) is invalid. */
export const ConfigInvalidError = createError('SPINET_ERR_CONFIG_INVALID', '%s', 500);
/** A CLI invocation is wrong (unknown command, bad flag). */
export const CliUsageError = createError('SPINET_ERR_CLI_USAGE', '%s', 500);
/** `spinet new` / `add` was given a template that does not exist. */
export const TemplateUnknownError = createError('SPINET_ERR_TEMPLATE_UNKNOWN', '%s', 500);
/** `spinet new` / `add` was given an app or component name that Spin would not accept. */
export const TemplateNameError = createError('SPINET_ERR_TEMPLATE_NAME', '%s', 500);
/** `spinet new` / `add` would overwrite something: the directory exists, or the component id is taken. */
export const TemplateTargetError = createError('SPINET_ERR_TEMPLATE_TARGET', '%s', 500);
/** `spinet doctor` found something required missing (each finding says what to do). */
export const DoctorFailedError = createError('SPINET_ERR_DOCTOR', '%s', 500);

// ── manifest (spin.toml) ─────────────────────────────────────────────────────────
/** The manifest file cannot be found or read. */
export const ManifestNotFoundError = createError('SPINET_ERR_MANIFEST_NOT_FOUND', '%s', 500);
/** The manifest is not valid TOML. */
export const ManifestSyntaxError = createError('SPINET_ERR_MANIFEST_SYNTAX', '%s', 500);
/** The manifest is valid TOML but breaks a rule of Spin's manifest v2 schema. */
export const ManifestInvalidError = createError('SPINET_ERR_MANIFEST_INVALID', '%s', 500);
/** A component `source` is missing, unreadable or not a WebAssembly component. */
export const ManifestSourceError = createError('SPINET_ERR_MANIFEST_SOURCE', '%s', 500);
/** A component's `files` mount is invalid (escapes the app root, missing source, bad destination). */
export const ManifestFilesError = createError('SPINET_ERR_MANIFEST_FILES', '%s', 500);

// ── routing ──────────────────────────────────────────────────────────────────────
/** A route pattern is malformed. */
export const RouteInvalidError = createError('SPINET_ERR_ROUTE_INVALID', '%s', 500);

// ── wasm (transpile, compile, cache, executor) ──────────────────────────────────
/** A component could not be transpiled or compiled. */
export const ComponentCompileError = createError('SPINET_ERR_WASM_COMPILE', '%s', 500);
/** A component does not export an interface its trigger needs. */
export const ComponentExportError = createError('SPINET_ERR_WASM_EXPORT', '%s', 500);
/** A component imports an interface spinet does not provide. */
export const ComponentImportError = createError('SPINET_ERR_WASM_IMPORT', '%s', 500);
/** A guest trapped, exited, or broke the wasi:http contract. */
export const GuestFailedError = createError('SPINET_ERR_WASM_GUEST_FAILED', '%s', 500);
/** A guest ran past its deadline and was stopped. */
export const GuestDeadlineError = createError('SPINET_ERR_WASM_DEADLINE', '%s', 504);
/** An executor worker died unexpectedly. */
export const WorkerCrashedError = createError('SPINET_ERR_WASM_WORKER_CRASHED', '%s', 500);
/** The executor is shutting down and takes no new work. */
export const ExecutorClosedError = createError('SPINET_ERR_WASM_EXECUTOR_CLOSED', '%s', 503);
/** Building a guest component from source failed. */
export const GuestBuildError = createError('SPINET_ERR_BUILD_FAILED', '%s', 500);
/** The request body is larger than the configured limit. */
export const RequestBodyTooLargeError = createError('SPINET_ERR_HTTP_BODY_TOO_LARGE', '%s', 413);
/** A guest's response body grew past the configured limit and was cut off. */
export const ResponseTooLargeError = createError('SPINET_ERR_HTTP_RESPONSE_TOO_LARGE', '%s', 500);
/**
 * The client closed its connection before the response started: not the guest's failure, and no
 * one is left to answer. 499 is nginx's "client closed request", the status such requests are counted under.
 */
export const ClientGoneError = createError('SPINET_ERR_HTTP_CLIENT_GONE', '%s', 499);
/** Every executor worker is busy and the wait queue is full. */
export const ExecutorOverloadedError = createError('SPINET_ERR_WASM_OVERLOADED', '%s', 503);

// ── capabilities (key-value, variables, outbound HTTP and Redis) ─────────────────
/** The runtime config file (--runtime-config-file) is missing, not TOML, or breaks a rule. */
export class RuntimeConfigError extends Error {
  readonly code = 'SPINET_ERR_RUNTIME_CONFIG';
  override readonly name = 'RuntimeConfigError';
}
/** Application variables cannot be resolved (a required one has no value, a bad --variable, a bad template). */
export class VariablesError extends Error {
  readonly code = 'SPINET_ERR_VARIABLES';
  override readonly name = 'VariablesError';
}
/** A component's capabilities cannot be set up (undefined store label, bad allowed host, bad template). */
export const CapabilityConfigError = createError('SPINET_ERR_CAPABILITY_CONFIG', '%s', 500);

// ── tenants (app store, bundles, admin API) ───────────────────────────────────────
/** An app's name or host claims clash with another app's (two apps on one host). */
export const TenantConflictError = createError('SPINET_ERR_TENANT_CONFLICT', '%s', 409);
/** No app by that name is deployed (or it has no earlier version to roll back to). */
export const AppNotFoundError = createError('SPINET_ERR_APP_NOT_FOUND', '%s', 404);
/** A deployed bundle is unsafe or malformed (traversal, links, devices, outside references, not gzip/tar). */
export const BundleInvalidError = createError('SPINET_ERR_BUNDLE_INVALID', '%s', 400);
/** A deployed bundle is over a size or file-count limit (compressed or unpacked). */
export const BundleTooLargeError = createError('SPINET_ERR_BUNDLE_TOO_LARGE', '%s', 413);
/** The app store on disk cannot be read or written. */
export const AppStoreError = createError('SPINET_ERR_APP_STORE', '%s', 500);
/** Another writer holds the app store's lock (or took it over): nothing was written; the client should retry. */
export const AppStoreBusyError = createError('SPINET_ERR_APP_STORE_BUSY', '%s', 503);
/** An admin API request lacks the right bearer token. */
export const AdminUnauthorizedError = createError('SPINET_ERR_ADMIN_UNAUTHORIZED', '%s', 401);
/** An admin API request is malformed (fails its schema, or carries no bundle). */
export const AdminRequestError = createError('SPINET_ERR_ADMIN_REQUEST', '%s', 400);
/** An admin API request failed for a reason inside the gateway (details in the log). */
export const AdminInternalError = createError('SPINET_ERR_ADMIN_INTERNAL', '%s', 500);
