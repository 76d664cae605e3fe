/**
 * Spin's identifier rules (spinframework/spin crates/serde/src/id.rs): component ids are KebabIds,
 * variable names LowerSnakeIds, key-value/SQLite labels kebab or snake. Each check returns a reason
 * string when the name is invalid, `undefined` when it is fine, so callers can build their own message.
 */

/**
 * Checks `id` against Spin's `Id<DELIM, LOWER>`: non-empty `delim`-separated words, each starting with an
 * ASCII letter, ASCII alphanumeric, each word all-lowercase or all-UPPERCASE (only lowercase if `lowerOnly`).
 */
function idProblem(id: string, delim: '-' | '_', lowerOnly: boolean): string | undefined {
  if (id.length === 0) return 'it is empty';
  // Spin special-cases the most common mistake, the other separator, with a pointed message.
  const wrong = delim === '-' ? '_' : '-';
  if (id.includes(wrong)) return `words must be separated with "${delim}", not "${wrong}"`;
  for (const word of id.split(delim)) {
    if (word.length === 0) return `"${delim}"-separated words must not be empty`;
    const first = word[0] ?? '';
    if (!/^[A-Za-z]$/.test(first)) return `"${delim}"-separated words must start with an ASCII letter; got "${first}"`;
    const upper = first >= 'A' && first <= 'Z';
    for (const ch of word.slice(1)) {
      if (/^[0-9]$/.test(ch)) continue;
      if (!/^[A-Za-z]$/.test(ch)) return `"${delim}"-separated words may only contain alphanumeric ASCII; got "${ch}"`;
      if ((ch >= 'A' && ch <= 'Z') !== upper) return `"${delim}"-separated words must be all lowercase or all UPPERCASE; got "${word}"`;
    }
    if (lowerOnly && upper) return `it must be all lowercase; got "${id}"`;
  }
  return undefined;
}

/** Why `id` is not a valid Spin component id (KebabId), or `undefined` if it is. */
export function kebabIdProblem(id: string): string | undefined {
  return idProblem(id, '-', false);
}

/** Why `name` is not a valid Spin variable name (LowerSnakeId), or `undefined` if it is. */
export function variableNameProblem(name: string): string | undefined {
  return idProblem(name, '_', true);
}

/** Why `label` is not a valid key-value store / SQLite database label (kebab-case or snake_case), or `undefined`. */
export function storeLabelProblem(label: string): string | undefined {
  if (idProblem(label, '-', false) === undefined || idProblem(label, '_', false) === undefined) return undefined;
  return 'labels must be kebab-case or snake_case (words of ASCII letters and digits, each starting with a letter)';
}

/**
 * Why `key` is not a portable environment variable name, or `undefined`. Spin itself accepts any string, but
 * names outside POSIX `[A-Za-z_][A-Za-z0-9_]*` cannot be read reliably by guest languages' env APIs.
 */
export function envNameProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
    return 'environment variable names must start with a letter or "_" and contain only ASCII letters, digits and "_"';
  }
  return undefined;
}
