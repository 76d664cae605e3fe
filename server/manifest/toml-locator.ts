/**
 * Finds the 1-based line where a key path (`component.hello.source`, `trigger.http[2]`) is written in a TOML
 * document. smol-toml returns plain values without positions, so validation messages need this second,
 * structural pass over the source text. It runs only on text smol-toml already accepted, and is best
 * effort: when it cannot place a path it says so (`undefined`) rather than guess.
 */

/** One step of a key path: a table key or an array index. */
export type KeySegment = string | number;

/** A path from the document root to a value, e.g. `['trigger', 'http', 0, 'route']`. */
export type KeyPath = readonly KeySegment[];

/** Line lookup over one TOML document. */
export interface TomlLocator {
  /** Line of `path` itself, or `undefined` if it is not written in the document (e.g. a missing key). */
  exactLineOf(path: KeyPath): number | undefined;
  /** Line of `path`, else of its nearest written ancestor (a missing key points at its table header). */
  lineOf(path: KeyPath): number | undefined;
}

const BARE_KEY_CHAR = /[A-Za-z0-9_-]/;

function pathKey(path: KeyPath): string {
  return JSON.stringify(path);
}

/** A single forward pass over TOML text recording where each table header, key and array element starts. */
class LineScanner {
  private pos = 0;
  private line = 1;
  /** Array-of-tables headers seen so far: path → number of elements. */
  private readonly arrayTables = new Map<string, number>();

  constructor(
    private readonly text: string,
    private readonly lines: Map<string, number>,
  ) {}

  scan(): void {
    let table: KeySegment[] = [];
    while (this.pos < this.text.length) {
      this.skipBlank(true);
      if (this.pos >= this.text.length) break;
      const start = this.pos;
      const startLine = this.line;
      if (this.text.startsWith('[[', this.pos)) {
        this.advance(2);
        const segments = this.parseKey();
        const parent = this.resolveTablePath(segments.slice(0, -1));
        const last = segments[segments.length - 1];
        if (last !== undefined) {
          const full = [...parent, last];
          const count = this.arrayTables.get(pathKey(full)) ?? 0;
          this.arrayTables.set(pathKey(full), count + 1);
          // The array itself is defined where its first element is.
          this.record(full, startLine);
          table = [...full, count];
          this.record(table, startLine);
        }
      } else if (this.peek() === '[') {
        this.advance(1);
        table = this.resolveTablePath(this.parseKey());
        this.record(table, startLine);
      } else {
        const segments = this.parseKey();
        this.skipSpaces();
        if (this.peek() === '=') {
          this.advance(1);
          this.skipSpaces();
          this.recordDotted(table, segments, startLine);
          this.parseValue([...table, ...segments]);
        }
      }
      this.skipRestOfLine();
      // Guarantee progress on anything this scanner does not understand.
      if (this.pos === start) this.advance(1);
    }
  }

  /** Appends the current element index after every prefix that names an array of tables. */
  private resolveTablePath(segments: readonly string[]): KeySegment[] {
    const out: KeySegment[] = [];
    for (const segment of segments) {
      out.push(segment);
      const count = this.arrayTables.get(pathKey(out));
      if (count !== undefined) out.push(count - 1);
    }
    return out;
  }

  private record(path: KeyPath, line: number): void {
    const key = pathKey(path);
    // The first place a path appears is where the user defined it.
    if (!this.lines.has(key)) this.lines.set(key, line);
  }

  private recordDotted(base: KeyPath, segments: readonly string[], line: number): void {
    for (let n = 1; n <= segments.length; n++) this.record([...base, ...segments.slice(0, n)], line);
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  private advance(count: number): void {
    for (let i = 0; i < count && this.pos < this.text.length; i++) {
      if (this.text[this.pos] === '\n') this.line++;
      this.pos++;
    }
  }

  private skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.advance(1);
  }

