/**
 * Schema of `[[trigger.http]]` (spinframework/spin crates/http/src/config.rs, crates/routes) and
 * `[[trigger.redis]]` (crates/trigger-redis): component references or inline components, routes carried
 * through as written, static responses, executors, and Spin's generated trigger/inline-component ids.
 */
import type { HttpTrigger, RedisTrigger, StaticResponse, VariableDecl } from './types.js';
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import { TableReader, describeTomlValue, isTable } from './table-reader.js';
import { kebabIdProblem } from './spin-ids.js';
import { checkTemplateReferences } from './variable-templates.js';
import { readComponent, type DraftComponent } from './component-schema.js';

const HTTP_TRIGGER_KEYS = ['route', 'component', 'static_response', 'executor', 'id', 'components', 'dependencies'] as const;
const REDIS_TRIGGER_KEYS = ['channel', 'component', 'address', 'id', 'components', 'dependencies'] as const;
const STATIC_RESPONSE_KEYS = ['status_code', 'headers', 'body'] as const;
const SUPPORTED_TRIGGERS = ['http', 'redis'] as const;

/** RFC 9110 token: what Node accepts as a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface RawTrigger {
  readonly type: string;
  readonly index: number;
  readonly reader: TableReader;
  id: string;
}

/** Validates every `[[trigger.*]]`, adding inline components to `components`. */
export function readTriggers(
  top: TableReader,
  diag: ManifestDiagnostics,
  variables: Readonly<Record<string, VariableDecl>>,
  components: Map<string, DraftComponent>,
  redisAddress: string | undefined,
): { httpTriggers: HttpTrigger[]; redisTriggers: RedisTrigger[] } {
  const triggers = top.subTable('trigger', '[trigger]', '[[trigger.http]] with route and component');
  if (triggers === undefined || triggers.keys().length === 0) {
    throw diag.invalid(['trigger'], 'the manifest has no triggers', 'Add at least one [[trigger.http]] with route = "/..." and component = "<id>".');
  }
  const raw: RawTrigger[] = [];
  for (const type of triggers.keys()) {
    const entries = triggers.get(type);
    if (!(SUPPORTED_TRIGGERS as readonly string[]).includes(type)) {
      throw diag.invalid(
        triggers.at(type),
        `trigger type "${type}" is not supported by spinet`,
        `spinet runs [[trigger.http]] and [[trigger.redis]]; remove the [[trigger.${type}]] entries or run this app with Spin and the ${type} trigger plugin.`,
      );
    }
    if (!Array.isArray(entries)) {
      throw diag.invalid(triggers.at(type), `expected an array of tables, found ${describeTomlValue(entries)}`, `Write each trigger as [[trigger.${type}]] (double brackets).`);
    }
    entries.forEach((entry: unknown, index) => {
      const path = ['trigger', type, index];
      if (!isTable(entry)) throw diag.invalid(path, `expected a table, found ${describeTomlValue(entry)}`, `Write each trigger as a [[trigger.${type}]] table.`);
      const reader = new TableReader(diag, entry, path, `[[trigger.${type}]] #${index + 1}`);
      raw.push({ type, index, reader, id: reader.string('id', 'id = "my-trigger"') ?? '' });
    });
  }

  assignTriggerIds(raw);
  const httpTriggers: HttpTrigger[] = [];
  const redisTriggers: RedisTrigger[] = [];
  for (const trigger of raw) {
    if (trigger.type === 'http') httpTriggers.push(readHttpTrigger(trigger, variables, components));
    else redisTriggers.push(readRedisTrigger(trigger, variables, components, redisAddress));
  }
  warnDuplicateRoutes(diag, httpTriggers);
  return { httpTriggers, redisTriggers };
}

/** Spin's normalize_trigger_ids: `<component>-<type>-trigger`, else `<type>-trigger<N>` (used for inline component ids). */
function assignTriggerIds(triggers: RawTrigger[]): void {
  const taken = new Set(triggers.map((t) => t.id).filter((id) => id.length > 0));
  const counters = new Map<string, number>();
  for (const trigger of triggers) {
    if (trigger.id.length > 0) continue;
    const component = trigger.reader.get('component');
    if (typeof component === 'string') {
      const candidate = `${component}-${trigger.type}-trigger`;
      if (!taken.has(candidate)) {
        trigger.id = candidate;
        taken.add(candidate);
        continue;
      }
    }
    let counter = counters.get(trigger.type) ?? 1;
    while (taken.has(`${trigger.type}-trigger${counter}`)) counter++;
    trigger.id = `${trigger.type}-trigger${counter}`;
    taken.add(trigger.id);
    counters.set(trigger.type, counter);
  }
}

