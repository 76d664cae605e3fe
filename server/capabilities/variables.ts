/**
 * Spin application variables (spinframework/spin crates/expressions, crates/variables, crates/variables-env):
 * resolves every `[variables]` entry once at startup from the providers, in Spin's order (first value wins):
 *
 *   1. `--variable` values from the CLI (`name=value`, `name=@file`, `@file.json`, `@file.toml`);
 *   2. the runtime config's providers, in order (`env` with a prefix and optional dotenv file, `static`);
 *   3. the implicit env provider Spin always appends: `SPIN_VARIABLE_<NAME>`, then `<cwd>/.env`;
 *   4. the variable's `default`.
 *
 * A required variable no provider resolves fails startup with one error that lists them all. Component
 * variables (`[component.x.variables]`) are templates over the app variables (`"https://{{ host }}/v1"`),
 * expanded per component; a guest sees only its own names. Values of `secret = true` variables never
 * appear in errors, `JSON.stringify` or `util.inspect`, and `redact()` scrubs them from log text.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import type { ResolvedApp, ResolvedComponent, VariableDecl } from '../manifest/types.js';
import { scanTemplate } from '../manifest/variable-templates.js';

/** Every failure of variable resolution: bad `--variable`, unreadable files, missing required values, bad templates. */
import { VariablesError } from '../errors.js';
export { VariablesError };

/** An `env` provider from the runtime config: `{prefix}_{NAME}` from the environment, then from `dotenvPath`. */
export interface EnvProviderConfig {
  readonly type: 'env';
  readonly prefix: string;
  /** A dotenv file consulted when the environment lacks the key (relative to `cwd`). A missing file is fine. */
  readonly dotenvPath?: string;
}

/** A `static` provider from the runtime config: fixed values by variable name. */
export interface StaticProviderConfig {
  readonly type: 'static';
  readonly values: Readonly<Record<string, string>>;
}

export type VariableProviderConfig = EnvProviderConfig | StaticProviderConfig;

/** Where variable values come from. Nothing here reads `process.env` or `process.cwd()` itself. */
export interface VariableSources {
  /** Raw `--variable` arguments, in command-line order (a later one wins over an earlier one). */
  readonly cliValues?: readonly string[];
  /** Runtime-config providers, consulted in order after the CLI values. */
  readonly providers?: readonly VariableProviderConfig[];
  /** The process environment (pass `process.env`; tests pass a plain object). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory of the default `.env` and of relative `@file` / `dotenvPath` paths. */
  readonly cwd: string;
}

/** Spin's `variables.get` result, shaped like the WIT `result<string, error>` jco expects. */
export type VariableGetResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly error: { readonly tag: 'invalid-name' | 'undefined'; readonly val: string } };

/** One component's view of the variables: only the names in its `[component.x.variables]`. */
export interface ComponentVariables {
  /** Spin's `variables.get`: the value, `invalid-name` if `name` is not a valid key, `undefined` if not the component's. */
  get(name: string): VariableGetResult;
  /** The component's variable names. */
  readonly names: readonly string[];
}

/** The prefix of the env provider Spin always appends (crates/variables-env `DEFAULT_ENV_PREFIX`). */
export const DEFAULT_ENV_PREFIX = 'SPIN_VARIABLE';
const REDACTED = '[redacted]';

/** The environment variable an env provider with `prefix` reads for `name` (Spin: `{prefix}_{NAME}`). */
export function envKeyFor(prefix: string, name: string): string {
  return `${prefix}_${name.toUpperCase()}`;
}

/**
 * Why `name` is not a valid variable key for `variables.get`, or `undefined`. This is Spin's `Key::validate`
 * (crates/expressions/src/lib.rs), which is looser than the manifest's LowerSnakeId (`api_2` is a valid key).
 */
