/**
 * Schema of one `[component.<id>]` table (or an inline trigger component), after spinframework/spin
 * crates/manifest/src/schema/v2.rs `Component` and common.rs `ComponentSource`, `WasiFilesMount`,
 * `ComponentBuildConfig`: shapes, labels, names and template references, but no file access.
 */
import { readComponentLimits } from './spinet-limits.js';
import type { BuildConfig, ComponentLimits, VariableDecl } from './types.js';
import { formatKeyPath } from './manifest-diagnostics.js';
import type { KeyPath } from './toml-locator.js';
import { TableReader, describeTomlValue, isTable } from './table-reader.js';
import { envNameProblem, kebabIdProblem, storeLabelProblem, variableNameProblem } from './spin-ids.js';
import { checkTemplateReferences } from './variable-templates.js';

/** A component `source` as written: a file path is still relative to the manifest directory. */
export type DraftSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string; readonly digest: string }
  | { readonly kind: 'registry'; readonly registry?: string; readonly package: string; readonly version: string };

/** One entry of a component's `files`, as written. */
export type DraftFileMount =
  | { readonly kind: 'pattern'; readonly pattern: string }
  | { readonly kind: 'placement'; readonly source: string; readonly destination: string };

/** A validated `[component.<id>]` (or inline trigger component) whose paths are not resolved yet. */
export interface DraftComponent {
  readonly id: string;
  /** Where the component table is in the document (`['component', id]` or a trigger's `component`). */
  readonly path: KeyPath;
  readonly line?: number;
  readonly description?: string;
  readonly source: DraftSource;
  readonly files: readonly DraftFileMount[];
  readonly excludeFiles: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly allowedOutboundHosts: readonly string[];
  readonly keyValueStores: readonly string[];
  readonly sqliteDatabases: readonly string[];
  readonly aiModels: readonly string[];
  readonly variables: Readonly<Record<string, string>>;
  /** `workdir` still as written (relative to the manifest directory). */
  readonly build?: BuildConfig;
  readonly limits?: ComponentLimits;
}

const COMPONENT_KEYS = [
  'source', 'description', 'files', 'exclude_files', 'allowed_outbound_hosts', 'allowed_http_hosts',
  'key_value_stores', 'sqlite_databases', 'ai_models', 'environment', 'variables', 'build', 'tool',
  'dependencies', 'dependencies_inherit_configuration', 'targets', 'profile',
] as const;
const BUILD_KEYS = ['command', 'workdir', 'watch'] as const;
const SHA256_DIGEST = /^sha256:[0-9a-fA-F]{64}$/;

