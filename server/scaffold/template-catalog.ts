/**
 * The app templates behind `spinet new` and `spinet add`: data under server/templates/<id>/, found
 * relative to the package root (so they work from dist/ and from an installed package).
 *
 * A template directory holds:
 * - `template.json`: `{ "description": "...", "requires": ["redis" | "clang" ...] }`;
 * - `app.toml`: the head of a new app's spin.toml (`[application]`, `[variables]`);
 * - `component.toml`: the component's triggers and `[component.<id>]` tables, used by `new` and `add`;
 * - `component/`: the component's files (copied to the app root by `new`, to `<name>/` by `add`);
 * - `app/`: app-level files only `new` writes (README.md, package.json, tsconfig.json, .gitignore).
 * Text files may use `%{key}` placeholders (see TemplateValues); `{{ x }}` is left alone for Spin.
 */
import { mkdir, readFile, readdir, stat, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TemplateNameError, TemplateTargetError, TemplateUnknownError } from '../errors.js';
import { readManifestDraft } from '../manifest/load-manifest.js';
import { kebabIdProblem } from '../manifest/spin-ids.js';
import { GUEST_SDK_ENTRY, GUEST_TYPES_DIR } from '../build/guest-builder.js';

// Compiled to dist/server/scaffold/: three levels below the package root.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where the templates live: server/templates in the package (data, not compiled). */
export const TEMPLATES_DIR = path.join(packageRoot, 'server', 'templates');

/** What `spinet new --list` shows about a template. */
export interface TemplateInfo {
  readonly id: string;
  readonly description: string;
  /** Tools or services the app needs beyond spinet itself (`redis`, `clang`); `spinet doctor` checks them. */
  readonly requires: readonly string[];
}

/** The values `%{key}` placeholders are replaced with. */
interface TemplateValues {
  /** The component id (and, for `new`, the app name and directory name). */
  readonly name: string;
  /** The app's name. */
  readonly app: string;
  /** Prefix of the component's files relative to spin.toml: `""` for `new`, `"<name>/"` for `add`. */
  readonly dir: string;
  /** `workdir = "<name>"` line for `add` (with a newline), empty for `new`. */
  readonly workdir: string;
  /** The HTTP route: `/...` for `new`, `/<name>/...` for `add`. */
  readonly route: string;
  /** How the component names the Redis address: `{{ redis_address }}` when the app declares that variable. */
  readonly redis_address: string;
  /** Absolute path of spinet's guest SDK (for the app's tsconfig paths). */
  readonly sdk: string;
  /** Absolute path of spinet's guest type declarations. */
  readonly types: string;
}