export function variableKeyProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  const invalid = [...name].find((c) => !/^[a-z0-9_]$/.test(c));
  if (invalid !== undefined) {
    return `invalid character ${JSON.stringify(invalid)}. Variable names may contain only lower-case letters, numbers, and underscores.`;
  }
  if (!/^[a-z]/.test(name)) return 'must start with a lowercase ASCII letter';
  if (!/[a-z0-9]$/.test(name)) return 'must end with a lowercase ASCII letter or digit';
  if (name.includes('__')) return 'must not contain multiple consecutive underscores';
  return undefined;
}

/**
 * Expands a Spin template (`{{ name }}`, whitespace trimmed; everything else literal) with `lookup`.
 * Throws VariablesError for an unmatched `{{` or a name `lookup` does not know (never for a value).
 */
export function expandTemplate(template: string, lookup: (name: string) => string | undefined): string {
  const scan = scanTemplate(template);
  if (!scan.ok) throw new VariablesError(`Invalid variable template: ${scan.problem}`);
  let out = '';
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      out += rest;
      break;
    }
    out += rest.slice(0, open);
    const afterOpen = rest.slice(open + 2);
    const close = afterOpen.indexOf('}}'); // scanTemplate guarantees a match
    const name = afterOpen.slice(0, close).trim();
    const value = lookup(name);
    if (value === undefined) throw new VariablesError(`Template "${template}" refers to variable "${name}", which is not declared in [variables]`);
    out += value;
    rest = afterOpen.slice(close + 2);
  }
  return out;
}

// ── dotenv ──────────────────────────────────────────────────────────────────────

/**
 * Parses a dotenv file the way Spin's dotenvy does for the cases that matter: `KEY=VALUE` lines, blank lines
 * and `#` comments, an optional `export ` prefix, `'single'` (literal) and `"double"` quotes (escapes `\n`,
 * `\r`, `\t`, `\\`, `\"`, `\$`; may span lines), and ` # comments` after unquoted values. A later key wins.
 * Errors name the file and line, never a value. No `$VAR` substitution.
 */
export function parseDotenv(text: string, source: string): Map<string, string> {
  const out = new Map<string, string>();
  const src = text.replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (why: string): never => {
    throw new VariablesError(`Invalid dotenv file ${source}, line ${line}: ${why}`);
  };
  const skipBlanks = (): void => {
    while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;
  };
  const skipRestOfLine = (allowComment: boolean): void => {
    skipBlanks();
    if (i < src.length && src[i] === '#' && allowComment) {
      while (i < src.length && src[i] !== '\n') i++;
    }
    if (i < src.length && src[i] !== '\n') fail('unexpected characters after the value');
    if (i < src.length) {
      i++;
      line++;
    }
  };
  while (i < src.length) {
    skipBlanks();
    if (i >= src.length) break;
    if (src[i] === '\n') {
      i++;
      line++;
      continue;
    }
    if (src[i] === '#') {
      skipRestOfLine(true);
      continue;
    }
    if (src.startsWith('export', i) && (src[i + 6] === ' ' || src[i + 6] === '\t')) {
      i += 6;
      skipBlanks();
    }
    const keyMatch = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i, i + 1024));
    if (keyMatch === null) fail('expected KEY=VALUE');
    const key = keyMatch?.[0] ?? '';
    i += key.length;
    skipBlanks();
    // The name is not echoed: a line without "=" may be a pasted value.
    if (src[i] !== '=') fail('expected KEY=VALUE (no "=" after the name)');
    i++;
    const valueStart = i;
    skipBlanks();
    const quote = src[i];
    let value = '';
    if (quote === "'" || quote === '"') {
      const startLine = line;
      i++;
      let closed = false;
      while (i < src.length) {
        const ch = src[i] ?? '';
        if (ch === quote) {
          closed = true;
          i++;
          break;
        }
        if (ch === '\n') line++;
        if (quote === '"' && ch === '\\' && i + 1 < src.length) {
          const next = src[i + 1] ?? '';
          const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$', "'": "'" };
          value += Object.hasOwn(escapes, next) ? escapes[next] : `\\${next}`;
          if (next === '\n') line++;
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      if (!closed) {
        line = startLine;
        fail(`unterminated ${quote === '"' ? 'double' : 'single'}-quoted value for ${key}`);
      }
      skipRestOfLine(true);
    } else {
      // Unquoted: up to the end of the line; a '#' after whitespace starts a comment (`KEY=#fff` keeps its '#').
      const end = src.indexOf('\n', i);
      const raw = src.slice(valueStart, end < 0 ? src.length : end);
      i = end < 0 ? src.length : end + 1;
      line++;
      const comment = /[ \t]#/.exec(raw);
      value = (comment === null ? raw : raw.slice(0, comment.index)).trim();
    }
    out.set(key, value);
  }
  return out;
}