/** Validates one component table read through `reader`, whose id is `id`. */
export function readComponent(reader: TableReader, id: string, variables: Readonly<Record<string, VariableDecl>>): DraftComponent {
  const { diag } = reader;
  if (reader.has('allowed_http_hosts')) {
    throw diag.invalid(
      reader.at('allowed_http_hosts'),
      'allowed_http_hosts is deprecated and not supported',
      'Use allowed_outbound_hosts with a scheme on every entry, e.g. allowed_outbound_hosts = ["https://api.example.com"].',
    );
  }
  if (reader.has('dependencies')) {
    throw diag.invalid(
      reader.at('dependencies'),
      'component dependencies (composition) are not supported by spinet yet',
      'Compose the component ahead of time (e.g. with wac plug) and point source at the result, then remove dependencies.',
    );
  }
  reader.rejectUnknown(COMPONENT_KEYS);

  const source = readSource(reader);
  const description = reader.string('description');
  const files = readFiles(reader);
  const excludeFiles = reader.stringList('exclude_files', 'exclude_files = ["static/**/*.map"]');

  const allowedOutboundHosts = reader.stringList('allowed_outbound_hosts', 'allowed_outbound_hosts = ["https://api.example.com"]');
  allowedOutboundHosts.forEach((host, index) =>
    checkTemplateReferences(diag, [...reader.at('allowed_outbound_hosts'), index], host, variables, `allowed host "${host}"`),
  );

  const keyValueStores = readLabels(reader, 'key_value_stores');
  const sqliteDatabases = readLabels(reader, 'sqlite_databases');
  const aiModels = reader.stringList('ai_models', 'ai_models = ["llama2-chat"]');
  if (sqliteDatabases.length > 0) {
    diag.warn(reader.at('sqlite_databases'), 'spinet does not provide SQLite databases', 'Calls to open a database will fail; use key_value_stores instead.');
  }
  if (aiModels.length > 0) {
    diag.warn(reader.at('ai_models'), 'spinet does not provide AI models (LLM inferencing)', 'Calls to the LLM interface will fail.');
  }

  const environment: Record<string, string> = {};
  for (const [key, value] of reader.stringMap('environment', 'environment = { LOG_LEVEL = "info" }')) {
    const problem = envNameProblem(key);
    if (problem !== undefined) {
      throw diag.invalid([...reader.at('environment'), key], `invalid environment variable name "${key}": ${problem}`, 'Rename it, e.g. LOG_LEVEL.');
    }
    environment[key] = value;
  }

  const componentVariables: Record<string, string> = {};
  for (const [name, value] of reader.stringMap('variables', 'variables = { api_token = "{{ api_token }}" }')) {
    const path = [...reader.at('variables'), name];
    const problem = variableNameProblem(name);
    if (problem !== undefined) {
      throw diag.invalid(path, `invalid variable name "${name}": ${problem}`, 'Variable names are lower_snake_case, e.g. api_token.');
    }
    checkTemplateReferences(diag, path, value, variables, `component variable "${name}"`);
    componentVariables[name] = value;
  }

  const build = readBuild(reader);

  // Accepted for compatibility but without effect here.
  const inheritConfiguration = reader.get('dependencies_inherit_configuration');
  if (inheritConfiguration !== undefined && typeof inheritConfiguration !== 'boolean') {
    throw reader.typeError('dependencies_inherit_configuration', 'true or false', 'dependencies_inherit_configuration = true');
  }
  const targets = reader.get('targets');
  if (targets !== undefined && !Array.isArray(targets)) throw reader.typeError('targets', 'an array', 'targets = ["spin-up:3.3"]');
  const tool = reader.get('tool');
  if (tool !== undefined && !isTable(tool)) throw reader.typeError('tool', 'a table', `[component.${id}.tool.<name>]`);
  const limits = readComponentLimits(reader, id);
  const profile = reader.get('profile');
  if (profile !== undefined) {
    if (!isTable(profile)) throw reader.typeError('profile', 'a table', `[component.${id}.profile.debug]`);
    diag.warn(reader.at('profile'), 'build profiles are not supported by spinet', 'The default (anonymous) profile is used.');
  }

  const line = diag.exactLineOf(reader.path);
  return {
    id,
    path: reader.path,
    ...(line === undefined ? {} : { line }),
    ...(description === undefined ? {} : { description }),
    source,
    files,
    excludeFiles,
    environment,
    allowedOutboundHosts,
    keyValueStores,
    sqliteDatabases,
    aiModels,
    variables: componentVariables,
    ...(build === undefined ? {} : { build }),
    ...(limits === undefined ? {} : { limits }),
  };
}

function readLabels(reader: TableReader, key: 'key_value_stores' | 'sqlite_databases'): string[] {
  const labels = reader.stringList(key, `${key} = ["default"]`);
  labels.forEach((label, index) => {
    const problem = storeLabelProblem(label);
    if (problem !== undefined) {
      throw reader.diag.invalid([...reader.at(key), index], `invalid label "${label}": ${problem}`, 'Use a label like "default" or "user-sessions".');
    }
  });
  return labels;
}

