/**
 * Typed, path-aware reads from one parsed TOML table: every wrong type or unknown key becomes a
 * ManifestInvalidError that names the key path and line, so the schema code reads like the schema.
 */
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import type { KeyPath } from './toml-locator.js';

/** A parsed TOML table (smol-toml returns null-prototype plain objects). */
export type Table = Record<string, unknown>;

/** True for a TOML table (not an array, not a date). */
export function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Names the TOML type of `value` for messages ("a string", "an array", ...). */
export function describeTomlValue(value: unknown): string {
  if (typeof value === 'string') return `a string ("${value}")`;
  if (typeof value === 'number' || typeof value === 'bigint') return `a number (${String(value)})`;
  if (typeof value === 'boolean') return `a boolean (${String(value)})`;
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (isTable(value)) return 'a table';
  return 'an unsupported value';
}

/** The candidate closest to `word` if it is plausibly a typo of it (a few edits, or a prefix). */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined || lower.length < 3) return best;
  // "status" for "status_code": a truncated key is a typo too.
  return candidates.find((candidate) => candidate.toLowerCase().startsWith(lower) || lower.startsWith(candidate.toLowerCase()));
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("rotue" → "route" is 1). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(value);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** Reads the keys of one table, reporting problems against its key path. */
export class TableReader {
  constructor(
    readonly diag: ManifestDiagnostics,
    readonly table: Table,
    /** Where this table sits in the document, e.g. `['component', 'hello']`. */
    readonly path: KeyPath,
    /** How users write this table, for messages, e.g. `[component.hello]`. */
    readonly label: string,
  ) {}

  /** Key path of `key` in this table. */
  at(key: string | number): KeyPath {
    return [...this.path, key];
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    return Object.hasOwn(this.table, key);
  }

  /** The raw value of `key`. */
  get(key: string): unknown {
    return this.has(key) ? this.table[key] : undefined;
  }

  /** Keys of this table, in document order. */
  keys(): string[] {
    return Object.keys(this.table);
  }

  /** Throws on the first key not in `known` (Spin's `deny_unknown_fields`). */
  rejectUnknown(known: readonly string[]): void {
    for (const key of this.keys()) {
      if (known.includes(key)) continue;
      const guess = closestMatch(key, known);
      const hint = guess === undefined ? '' : `Did you mean "${guess}"? `;
      throw this.diag.invalid(
        this.at(key),
        `unknown key "${key}" in ${this.label}`,
        `${hint}Remove it or use one of: ${known.join(', ')}.`,
      );
    }
  }

  /** A type error for `key`: expected `expected`, e.g. `name = "value"`. */
  typeError(key: string | number, expected: string, example: string, value: unknown = this.get(String(key))): Error {
    return this.diag.invalid(
      this.at(key),
      `expected ${expected}, found ${describeTomlValue(value)}`,
      `Write it as ${example}.`,
    );
  }

  /** An optional string. */
  string(key: string, example = `${key} = "..."`): string | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw this.typeError(key, 'a string', example);
    return value;
  }

  /** A required string; `fix` says what to write when it is missing. */
  requiredString(key: string, fix: string): string {
    const value = this.string(key);
    if (value === undefined) throw this.diag.invalid(this.at(key), `${this.label} is missing "${key}"`, fix);
    return value;
  }

  /** An optional boolean. */
  boolean(key: string): boolean | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw this.typeError(key, 'true or false', `${key} = true`);
    return value;
  }

  /** An optional array of strings (empty when absent). */
  stringList(key: string, example = `${key} = ["..."]`): string[] {
    const value = this.get(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw this.typeError(key, 'an array of strings', example);
    return value.map((item: unknown, index) => {
      if (typeof item !== 'string') {
        throw this.diag.invalid(
          [...this.at(key), index],
          `expected a string, found ${describeTomlValue(item)}`,
          `Write it as ${example}.`,
        );
      }
      return item;
    });
  }

  /** An optional table of string values (empty when absent), in document order. */
  stringMap(key: string, example = `${key} = { NAME = "value" }`): Array<[string, string]> {
    const value = this.get(key);
    if (value === undefined) return [];
    if (!isTable(value)) throw this.typeError(key, 'a table of strings', example);
    return Object.entries(value).map(([name, item]) => {
      if (typeof item !== 'string') {
        throw this.diag.invalid(
          [...this.at(key), name],
          `expected a string, found ${describeTomlValue(item)}`,
          `Quote the value, e.g. ${name} = "${typeof item === 'number' || typeof item === 'boolean' ? String(item) : '...'}".`,
        );
      }
      return [name, item];
    });
  }

  /** An optional sub-table, as a reader. */
  subTable(key: string, label: string, example: string): TableReader | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!isTable(value)) throw this.typeError(key, 'a table', example);
    return new TableReader(this.diag, value, this.at(key), label);
  }
}