/**
 * Why `name` cannot name an app or component, or undefined when it can: Spin's component id rule
 * (kebab-case, each word starting with a letter), lowercase only (it also names a directory and,
 * on a multi-tenant gateway, a host name label), at most 63 characters.
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > 63) return `it is ${name.length} characters long; the limit is 63 (it becomes a host name label)`;
  const bad = /[^a-z0-9-]/.exec(name);
  if (bad) return `it may contain only lowercase letters, digits and "-"; got "${bad[0]}"`;
  return kebabIdProblem(name);
}

function checkName(name: string, what: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    const suggestion = name
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .map((w) => w.replace(/^[0-9]+/, ''))
      .filter((w) => w.length > 0)
      .join('-')
      .slice(0, 63);
    throw new TemplateNameError(
      `"${name}" cannot be ${what}: ${problem}. Use lowercase kebab-case (Spin's component id rule), e.g. "${nameProblem(suggestion) === undefined ? suggestion : 'my-app'}".`,
    );
  }
}

/** All templates, sorted by id. */
export async function listTemplates(): Promise<TemplateInfo[]> {
  const out: TemplateInfo[] = [];
  for (const entry of await readdir(TEMPLATES_DIR, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(await readInfo(entry.name));
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

async function readInfo(id: string): Promise<TemplateInfo> {
  const raw = JSON.parse(await readFile(path.join(TEMPLATES_DIR, id, 'template.json'), 'utf8')) as { description?: unknown; requires?: unknown };
  return {
    id,
    description: typeof raw.description === 'string' ? raw.description : '',
    requires: Array.isArray(raw.requires) ? raw.requires.filter((r): r is string => typeof r === 'string') : [],
  };
}

/** The template `id`, or SPINET_ERR_TEMPLATE_UNKNOWN listing the ones that exist. */
export async function findTemplate(id: string): Promise<TemplateInfo> {
  const all = await listTemplates();
  const found = all.find((t) => t.id === id);
  if (found === undefined) {
    const close = all.filter((t) => t.id.includes(id) || id.includes(t.id.split('-')[0] ?? '')).map((t) => t.id);
    throw new TemplateUnknownError(
      `there is no template "${id}"${close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : ''}. Templates: ${all.map((t) => t.id).join(', ')}. ` +
        'Run "spinet new --list" to see what each one makes.',
    );
  }
  return found;
}

function render(text: string, values: TemplateValues, file: string): string {
  return text.replace(/%\{([a-z_]+)\}/g, (_, key: string) => {
    const value = (values as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'string') throw new Error(`template file ${file} uses an unknown placeholder %{${key}}`);
    return value;
  });
}

/** Copies `from` (recursively) to `to`, rendering placeholders; returns the written paths relative to `base`. */
async function copyRendered(from: string, to: string, values: TemplateValues, base: string): Promise<string[]> {
  const written: string[] = [];
  const entries = await readdir(from, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      written.push(...(await copyRendered(src, dst, values, base)));
    } else if (entry.isFile()) {
      await mkdir(path.dirname(dst), { recursive: true });
      await writeFile(dst, render(await readFile(src, 'utf8'), values, src), { flag: 'wx' });
      written.push(path.relative(base, dst));
    }
  }
  return written;
}

async function readTemplateText(id: string, file: string, values: TemplateValues): Promise<string> {
  const full = path.join(TEMPLATES_DIR, id, file);
  return render(await readFile(full, 'utf8'), values, full);
}

/** What `new` or `add` wrote. */
export interface ScaffoldResult {
  /** The app directory. */
  readonly appDir: string;
  readonly manifestPath: string;
  /** Files written (relative to appDir), spin.toml included. */
  readonly files: readonly string[];
  readonly template: TemplateInfo;
}

/** `spinet new`: a new app named `name` from `templateId` in `dir` (default ./<name>), which must not exist or be empty. */
export async function createApp(templateId: string, name: string, dir?: string): Promise<ScaffoldResult> {
  const template = await findTemplate(templateId);
  checkName(name, 'an app name');
  const appDir = path.resolve(dir ?? name);
  const existing = await readdir(appDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    if (error.code === 'ENOTDIR') return ['(a file)'];
    throw error;
  });
  if (existing !== undefined && existing.length > 0) {
    throw new TemplateTargetError(
      `${appDir} already exists and is not empty; spinet new does not overwrite. Pick another name, pass --dir to create the app elsewhere, or use "spinet add ${templateId} ${name}" inside an existing app.`,
    );
  }
  const values: TemplateValues = {
    name,
    app: name,
    dir: '',
    workdir: '',
    route: '/...',
    redis_address: '{{ redis_address }}',
    sdk: GUEST_SDK_ENTRY,
    types: GUEST_TYPES_DIR,
  };
  await mkdir(appDir, { recursive: true });
  const manifest = `${await readTemplateText(template.id, 'app.toml', values)}\n${await readTemplateText(template.id, 'component.toml', values)}`;
  const manifestPath = path.join(appDir, 'spin.toml');
  await writeFile(manifestPath, manifest, { flag: 'wx' });
  const files = ['spin.toml'];
  files.push(...(await copyRendered(path.join(TEMPLATES_DIR, template.id, 'app'), appDir, values, appDir)));
  files.push(...(await copyRendered(path.join(TEMPLATES_DIR, template.id, 'component'), appDir, values, appDir)));
  return { appDir, manifestPath, files, template };
}

/** `spinet add`: a component `name` from `templateId` into the app of `manifest` (a spin.toml or its directory). */
export async function addComponent(templateId: string, name: string, manifest = '.'): Promise<ScaffoldResult> {
  const template = await findTemplate(templateId);
  checkName(name, 'a component id');
  const { manifestPath, displayPath, draft } = await readManifestDraft(manifest);
  if (draft.components.has(name)) {
    throw new TemplateTargetError(`${displayPath} already has a component "${name}"; pick another name for the new component.`);
  }
  const appDir = path.dirname(manifestPath);
  const componentDir = path.join(appDir, name);
  if (await stat(componentDir).then(() => true, () => false)) {
    throw new TemplateTargetError(`${componentDir} already exists; spinet add puts the new component's files there. Pick another name, or move that directory.`);
  }
  const values: TemplateValues = {
    name,
    app: draft.name,
    dir: `${name}/`,
    workdir: `workdir = "${name}"\n`,
    route: `/${name}/...`,
    // An app made from the redis-ts template declares redis_address; otherwise use the local Redis.
    redis_address: 'redis_address' in draft.variables ? '{{ redis_address }}' : 'redis://127.0.0.1:6379',
    sdk: GUEST_SDK_ENTRY,
    types: GUEST_TYPES_DIR,
  };
  const snippet = await readTemplateText(template.id, 'component.toml', values);
  const files = await copyRendered(path.join(TEMPLATES_DIR, template.id, 'component'), componentDir, values, appDir);
  const current = await readFile(manifestPath, 'utf8');
  await appendFile(manifestPath, `${current.endsWith('\n') ? '' : '\n'}\n${snippet}`);
  // Validate what we wrote so a broken result is reported now, not at the next `spinet up`.
  await readManifestDraft(manifestPath);
  return { appDir, manifestPath, files: ['spin.toml', ...files], template };
}