function readSource(reader: TableReader): DraftSource {
  const { diag } = reader;
  const path = reader.at('source');
  const value = reader.get('source');
  if (value === undefined) {
    throw diag.invalid(path, `${reader.label} has no source`, 'Add source = "path/to/component.wasm" (relative to spin.toml).');
  }
  if (typeof value === 'string') {
    if (value.length === 0) throw diag.invalid(path, 'source is empty', 'Set it to the path of the component .wasm file, relative to spin.toml.');
    return { kind: 'file', path: value };
  }
  if (!isTable(value)) {
    throw reader.typeError('source', 'a path string or a table', 'source = "app.wasm", source = { url = "...", digest = "sha256:..." } or source = { package = "ns:name", version = "1.0.0" }');
  }
  const table = new TableReader(diag, value, path, `source of ${reader.label}`);
  if (table.has('url')) {
    table.rejectUnknown(['url', 'digest']);
    const url = table.requiredString('url', 'Add url = "https://..."');
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      throw diag.invalid(table.at('url'), `"${url}" is not an http(s) URL`, 'Use the full download URL, e.g. url = "https://example.com/app.wasm".');
    }
    const digest = table.requiredString('digest', 'Add digest = "sha256:<64 hex digits>" (the output of sha256sum on the file).');
    if (!SHA256_DIGEST.test(digest)) {
      throw diag.invalid(
        table.at('digest'),
        `digest "${digest}" is not "sha256:" followed by 64 hex digits`,
        'Compute it with `sha256sum file.wasm` and write digest = "sha256:<hash>".',
      );
    }
    // Normalised so the precompile cache keys on one spelling of a digest.
    return { kind: 'url', url, digest: digest.toLowerCase() };
  }
  if (table.has('package')) {
    table.rejectUnknown(['registry', 'package', 'version']);
    const registry = table.string('registry');
    const pkg = table.requiredString('package', 'Add package = "namespace:name".');
    const [namespace, name, ...extra] = pkg.split(':');
    if (namespace === undefined || name === undefined || extra.length > 0 || kebabIdProblem(namespace) !== undefined || kebabIdProblem(name) !== undefined) {
      throw diag.invalid(table.at('package'), `package "${pkg}" is not a package name`, 'Write it as package = "namespace:name", e.g. "spinframework:hello".');
    }
    const version = table.requiredString('version', 'Add version = "1.0.0".');
    return { kind: 'registry', ...(registry === undefined ? {} : { registry }), package: pkg, version };
  }
  throw diag.invalid(
    path,
    'a source table needs either url and digest, or package and version',
    'Write source = { url = "https://...", digest = "sha256:..." } or source = { registry = "ghcr.io", package = "ns:name", version = "1.0.0" }.',
  );
}

function readFiles(reader: TableReader): DraftFileMount[] {
  const value = reader.get('files');
  if (value === undefined) return [];
  const example = 'files = ["static/**/*", { source = "assets", destination = "/assets" }]';
  if (!Array.isArray(value)) throw reader.typeError('files', 'an array', example);
  return value.map((entry: unknown, index): DraftFileMount => {
    const path = [...reader.at('files'), index];
    if (typeof entry === 'string') return { kind: 'pattern', pattern: entry };
    if (!isTable(entry)) {
      throw reader.diag.invalid(path, `expected a glob string or a { source, destination } table, found ${describeTomlValue(entry)}`, `Write it as ${example}.`);
    }
    const mount = new TableReader(reader.diag, entry, path, `${reader.label} files entry`);
    mount.rejectUnknown(['source', 'destination']);
    const source = mount.requiredString('source', 'Add source = "dir-or-file" (relative to spin.toml).');
    const destination = mount.requiredString('destination', 'Add destination = "/absolute/guest/path".');
    return { kind: 'placement', source, destination };
  });
}

function readBuild(reader: TableReader): BuildConfig | undefined {
  const build = reader.subTable('build', `[${formatKeyPath(reader.path)}.build]`, `[${formatKeyPath(reader.path)}.build] with command = "..."`);
  if (build === undefined) return undefined;
  build.rejectUnknown(BUILD_KEYS);
  const raw = build.get('command');
  let command: string[];
  if (typeof raw === 'string') command = [raw];
  else if (Array.isArray(raw)) command = build.stringList('command', 'command = ["npm install", "npm run build"]');
  else if (raw === undefined) throw reader.diag.invalid(build.at('command'), `${build.label} is missing "command"`, 'Add command = "..." (or a list of commands run in order).');
  else throw build.typeError('command', 'a string or an array of strings', 'command = "cargo build --release"');
  const workdir = build.string('workdir');
  const watch = build.stringList('watch', 'watch = ["src/**/*"]');
  return { command, ...(workdir === undefined ? {} : { workdir }), watch };
}