// ── providers ───────────────────────────────────────────────────────────────────

/** A source of values by variable name: `undefined` means "not mine, ask the next one". */
interface Provider {
  get(name: string): Promise<string | undefined>;
}

function staticProvider(values: ReadonlyMap<string, string>): Provider {
  return { get: async (name) => values.get(name) };
}

function envProvider(prefix: string, env: VariableSources['env'], dotenvPath: string | undefined): Provider {
  let dotenv: Promise<Map<string, string>> | undefined;
  const loadDotenv = async (file: string): Promise<Map<string, string>> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // Spin ignores a dotenv file it cannot find (a configured one too).
      if (isNodeError(err) && err.code === 'ENOENT') return new Map();
      throw new VariablesError(`Cannot read dotenv file ${file}: ${describeFsError(err)}`);
    }
    return parseDotenv(text, file);
  };
  return {
    async get(name) {
      const key = envKeyFor(prefix, name);
      // Like Spin, an empty variable is a value; only an absent one falls through to the dotenv file.
      if (Object.hasOwn(env, key) && env[key] !== undefined) return env[key];
      if (dotenvPath === undefined) return undefined;
      dotenv ??= loadDotenv(dotenvPath);
      return (await dotenv).get(key);
    },
  };
}

function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

function describeFsError(err: unknown): string {
  if (isNodeError(err)) return err.code ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

// ── --variable ──────────────────────────────────────────────────────────────────

const CLI_SYNTAX = 'expected "name=value", "name=@file", "@file.json" or "@file.toml"';

async function readCliFile(cwd: string, file: string, what: string): Promise<string> {
  const full = path.resolve(cwd, file);
  try {
    return await readFile(full, 'utf8');
  } catch (err) {
    throw new VariablesError(`${what}: cannot read ${full}: ${describeFsError(err)}`);
  }
}

/** Reads a `@file.json` / `@file.toml`: a flat table of string values. */
async function readValuesFile(cwd: string, file: string, position: number): Promise<[string, string][]> {
  const what = `--variable #${position} (@${file})`;
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.toml') {
    throw new VariablesError(`${what}: a values file must end in .json or .toml; to read one variable from a file use name=@${file}`);
  }
  const text = await readCliFile(cwd, file, what);
  let parsed: unknown;
  try {
    parsed = ext === '.json' ? JSON.parse(text) : parseToml(text);
  } catch (err) {
    // Parser messages may quote the offending text, which may be a secret: keep only the kind and location.
    const where = err instanceof Error && 'line' in err && typeof err.line === 'number' ? ` (line ${err.line})` : '';
    throw new VariablesError(`${what}: not valid ${ext === '.json' ? 'JSON' : 'TOML'}${where}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new VariablesError(`${what}: expected an object of variable names to string values`);
  }
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') {
      throw new VariablesError(`${what}: the value of "${name}" must be a string, got ${Array.isArray(value) ? 'an array' : typeof value}`);
    }
    entries.push([name, value]);
  }
  return entries;
}

/** Parses `--variable` arguments into name → value; every name must be a declared app variable. */
async function parseCliValues(args: readonly string[], variables: Readonly<Record<string, VariableDecl>>, cwd: string): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const declared = Object.keys(variables);
  const checkDeclared = (name: string, what: string): void => {
    if (Object.hasOwn(variables, name)) return;
    const keyProblem = variableKeyProblem(name);
    const hint = keyProblem === undefined ? '' : ` (variable names are lower_snake_case: ${keyProblem})`;
    const list = declared.length === 0 ? 'The app declares no variables.' : `Declared variables: ${declared.join(', ')}.`;
    throw new VariablesError(`${what} sets "${name}", which is not declared in [variables]${hint}. ${list}`);
  };
  for (const [index, arg] of args.entries()) {
    const position = index + 1;
    if (arg.startsWith('@')) {
      const file = arg.slice(1);
      if (file.length === 0) throw new VariablesError(`--variable #${position}: ${CLI_SYNTAX}; "@" needs a file name`);
      for (const [name, value] of await readValuesFile(cwd, file, position)) {
        checkDeclared(name, `--variable #${position} (@${file})`);
        values.set(name, value);
      }
      continue;
    }
    const eq = arg.indexOf('=');
    // The argument is not echoed: a mistyped "name:secret" would otherwise put the secret in the message.
    if (eq < 0) throw new VariablesError(`--variable #${position}: ${CLI_SYNTAX}`);
    const name = arg.slice(0, eq);
    if (name.length === 0) throw new VariablesError(`--variable #${position}: ${CLI_SYNTAX}; the name before "=" is empty`);
    checkDeclared(name, `--variable #${position}`);
    const raw = arg.slice(eq + 1);
    values.set(name, raw.startsWith('@') ? await readCliFile(cwd, raw.slice(1), `--variable ${name}=@${raw.slice(1)}`) : raw);
  }
  return values;
}

