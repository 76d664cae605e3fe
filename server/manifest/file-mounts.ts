/**
 * Resolves a component's `files` / `exclude_files` into the exact list of host files its guest may read,
 * following Spin's loader (spinframework/spin crates/loader/src/local.rs `copy_glob_or_path`,
 * `copy_file_or_directory`) but without copying: every host path is a realpath inside the app root, and
 * anything that would escape it (`..`, absolute patterns, symlinks pointing out) is an error, never a skip.
 */
import { realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import type { glob as Glob, isDynamicPattern as IsDynamicPattern } from 'tinyglobby';
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import type { DraftComponent, DraftFileMount } from './component-schema.js';
import type { KeyPath } from './toml-locator.js';
import type { MountedFile } from './types.js';

const FILES_DOC = 'See https://spinframework.dev/writing-apps#including-files-with-components.';

/** A candidate file before its realpath is checked. */
interface Candidate {
  /** Posix path relative to the app root, as matched (symlinks not followed): what exclude_files sees. */
  readonly relative: string;
  readonly guestPath: string;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function isInside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Normalises a relative path or pattern to posix form without a leading `./`. */
function toPosixRelative(value: string): string {
  return path.posix.normalize(value.split(path.sep).join('/')).replace(/^(\.\/)+/, '');
}

function escapesRoot(normalised: string): boolean {
  return normalised === '..' || normalised.startsWith('../');
}

/** Everything a component's files resolve against. */
interface MountContext {
  readonly component: DraftComponent;
  readonly root: string;
  readonly diag: ManifestDiagnostics;
  readonly isExcluded: (relative: string) => boolean;
  readonly glob: typeof Glob;
  readonly isDynamicPattern: typeof IsDynamicPattern;
}

// The glob libraries load for the first component with `files`: most components mount none, and
// every gateway's start-up would pay for loading them.
let globbing: Promise<{ picomatch: typeof import('picomatch'); glob: typeof Glob; isDynamicPattern: typeof IsDynamicPattern }> | undefined;
function loadGlobbing(): NonNullable<typeof globbing> {
  globbing ??= Promise.all([import('picomatch'), import('tinyglobby')]).then(([p, t]) => ({ picomatch: p.default, glob: t.glob, isDynamicPattern: t.isDynamicPattern }));
  return globbing;
}

/**
 * Resolves `component.files` against `root` (the realpath of the manifest directory). The result is sorted
 * by guest path; when two entries map the same guest path, the later one wins (as Spin's copies do).
 */
export async function resolveFileMounts(component: DraftComponent, root: string, diag: ManifestDiagnostics): Promise<MountedFile[]> {
  if (component.files.length === 0) return [];
  const { picomatch, glob, isDynamicPattern } = await loadGlobbing();
  const excludes = component.excludeFiles.map((pattern, index) => {
    if (path.isAbsolute(pattern)) {
      throw diag.files(
        [...component.path, 'exclude_files', index],
        `exclude_files pattern "${pattern}" is absolute`,
        'exclude_files patterns are relative to the app root (the directory of spin.toml), e.g. "static/**/*.map".',
      );
    }
    const normalised = toPosixRelative(pattern);
    const matches = picomatch(normalised, { dot: true });
    // A slash-free pattern like "*.map" also matches in subdirectories, close to Spin's glob crate where
    // `*` crosses "/" (picomatch's own `basename` option also changes how patterns with slashes match).
    return normalised.includes('/') ? matches : (relative: string) => matches(relative) || matches(path.posix.basename(relative));
  });
  const context: MountContext = {
    component,
    root,
    diag,
    isExcluded: (relative) => excludes.some((matches) => matches(relative)),
    glob,
    isDynamicPattern,
  };

  const byGuestPath = new Map<string, MountedFile>();
  for (const [index, mount] of component.files.entries()) {
    const keyPath = [...component.path, 'files', index];
    let files: MountedFile[];
    try {
      files = await resolveMount(context, mount, keyPath);
    } catch (error) {
      if (String(errorCode(error)).startsWith('SPINET_ERR_')) throw error;
      // Permission problems and the like while walking the tree: still name the entry.
      throw diag.files(keyPath, `files entry cannot be read (${errorCode(error) ?? String(error)})`, 'Check that the files and directories are readable.', { cause: error });
    }
    for (const file of files) {
      const earlier = byGuestPath.get(file.guestPath);
      if (earlier !== undefined && earlier.hostPath !== file.hostPath) {
        diag.warn(keyPath, `guest path ${file.guestPath} is mounted twice (${earlier.hostPath} and ${file.hostPath})`, 'The later entry wins; remove one of them.');
      }
      byGuestPath.set(file.guestPath, file);
    }
  }
  return [...byGuestPath.values()].sort((a, b) => (a.guestPath < b.guestPath ? -1 : a.guestPath > b.guestPath ? 1 : 0));
}

async function resolveMount(context: MountContext, mount: DraftFileMount, keyPath: KeyPath): Promise<MountedFile[]> {
  const candidates = mount.kind === 'pattern' ? await expandPattern(context, mount.pattern, keyPath) : await expandPlacement(context, mount, keyPath);
  const entry = mount.kind === 'pattern' ? `"${mount.pattern}"` : `{ source = "${mount.source}", destination = "${mount.destination}" }`;
  const files: MountedFile[] = [];
  for (const candidate of candidates) {
    const file = await confine(context, candidate, keyPath, entry);
    if (file !== undefined) files.push(file);
  }
  return files;
}

/** A plain `files` string: a file, a directory (all files under it) or a glob, each keeping its relative path. */
async function expandPattern(context: MountContext, pattern: string, keyPath: KeyPath): Promise<Candidate[]> {
  const { diag, root } = context;
  const what = (reason: string): string => `files entry "${pattern}" ${reason}`;
  if (pattern === '..' || pattern.endsWith('/..') || pattern === '.' || pattern.endsWith('/.')) {
    throw diag.files(
      keyPath,
      what(`ends in "${pattern.endsWith('..') ? '..' : '.'}"`),
      `To include a directory, name it (e.g. "static"), use a glob ending in /**/*, or use { source = "dir", destination = "/dir" }. ${FILES_DOC}`,
    );
  }
  if (path.isAbsolute(pattern) || path.posix.isAbsolute(pattern)) {
    throw diag.files(keyPath, what('is an absolute path'), `Patterns are relative to the app root (the directory of spin.toml); write e.g. "static/**/*". ${FILES_DOC}`);
  }
  const normalised = toPosixRelative(pattern);
  if (escapesRoot(normalised)) {
    throw diag.files(keyPath, what('points outside the app root'), `Only files inside the directory of spin.toml can be mounted; move them inside it. ${FILES_DOC}`);
  }
  if (pattern === '*' || pattern === '**/*') {
    diag.warn(
      keyPath,
      `the component includes the entire application directory${pattern === '*' ? '' : ' tree'} as files`,
      `This is unlikely to be what you want; if it is, write "./${pattern}" to silence this warning.`,
    );
  }

  const host = path.join(root, normalised);
  const info = await statOrUndefined(host);
  if (info?.isDirectory()) {
    const matches = await context.glob('**/*', { cwd: host, dot: true, onlyFiles: true, followSymbolicLinks: true, expandDirectories: false });
    return matches
      .map((match) => path.posix.join(normalised, match))
      .filter((relative) => !context.isExcluded(relative))
      .map((relative) => ({ relative, guestPath: `/${relative}` }));
  }
  if (info !== undefined) {
    // A file named explicitly is not subject to exclude_files, as in Spin.
    return [{ relative: normalised, guestPath: `/${normalised}` }];
  }
  if (!context.isDynamicPattern(pattern)) {
    throw diag.files(keyPath, what("does not exist and doesn't look like a glob pattern"), `Fix the path (it is relative to spin.toml) or create the file. ${FILES_DOC}`);
  }
  const matches = await context.glob(normalised, { cwd: root, dot: true, onlyFiles: true, followSymbolicLinks: true, expandDirectories: false });
  return matches
    .map((match) => toPosixRelative(match))
    .filter((relative) => !context.isExcluded(relative))
    .map((relative) => ({ relative, guestPath: `/${relative}` }));
}

/** `{ source, destination }`: a directory's contents under `destination`, or one file at `destination`. */
async function expandPlacement(
  context: MountContext,
  mount: Extract<DraftFileMount, { kind: 'placement' }>,
  keyPath: KeyPath,
): Promise<Candidate[]> {
  const { diag, root } = context;
  const { source, destination } = mount;
  if (!destination.startsWith('/')) {
    throw diag.files(
      [...keyPath, 'destination'],
      `destination "${destination}" is not an absolute guest path`,
      `Start it with "/", e.g. destination = "/${destination.replace(/^\.?\/*/, '')}".`,
    );
  }
  if (path.isAbsolute(source) || path.posix.isAbsolute(source)) {
    throw diag.files([...keyPath, 'source'], `source "${source}" is an absolute path`, `It must be relative to the app root (the directory of spin.toml). ${FILES_DOC}`);
  }
  const normalised = toPosixRelative(source);
  if (escapesRoot(normalised)) {
    throw diag.files([...keyPath, 'source'], `source "${source}" points outside the app root`, `Only files inside the directory of spin.toml can be mounted; move them inside it. ${FILES_DOC}`);
  }
  const host = path.join(root, normalised);
  const info = await statOrUndefined(host);
  if (info === undefined) {
    throw diag.files([...keyPath, 'source'], `source "${source}" does not exist`, 'Fix the path (it is relative to spin.toml) or create it.');
  }
  const guestRoot = path.posix.normalize(destination);
  if (info.isDirectory()) {
    const matches = await context.glob('**/*', { cwd: host, dot: true, onlyFiles: true, followSymbolicLinks: true, expandDirectories: false });
    return matches
      .map((match) => ({ match, relative: path.posix.join(normalised, match) }))
      .filter(({ relative }) => !context.isExcluded(relative))
      .map(({ match, relative }) => ({ relative, guestPath: path.posix.join(guestRoot, match) }));
  }
  if (destination.endsWith('/') || destination.endsWith('/.') || destination.endsWith('/..')) {
    throw diag.files(
      [...keyPath, 'destination'],
      `destination "${destination}" is not a valid file name for the single file "${source}"`,
      `Name the file, e.g. destination = "${path.posix.join(guestRoot, path.posix.basename(normalised))}".`,
    );
  }
  return [{ relative: normalised, guestPath: guestRoot }];
}

/** Follows symlinks and insists the real file is a regular file inside the app root. */
async function confine(context: MountContext, candidate: Candidate, keyPath: KeyPath, entry: string): Promise<MountedFile | undefined> {
  const { diag, root } = context;
  const host = path.join(root, candidate.relative);
  let real: string;
  try {
    real = await realpath(host);
  } catch (error) {
    throw diag.files(keyPath, `files entry ${entry} matches "${candidate.relative}", which cannot be resolved (${errorCode(error) ?? String(error)}; a broken symlink?)`, 'Fix or remove the file.', { cause: error });
  }
  if (!isInside(root, real)) {
    throw diag.files(
      keyPath,
      `files entry ${entry} matches "${candidate.relative}", which resolves to ${real}, outside the app root ${root}`,
      `Files (and symlink targets) must be inside the directory of spin.toml; copy the file in or remove the symlink. ${FILES_DOC}`,
    );
  }
  const info = await stat(real);
  // Globs only yield files; an explicitly named special file (socket, device) is skipped like a directory.
  if (!info.isFile()) return undefined;
  return { guestPath: candidate.guestPath, hostPath: real };
}