/** Resolves a trigger's `component`: a reference to `[component.<id>]`, or an inline table given Spin's generated id. */
function readTriggerComponent(
  trigger: RawTrigger,
  variables: Readonly<Record<string, VariableDecl>>,
  components: Map<string, DraftComponent>,
): string {
  const { reader } = trigger;
  const { diag } = reader;
  const value = reader.get('component');
  const path = reader.at('component');
  if (typeof value === 'string') {
    const problem = kebabIdProblem(value);
    if (problem !== undefined) {
      throw diag.invalid(path, `invalid component id "${value}": ${problem}`, 'Component ids are kebab-case, e.g. component = "my-component".');
    }
    if (!components.has(value)) {
      const known = [...components.keys()];
      throw diag.invalid(
        path,
        `component "${value}" is not defined`,
        `Add a [component.${value}] table or fix the id${known.length > 0 ? ` (defined: ${known.join(', ')})` : ''}.`,
      );
    }
    return value;
  }
  if (!isTable(value)) {
    throw reader.typeError('component', 'a component id or an inline component table', 'component = "my-component"', value);
  }
  // Spin's normalize_inline_components: "<trigger-id>-component", else the first free "inline-componentN".
  let id = `${trigger.id}-component`;
  if (kebabIdProblem(id) !== undefined || components.has(id)) {
    let counter = 1;
    while (components.has(`inline-component${counter}`)) counter++;
    id = `inline-component${counter}`;
  }
  components.set(id, readComponent(new TableReader(diag, value, path, `inline component of ${reader.label}`), id, variables));
  return id;
}

function rejectTriggerExtras(reader: TableReader): void {
  for (const key of ['components', 'dependencies']) {
    if (reader.has(key)) {
      throw reader.diag.invalid(
        reader.at(key),
        `trigger ${key} (middleware and trigger-level dependencies) are not supported by spinet yet`,
        `Remove ${key} from ${reader.label}.`,
      );
    }
  }
}

function readHttpTrigger(
  trigger: RawTrigger,
  variables: Readonly<Record<string, VariableDecl>>,
  components: Map<string, DraftComponent>,
): HttpTrigger {
  const { reader, index } = trigger;
  const { diag } = reader;
  reader.rejectUnknown(HTTP_TRIGGER_KEYS);
  rejectTriggerExtras(reader);
  readExecutor(reader);

  const hasComponent = reader.has('component');
  const hasStatic = reader.has('static_response');
  if (hasComponent && hasStatic) {
    throw diag.invalid(reader.path, `${reader.label} has both component and static_response`, 'Keep exactly one: a trigger either runs a component or returns a static response.');
  }
  if (!hasComponent && !hasStatic) {
    throw diag.invalid(reader.path, `${reader.label} has neither component nor static_response`, 'Add component = "<id>" (or static_response = { status_code = 200, body = "..." }).');
  }
  const component = hasComponent ? readTriggerComponent(trigger, variables, components) : undefined;
  const staticResponse = hasStatic ? readStaticResponse(reader) : undefined;
  const route = readRoute(reader, component);
  const line = diag.exactLineOf(reader.path);
  return {
    index,
    route,
    ...(component === undefined ? {} : { component }),
    ...(staticResponse === undefined ? {} : { staticResponse }),
    ...(line === undefined ? {} : { line }),
  };
}

function readExecutor(reader: TableReader): void {
  const executor = reader.subTable('executor', `${reader.label} executor`, 'executor = { type = "http" }');
  if (executor === undefined) return;
  const type = executor.requiredString('type', 'Write executor = { type = "http" } or remove executor.');
  if (type === 'wagi') {
    throw reader.diag.invalid(
      executor.at('type'),
      'the Wagi executor is not supported by spinet (wagi not supported; Spin is deprecating it too)',
      'Rebuild the component for the wasi:http incoming-handler world (e.g. with a Spin SDK) and remove executor.',
    );
  }
  if (type !== 'http' && type !== 'spin') {
    throw reader.diag.invalid(executor.at('type'), `unknown executor type "${type}"`, 'Use executor = { type = "http" } (the default), or remove executor.');
  }
  executor.rejectUnknown(['type']);
}

