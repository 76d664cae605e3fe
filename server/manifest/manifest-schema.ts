/**
 * Spin manifest v2 schema validation (spinframework/spin crates/manifest/src/schema/v2.rs): turns the
 * parsed TOML into a ManifestDraft, checking every shape, id and cross-reference, but touching no file.
 * This file owns the top level, `[application]` and `[variables]`; components and triggers have their own.
 */
import { readAppLimits } from './spinet-limits.js';
import type { AppLimits, ResolvedApp, VariableDecl } from './types.js';
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import { TableReader, describeTomlValue, isTable, type Table } from './table-reader.js';
import { kebabIdProblem, variableNameProblem } from './spin-ids.js';
import { checkTemplateReferences } from './variable-templates.js';
import { readComponent, type DraftComponent } from './component-schema.js';
import { readTriggers } from './trigger-schema.js';

export type { DraftComponent, DraftFileMount, DraftSource } from './component-schema.js';

/**
 * A manifest that passed schema validation; only the filesystem checks remain. It is the resolved
 * app's shape before paths, sources and warnings are resolved, so the two cannot drift apart.
 */
export interface ManifestDraft extends Omit<ResolvedApp, 'manifestPath' | 'root' | 'components' | 'warnings'> {
  /** In document order: `[component.*]` tables first, then inline trigger components. */
  readonly components: ReadonlyMap<string, DraftComponent>;
}

const TOP_LEVEL_KEYS = ['spin_manifest_version', 'application', 'variables', 'trigger', 'component'] as const;
const APPLICATION_KEYS = ['name', 'version', 'description', 'authors', 'targets', 'trigger', 'tool'] as const;
const VARIABLE_KEYS = ['description', 'required', 'default', 'secret'] as const;

const V1_FIX =
  'spinet reads only manifest version 2. Convert it: set spin_manifest_version = 2, move name/version/' +
  'description/authors under [application], turn each [[component]] with id = "x" into [component.x], and ' +
  'replace each component\'s [component.trigger] route = "/r" with a [[trigger.http]] entry: ' +
  'route = "/r" and component = "x" (see https://spinframework.dev/manifest-reference).';

/** Validates a parsed spin.toml against Spin's manifest v2 schema. Throws the first problem found. */
export function validateManifest(doc: Table, diag: ManifestDiagnostics): ManifestDraft {
  checkVersion(doc, diag);
  const top = new TableReader(diag, doc, [], 'the top level of the manifest');
  top.rejectUnknown(TOP_LEVEL_KEYS);

  const application = readApplication(top, diag);
  const variables = readVariables(top, diag);
  if (application.redisAddress !== undefined) {
    checkTemplateReferences(diag, ['application', 'trigger', 'redis', 'address'], application.redisAddress, variables, 'address');
  }
  const components = readComponents(top, diag, variables);
  const { httpTriggers, redisTriggers } = readTriggers(top, diag, variables, components, application.redisAddress);

  return {
    name: application.name,
    ...(application.version === undefined ? {} : { version: application.version }),
    ...(application.description === undefined ? {} : { description: application.description }),
    authors: application.authors,
    variables,
    httpTriggers,
    redisTriggers,
    ...(application.redisAddress === undefined ? {} : { redisAddress: application.redisAddress }),
    ...(application.limits === undefined ? {} : { limits: application.limits }),
    components,
  };
}

// ── version ───────────────────────────────────────────────────────────────────────

function checkVersion(doc: Table, diag: ManifestDiagnostics): void {
  const hasV2Key = Object.hasOwn(doc, 'spin_manifest_version');
  // Spin's version probe also accepts the old `spin_version` spelling.
  const key = hasV2Key ? 'spin_manifest_version' : 'spin_version';
  const version = Object.hasOwn(doc, key) ? doc[key] : undefined;
  if (version === 2 && hasV2Key) return;
  if (version === '1' || version === 1) {
    throw diag.invalid([key], `this is a version 1 manifest (${key} = ${JSON.stringify(version)})`, V1_FIX);
  }
  if (version === undefined) {
    const looksV1 = Array.isArray(doc['component']);
    throw diag.invalid(
      ['spin_manifest_version'],
      'the manifest version is missing',
      looksV1 ? `This looks like a version 1 manifest ([[component]]). ${V1_FIX}` : 'Add spin_manifest_version = 2 as the first line.',
    );
  }
  if (version === 2) {
    throw diag.invalid([key], 'the manifest version key is spelled "spin_version"', 'Write spin_manifest_version = 2.');
  }
  throw diag.invalid(
    [key],
    `unsupported manifest version ${typeof version === 'string' ? JSON.stringify(version) : typeof version === 'number' ? String(version) : describeTomlValue(version)}`,
    'spinet reads Spin manifest version 2: write spin_manifest_version = 2 (an integer, not a string).',
  );
}

// ── [application] ───────────────────────────────────────────────────────────────────

interface ApplicationDetails {
  name: string;
  version?: string;
  description?: string;
  authors: string[];
  redisAddress?: string;
  limits?: AppLimits;
}