  /** Skips spaces, comments and (if `newlines`) line breaks. */
  private skipBlank(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) this.advance(1);
      else if (c === '#') this.skipComment();
      else return;
    }
  }

  private skipComment(): void {
    while (this.pos < this.text.length && this.peek() !== '\n') this.advance(1);
  }

  private skipRestOfLine(): void {
    while (this.pos < this.text.length && this.peek() !== '\n') this.advance(1);
  }

  /** Parses a dotted key (`a."b.c".'d'`) into its segments. */
  private parseKey(): string[] {
    const segments: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '"') segments.push(this.parseBasicString());
      else if (c === "'") segments.push(this.parseLiteralString());
      else {
        const start = this.pos;
        while (this.pos < this.text.length && BARE_KEY_CHAR.test(this.peek() ?? '')) this.advance(1);
        if (this.pos === start) break;
        segments.push(this.text.slice(start, this.pos));
      }
      this.skipSpaces();
      if (this.peek() !== '.') break;
      this.advance(1);
    }
    // Consume a header's closing brackets so the caller can move on.
    while (this.peek() === ']') this.advance(1);
    return segments;
  }

  private parseBasicString(): string {
    const start = this.pos;
    this.advance(1);
    while (this.pos < this.text.length && this.peek() !== '"' && this.peek() !== '\n') {
      this.advance(this.peek() === '\\' ? 2 : 1);
    }
    this.advance(1);
    const raw = this.text.slice(start, this.pos);
    try {
      const decoded: unknown = JSON.parse(raw);
      return typeof decoded === 'string' ? decoded : raw.slice(1, -1);
    } catch {
      // TOML-only escapes (\UXXXXXXXX, \e) are not JSON; the raw text is close enough for a lookup.
      return raw.slice(1, -1);
    }
  }

  private parseLiteralString(): string {
    this.advance(1);
    const start = this.pos;
    while (this.pos < this.text.length && this.peek() !== "'" && this.peek() !== '\n') this.advance(1);
    const value = this.text.slice(start, this.pos);
    this.advance(1);
    return value;
  }

  private skipMultilineString(delimiter: '"""' | "'''"): void {
    this.advance(3);
    while (this.pos < this.text.length) {
      if (delimiter === '"""' && this.peek() === '\\') {
        this.advance(2);
      } else if (this.text.startsWith(delimiter, this.pos)) {
        this.advance(3);
        // Up to two quote characters may directly precede the closing delimiter.
        for (let extra = 0; extra < 2 && this.peek() === delimiter[0]; extra++) this.advance(1);
        return;
      } else {
        this.advance(1);
      }
    }
  }

  private parseValue(path: KeyPath): void {
    const c = this.peek();
    if (c === '[') {
      this.advance(1);
      for (let index = 0; ; index++) {
        this.skipBlank(true);
        if (this.pos >= this.text.length) return;
        if (this.peek() === ']') {
          this.advance(1);
          return;
        }
        const start = this.pos;
        this.record([...path, index], this.line);
        this.parseValue([...path, index]);
        this.skipBlank(true);
        if (this.peek() === ',') this.advance(1);
        if (this.pos === start) this.advance(1);
      }
    }
    if (c === '{') {
      this.advance(1);
      for (;;) {
        this.skipBlank(true);
        if (this.pos >= this.text.length) return;
        if (this.peek() === '}') {
          this.advance(1);
          return;
        }
        const start = this.pos;
        const line = this.line;
        const segments = this.parseKey();
        this.skipSpaces();
        if (this.peek() === '=') {
          this.advance(1);
          this.skipSpaces();
          this.recordDotted(path, segments, line);
          this.parseValue([...path, ...segments]);
        }
        this.skipBlank(true);
        if (this.peek() === ',') this.advance(1);
        if (this.pos === start) this.advance(1);
      }
    }
    if (this.text.startsWith('"""', this.pos)) return this.skipMultilineString('"""');
    if (this.text.startsWith("'''", this.pos)) return this.skipMultilineString("'''");
    if (c === '"') {
      this.parseBasicString();
      return;
    }
    if (c === "'") {
      this.parseLiteralString();
      return;
    }
    // Numbers, booleans, dates: run to the next delimiter (dates may contain a space).
    while (this.pos < this.text.length && !',]}\n\r#'.includes(this.peek() ?? '')) this.advance(1);
  }
}

/** Builds a locator for `text`, a TOML document that has already parsed successfully. */
export function buildTomlLocator(text: string): TomlLocator {
  const lines = new Map<string, number>();
  new LineScanner(text, lines).scan();
  return {
    exactLineOf: (path) => lines.get(pathKey(path)),
    lineOf: (path) => {
      for (let n = path.length; n > 0; n--) {
        const line = lines.get(pathKey(path.slice(0, n)));
        if (line !== undefined) return line;
      }
      return undefined;
    },
  };
}