// ── resolution ──────────────────────────────────────────────────────────────────

/** All app variables with their values, resolved once. Values live in private fields: printing shows names only. */
export class ResolvedVariables {
  readonly #appName: string;
  readonly #values: ReadonlyMap<string, string>;
  readonly #secretNames: ReadonlySet<string>;
  /** Every non-empty secret value plus its JSON-escaped form, longest first; matched by one regex. */
  readonly #secretPattern: RegExp | undefined;
  readonly #secretValueCount: number;

  /** @internal Use resolveVariables(). */
  constructor(appName: string, values: ReadonlyMap<string, string>, secretNames: ReadonlySet<string>) {
    this.#appName = appName;
    this.#values = values;
    this.#secretNames = secretNames;
    const secrets = new Set<string>();
    for (const name of secretNames) {
      const value = values.get(name);
      if (value === undefined || value.length === 0) continue;
      secrets.add(value);
    }
    this.#secretValueCount = secrets.size;
    // Log lines are often JSON: a secret with a quote or newline appears escaped there.
    for (const value of [...secrets]) secrets.add(JSON.stringify(value).slice(1, -1));
    const sorted = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
    this.#secretPattern = sorted.length === 0 ? undefined : new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
  }

  /** App-level value by name (undefined if the app declares no such variable). */
  app(name: string): string | undefined {
    return this.#values.get(name);
  }