function readApplication(top: TableReader, diag: ManifestDiagnostics): ApplicationDetails {
  const app = top.subTable('application', '[application]', '[application] with name = "my-app"');
  if (app === undefined) {
    throw diag.invalid(['application'], 'the [application] table is missing', 'Add [application] with at least name = "my-app".');
  }
  app.rejectUnknown(APPLICATION_KEYS);
  const name = app.requiredString('name', 'Add name = "my-app" under [application].');
  const version = app.string('version');
  const description = app.string('description');
  const authors = app.stringList('authors', 'authors = ["you@example.com"]');
  const targets = app.get('targets');
  if (targets !== undefined && !Array.isArray(targets)) throw app.typeError('targets', 'an array', 'targets = ["spin-up:3.3"]');
  // [application.tool.*] is for external tools; Spin ignores it, and spinet reads its own tool.spinet.
  const tool = app.get('tool');
  if (tool !== undefined && !isTable(tool)) throw app.typeError('tool', 'a table', '[application.tool.<name>]');
  const limits = readAppLimits(app);

  let redisAddress: string | undefined;
  const triggerSettings = app.subTable('trigger', '[application.trigger]', '[application.trigger.redis] with address = "redis://localhost:6379"');
  for (const type of triggerSettings?.keys() ?? []) {
    const settings = triggerSettings?.subTable(type, `[application.trigger.${type}]`, `[application.trigger.${type}]`);
    if (settings === undefined) continue;
    if (type === 'redis') {
      settings.rejectUnknown(['address']);
      redisAddress = settings.requiredString('address', 'Add address = "redis://host:6379", or remove [application.trigger.redis].');
    } else if (type === 'http') {
      settings.rejectUnknown(['base']);
      const base = settings.string('base');
      if (base === '/') {
        diag.warn(settings.at('base'), 'the deprecated trigger "base" is set to the default "/"', 'Remove it; it has no effect.');
      } else if (base !== undefined) {
        // Spin 3 removed base prefixes; silently ignoring it would move every route.
        throw diag.invalid(
          settings.at('base'),
          `the deprecated trigger "base" (${JSON.stringify(base)}) is not supported`,
          `The base must be prepended to each [[trigger.http]]'s route (e.g. route = "${base.replace(/\/+$/, '')}/..."), then remove base.`,
        );
      }
    } else {
      diag.warn(settings.path, `settings for trigger type "${type}" are ignored`, 'spinet runs only http and redis triggers.');
    }
  }
  return {
    name,
    ...(version === undefined ? {} : { version }),
    ...(description === undefined ? {} : { description }),
    authors,
    ...(redisAddress === undefined ? {} : { redisAddress }),
    ...(limits === undefined ? {} : { limits }),
  };
}

// ── [variables] ─────────────────────────────────────────────────────────────────────

function readVariables(top: TableReader, diag: ManifestDiagnostics): Record<string, VariableDecl> {
  const table = top.subTable('variables', '[variables]', '[variables] with name = { default = "value" }');
  const out: Record<string, VariableDecl> = {};
  for (const name of table?.keys() ?? []) {
    const path = ['variables', name];
    const problem = variableNameProblem(name);
    if (problem !== undefined) {
      throw diag.invalid(path, `invalid variable name "${name}": ${problem}`, 'Variable names are lower_snake_case, e.g. api_token.');
    }
    const raw = table?.get(name);
    if (!isTable(raw)) {
      throw diag.invalid(
        path,
        `expected a table, found ${describeTomlValue(raw)}`,
        `Write it as ${name} = { default = ${typeof raw === 'string' ? JSON.stringify(raw) : '"value"'} } or ${name} = { required = true }.`,
      );
    }
    const variable = new TableReader(diag, raw, path, `variable "${name}"`);
    variable.rejectUnknown(VARIABLE_KEYS);
    const required = variable.boolean('required') ?? false;
    const defaultValue = variable.string('default', 'default = "value"');
    const description = variable.string('description');
    const secret = variable.boolean('secret') ?? false;
    // Spin: "must be `required` OR have a `default`" (crates/loader/src/local.rs).
    if (required && defaultValue !== undefined) {
      throw diag.invalid(path, `variable "${name}" is both required and has a default`, 'Keep exactly one: required = true (the value must be supplied at runtime) or default = "...".');
    }
    if (!required && defaultValue === undefined) {
      throw diag.invalid(path, `variable "${name}" is neither required nor has a default`, `Add required = true or default = "...", e.g. ${name} = { default = "value" }.`);
    }
    out[name] = {
      ...(description === undefined ? {} : { description }),
      required,
      ...(defaultValue === undefined ? {} : { default: defaultValue }),
      secret,
    };
  }
  return out;
}

// ── [component.*] ───────────────────────────────────────────────────────────────────

function readComponents(top: TableReader, diag: ManifestDiagnostics, variables: Readonly<Record<string, VariableDecl>>): Map<string, DraftComponent> {
  const raw = top.get('component');
  if (Array.isArray(raw)) {
    throw diag.invalid(['component'], '[[component]] (an array of components) is the version 1 layout', V1_FIX);
  }
  const table = top.subTable('component', '[component]', '[component.my-component] with source = "app.wasm"');
  const components = new Map<string, DraftComponent>();
  for (const id of table?.keys() ?? []) {
    const path = ['component', id];
    const problem = kebabIdProblem(id);
    if (problem !== undefined) {
      throw diag.invalid(path, `invalid component id "${id}": ${problem}`, `Component ids are kebab-case, e.g. [component.${suggestKebab(id)}].`);
    }
    const value = table?.get(id);
    if (!isTable(value)) {
      throw diag.invalid(path, `expected a table, found ${describeTomlValue(value)}`, `Write it as [component.${id}] with source = "app.wasm".`);
    }
    components.set(id, readComponent(new TableReader(diag, value, path, `[component.${id}]`), id, variables));
  }
  return components;
}

function suggestKebab(id: string): string {
  const kebab = id
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^[^A-Za-z]+/, '')
    .replace(/-+$/, '')
    .toLowerCase();
  return kebab.length > 0 ? kebab : 'my-component';
}