function readRoute(reader: TableReader, component: string | undefined): HttpTrigger['route'] {
  const { diag } = reader;
  const value = reader.get('route');
  if (value === undefined) {
    throw diag.invalid(reader.at('route'), `${reader.label} has no route`, 'Add route = "/path" (or route = { private = true } for a component reached only by service chaining).');
  }
  if (typeof value === 'string') return value;
  if (!isTable(value)) throw reader.typeError('route', 'a route string or { private = true }', 'route = "/api/..."');
  const route = new TableReader(diag, value, reader.at('route'), `${reader.label} route`);
  route.rejectUnknown(['private']);
  const isPrivate = route.boolean('private');
  if (isPrivate === true) return { private: true };
  const who = component === undefined ? 'the static response' : `component "${component}"`;
  throw diag.invalid(
    reader.at('route'),
    `route must be a string pattern or { private = true }, but the trigger for ${who} has ${isPrivate === false ? '{ private = false }' : 'a table without private = true'}`,
    'Use route = { private = true } to make it reachable only by service chaining, or give it a route such as route = "/path".',
  );
}

function readStaticResponse(reader: TableReader): StaticResponse {
  const { diag } = reader;
  const value = reader.get('static_response');
  if (!isTable(value)) throw reader.typeError('static_response', 'a table', 'static_response = { status_code = 404, body = "not found" }');
  const response = new TableReader(diag, value, reader.at('static_response'), `${reader.label} static_response`);
  // Spin ignores unknown keys here; we reject them because a typo (e.g. `status`) would silently serve 200.
  response.rejectUnknown(STATIC_RESPONSE_KEYS);
  const status = response.get('status_code');
  let statusCode = 200;
  if (status !== undefined) {
    if (typeof status !== 'number' || !Number.isInteger(status)) throw response.typeError('status_code', 'an integer', 'status_code = 404');
    if (status < 100 || status > 599) {
      throw diag.invalid(response.at('status_code'), `status_code ${status} is not an HTTP status`, 'Use a status between 100 and 599.');
    }
    statusCode = status;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of response.stringMap('headers', 'headers = { location = "/new" }')) {
    if (!HEADER_NAME.test(name)) {
      throw diag.invalid([...response.at('headers'), name], `"${name}" is not a valid HTTP header name`, 'Header names are tokens such as content-type or x-my-header.');
    }
    if (/[\r\n\0]/.test(value)) {
      throw diag.invalid([...response.at('headers'), name], `the value of header "${name}" contains a line break or NUL`, 'Put the value on one line.');
    }
    headers[name] = value;
  }
  const body = response.string('body', 'body = "text"');
  return { statusCode, headers, ...(body === undefined ? {} : { body }) };
}

function warnDuplicateRoutes(diag: ManifestDiagnostics, triggers: readonly HttpTrigger[]): void {
  const seen = new Map<string, HttpTrigger>();
  for (const trigger of triggers) {
    if (typeof trigger.route !== 'string') continue;
    const earlier = seen.get(trigger.route);
    if (earlier !== undefined) {
      diag.warn(
        ['trigger', 'http', trigger.index, 'route'],
        `route "${trigger.route}" is also used by [[trigger.http]] #${earlier.index + 1}${earlier.line === undefined ? '' : ` (line ${earlier.line})`}`,
        'The later trigger wins, as in Spin; remove one of them.',
      );
    }
    seen.set(trigger.route, trigger);
  }
}

function readRedisTrigger(
  trigger: RawTrigger,
  variables: Readonly<Record<string, VariableDecl>>,
  components: Map<string, DraftComponent>,
  defaultAddress: string | undefined,
): RedisTrigger {
  const { reader, index } = trigger;
  const { diag } = reader;
  reader.rejectUnknown(REDIS_TRIGGER_KEYS);
  rejectTriggerExtras(reader);
  const channel = reader.requiredString('channel', 'Add channel = "my-channel".');
  checkTemplateReferences(diag, reader.at('channel'), channel, variables, 'channel');
  if (!reader.has('component')) {
    throw diag.invalid(reader.at('component'), `${reader.label} has no component`, 'Add component = "<id>" naming the component that handles the messages.');
  }
  const component = readTriggerComponent(trigger, variables, components);
  const address = reader.string('address', 'address = "redis://localhost:6379"');
  if (address !== undefined) checkTemplateReferences(diag, reader.at('address'), address, variables, 'address');
  if (address === undefined && defaultAddress === undefined) {
    throw diag.invalid(
      reader.path,
      `${reader.label} has no Redis address`,
      'Set address = "redis://host:6379" on the trigger, or a default under [application.trigger.redis] address = "redis://host:6379".',
    );
  }
  const line = diag.exactLineOf(reader.path);
  return { index, channel, component, ...(address === undefined ? {} : { address }), ...(line === undefined ? {} : { line }) };
}
