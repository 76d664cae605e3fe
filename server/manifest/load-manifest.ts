/**
 * The one way into a spin.toml: locate it, read it, parse it (smol-toml), validate it against Spin's
 * manifest v2 schema and resolve every path against the app root, producing a ResolvedApp. Any problem
 * is thrown as a SPINET_ERR_MANIFEST_* error naming the file, line, key and fix; nothing half-loads.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ManifestNotFoundError, ManifestSyntaxError } from '../errors.js';
import { resolveComponentSource } from './component-source.js';
import { resolveFileMounts } from './file-mounts.js';
import { ManifestDiagnostics } from './manifest-diagnostics.js';
import { validateManifest } from './manifest-schema.js';
import type { ManifestDraft } from './manifest-schema.js';
import { buildTomlLocator } from './toml-locator.js';
import type { ResolvedApp, ResolvedComponent } from './types.js';

/** The manifest's file name when a directory is given. */
export const MANIFEST_FILE_NAME = 'spin.toml';

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** Turns the user's argument into the manifest's absolute path and the spelling to show in messages. */
async function locateManifest(pathOrDir: string): Promise<{ manifestPath: string; displayPath: string }> {
  let info;
  try {
    info = await stat(pathOrDir);
  } catch (error) {
    throw new ManifestNotFoundError(
      `${pathOrDir}: no such file or directory. Pass the path of a spin.toml, or of the directory that contains it.`,
      { cause: error },
    );
  }
  if (!info.isDirectory()) return { manifestPath: path.resolve(pathOrDir), displayPath: pathOrDir };
  const displayPath = path.join(pathOrDir, MANIFEST_FILE_NAME);
  try {
    await stat(displayPath);
  } catch (error) {
    throw new ManifestNotFoundError(
      `${displayPath}: the directory ${pathOrDir} has no ${MANIFEST_FILE_NAME}. Pass the manifest file itself if it has another name, or create one (spinet new).`,
      { cause: error },
    );
  }
  return { manifestPath: path.resolve(displayPath), displayPath };
}

function parseToml(text: string, displayPath: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code block>"; keep both parts.
    const [first = '', ...rest] = error.message.split('\n');
    const reason = first.replace(/^Invalid TOML document:\s*/, '');
    const codeblock = rest.join('\n').trim();
    throw new ManifestSyntaxError(
      `${displayPath}:${error.line}: TOML syntax error at column ${error.column}: ${reason}. ` +
        `Fix the TOML at that position (quote strings, one key per line, no duplicate keys or tables).` +
        (codeblock.length > 0 ? `\n${codeblock}` : ''),
      { cause: error },
    );
  }
}

/** A validated manifest whose paths are not resolved yet (no file is checked): what `spinet build` reads. */
export interface ManifestDraftFile {
  /** Absolute path of the spin.toml. */
  readonly manifestPath: string;
  /** The path as the user spelled it, for messages. */
  readonly displayPath: string;
  readonly draft: ManifestDraft;
}

/**
 * Locates, reads, parses and validates a spin.toml without touching the files it names, so it works
 * before the components are built. Throws the same SPINET_ERR_MANIFEST_* errors as loadManifest.
 */
export async function readManifestDraft(pathOrDir: string): Promise<ManifestDraftFile> {
  const { manifestPath, displayPath, draft } = await readDraft(pathOrDir);
  return { manifestPath, displayPath, draft };
}

async function readDraft(pathOrDir: string): Promise<ManifestDraftFile & { diag: ManifestDiagnostics }> {
  const { manifestPath, displayPath } = await locateManifest(pathOrDir);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    throw new ManifestNotFoundError(
      `${displayPath}: the manifest cannot be read (${code ?? String(error)}). ${code === 'EISDIR' ? 'Pass the spin.toml file or its directory.' : 'Check that the file exists and is readable.'}`,
      { cause: error },
    );
  }
  // Editors on Windows may save a BOM, which TOML does not allow but users cannot see.
  if (text.startsWith('\uFEFF')) text = text.slice(1);

  const doc = parseToml(text, displayPath);
  const diag = new ManifestDiagnostics(displayPath, buildTomlLocator(text));
  return { manifestPath, displayPath, draft: validateManifest(doc, diag), diag };
}

/** Loads, validates and resolves a Spin manifest v2; `pathOrDir` is a spin.toml or a directory holding one. */
export async function loadManifest(pathOrDir: string): Promise<ResolvedApp> {
  const { manifestPath, draft, diag } = await readDraft(pathOrDir);

  // Realpath so that file mounts, which are confined to the root, compare against the real location.
  const root = await realpath(path.dirname(manifestPath));
  const components = new Map<string, ResolvedComponent>();
  // Sequential on purpose: the first problem reported is the first one in the manifest.
  for (const draftComponent of draft.components.values()) {
    const source = await resolveComponentSource(draftComponent, root, diag);
    const files = await resolveFileMounts(draftComponent, root, diag);
    const { build } = draftComponent;
    components.set(draftComponent.id, {
      id: draftComponent.id,
      ...(draftComponent.description === undefined ? {} : { description: draftComponent.description }),
      source,
      files,
      excludeFiles: draftComponent.excludeFiles,
      environment: draftComponent.environment,
      allowedOutboundHosts: draftComponent.allowedOutboundHosts,
      keyValueStores: draftComponent.keyValueStores,
      sqliteDatabases: draftComponent.sqliteDatabases,
      aiModels: draftComponent.aiModels,
      variables: draftComponent.variables,
      ...(build === undefined
        ? {}
        : { build: { ...build, ...(build.workdir === undefined ? {} : { workdir: path.resolve(root, build.workdir) }) } }),
      ...(draftComponent.limits === undefined ? {} : { limits: draftComponent.limits }),
      ...(draftComponent.line === undefined ? {} : { line: draftComponent.line }),
    });
  }

  return {
    manifestPath,
    root,
    name: draft.name,
    ...(draft.version === undefined ? {} : { version: draft.version }),
    ...(draft.description === undefined ? {} : { description: draft.description }),
    authors: draft.authors,
    variables: draft.variables,
    httpTriggers: draft.httpTriggers,
    redisTriggers: draft.redisTriggers,
    ...(draft.redisAddress === undefined ? {} : { redisAddress: draft.redisAddress }),
    ...(draft.limits === undefined ? {} : { limits: draft.limits }),
    components,
    warnings: diag.warnings,
  };
}
