/**
 * How manifest problems are worded: every error and warning about one spin.toml names the file, the line
 * (when the locator knows it), the key path and what to do, as
 * `<file>:<line>: <key path>: <what is wrong>. <how to fix>`.
 */
import {
  ManifestFilesError,
  ManifestInvalidError,
  ManifestSourceError,
} from '../errors.js';
import type { KeyPath, TomlLocator } from './toml-locator.js';

/** Renders a key path as a user would write it: `component.hello.files[1]`, quoting keys that need it. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
      out += out.length === 0 ? key : `.${key}`;
    }
  }
  return out;
}

/** Options for one problem: an explicit line overrides the locator's guess. */
export interface ProblemOptions {
  readonly line?: number;
  readonly cause?: unknown;
}

/** Words and raises the problems of one manifest file, and collects its warnings. */
export class ManifestDiagnostics {
  /** Non-fatal findings, already formatted, in the order found. */
  readonly warnings: string[] = [];

  constructor(
    /** The manifest path as the user gave it (so they recognise it). */
    readonly file: string,
    private readonly locator: TomlLocator,
  ) {}

  /** Line of `path` (or its nearest written ancestor), if known. */
  lineOf(path: KeyPath): number | undefined {
    return this.locator.lineOf(path);
  }

  /** Line where exactly `path` is written, if it is. */
  exactLineOf(path: KeyPath): number | undefined {
    return this.locator.exactLineOf(path);
  }

  /** Formats one problem; `what` has no trailing period, `fix` is one or more sentences. */
  format(path: KeyPath, what: string, fix: string, line?: number): string {
    const at = line ?? (path.length > 0 ? this.locator.lineOf(path) : undefined);
    const where = at === undefined ? this.file : `${this.file}:${at}`;
    const key = path.length > 0 ? ` ${formatKeyPath(path)}:` : '';
    return `${where}:${key} ${what}. ${fix}`;
  }

  /** A schema violation (SPINET_ERR_MANIFEST_INVALID). */
  invalid(path: KeyPath, what: string, fix: string, options: ProblemOptions = {}): Error {
    const message = this.format(path, what, fix, options.line);
    return options.cause === undefined ? new ManifestInvalidError(message) : new ManifestInvalidError(message, { cause: options.cause });
  }

  /** A component source problem (SPINET_ERR_MANIFEST_SOURCE). */
  source(path: KeyPath, what: string, fix: string, options: ProblemOptions = {}): Error {
    const message = this.format(path, what, fix, options.line);
    return options.cause === undefined ? new ManifestSourceError(message) : new ManifestSourceError(message, { cause: options.cause });
  }

  /** A `files` mount problem (SPINET_ERR_MANIFEST_FILES). */
  files(path: KeyPath, what: string, fix: string, options: ProblemOptions = {}): Error {
    const message = this.format(path, what, fix, options.line);
    return options.cause === undefined ? new ManifestFilesError(message) : new ManifestFilesError(message, { cause: options.cause });
  }

  /** Records a non-fatal finding. */
  warn(path: KeyPath, what: string, fix: string): void {
    this.warnings.push(this.format(path, what, fix));
  }
}