  /** The declared variable names, in declaration order. */
  get names(): readonly string[] {
    return [...this.#values.keys()];
  }

  /** Number of distinct non-empty values of `secret = true` variables that redact() hides. */
  get secretCount(): number {
    return this.#secretValueCount;
  }

  /** Whether `template` references a secret variable (so its expansion must be treated as secret too). */
  usesSecret(template: string): boolean {
    const scan = scanTemplate(template);
    return scan.ok && scan.variables.some((name) => this.#secretNames.has(name));
  }

  /** Expands a `{{ var }}` template with the app values. Throws VariablesError naming an unknown variable. */
  expand(template: string): string {
    return expandTemplate(template, (name) => this.#values.get(name));
  }

  /** A component's variables: name → value (templates expanded now, so a bad template fails here, not per request). */
  forComponent(component: Pick<ResolvedComponent, 'id' | 'variables'>): ComponentVariables {
    const values = new Map<string, string>();
    for (const [name, template] of Object.entries(component.variables)) {
      try {
        values.set(name, this.expand(template));
      } catch (err) {
        if (!(err instanceof VariablesError)) throw err;
        throw new VariablesError(`Component "${component.id}" variable "${name}": ${err.message}`);
      }
    }
    return new ComponentVariableView(component.id, values);
  }

  /** Replaces every occurrence of a secret value in `text` with `[redacted]`. */
  redact(text: string): string {
    if (this.#secretPattern === undefined) return text;
    return text.replace(this.#secretPattern, REDACTED);
  }

  toJSON(): { app: string; variables: readonly string[]; secretCount: number } {
    return { app: this.#appName, variables: this.names, secretCount: this.secretCount };
  }

  [inspect.custom](): string {
    return `ResolvedVariables { app: ${JSON.stringify(this.#appName)}, variables: [${this.names.join(', ')}], secretCount: ${this.secretCount} }`;
  }
}

class ComponentVariableView implements ComponentVariables {
  readonly #componentId: string;
  readonly #values: ReadonlyMap<string, string>;
  readonly names: readonly string[];

  constructor(componentId: string, values: ReadonlyMap<string, string>) {
    this.#componentId = componentId;
    this.#values = values;
    this.names = Object.freeze([...values.keys()]);
  }

  get(name: string): VariableGetResult {
    // Messages as Spin's expressions crate words them (Error::InvalidName / Error::Undefined payloads).
    const problem = variableKeyProblem(name);
    if (problem !== undefined) return { ok: false, error: { tag: 'invalid-name', val: `${JSON.stringify(name)}: ${problem}` } };
    const value = this.#values.get(name);
    if (value === undefined) {
      return { ok: false, error: { tag: 'undefined', val: `no variable for ${JSON.stringify(this.#componentId)}.${JSON.stringify(name)}` } };
    }
    return { ok: true, value };
  }

  toJSON(): { component: string; variables: readonly string[] } {
    return { component: this.#componentId, variables: this.names };
  }

  [inspect.custom](): string {
    return `ComponentVariables { component: ${JSON.stringify(this.#componentId)}, variables: [${this.names.join(', ')}] }`;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Resolves every app variable from `sources` (see the module comment for the order). Throws one
 * VariablesError listing every required variable that nothing resolved, with how to set each.
 */
export async function resolveVariables(app: Pick<ResolvedApp, 'variables' | 'name'>, sources: VariableSources): Promise<ResolvedVariables> {
  const providers: Provider[] = [];
  const cli = await parseCliValues(sources.cliValues ?? [], app.variables, sources.cwd);
  if (cli.size > 0) providers.push(staticProvider(cli));
  for (const config of sources.providers ?? []) {
    if (config.type === 'static') {
      providers.push(staticProvider(new Map(Object.entries(config.values))));
    } else {
      const dotenv = config.dotenvPath === undefined ? undefined : path.resolve(sources.cwd, config.dotenvPath);
      providers.push(envProvider(config.prefix, sources.env, dotenv));
    }
  }
  providers.push(envProvider(DEFAULT_ENV_PREFIX, sources.env, path.join(sources.cwd, '.env')));

  const values = new Map<string, string>();
  const secretNames = new Set<string>();
  const missing: string[] = [];
  for (const [name, decl] of Object.entries(app.variables)) {
    if (decl.secret) secretNames.add(name);
    let value: string | undefined;
    for (const provider of providers) {
      value = await provider.get(name);
      if (value !== undefined) break;
    }
    value ??= decl.default;
    if (value === undefined) missing.push(name);
    else values.set(name, value);
  }
  if (missing.length > 0) {
    const lines = missing.map((name) => `  - ${name}: export ${envKeyFor(DEFAULT_ENV_PREFIX, name)}=...  or  --variable ${name}=...`);
    const noun = missing.length === 1 ? 'variable has' : 'variables have';
    throw new VariablesError(
      `App "${app.name}": ${missing.length} required ${noun} no value. Set each one (environment, .env file, --variable or a runtime-config provider):\n${lines.join('\n')}`,
    );
  }
  return new ResolvedVariables(app.name, values, secretNames);
}
