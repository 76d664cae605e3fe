// ULIDs (https://github.com/ulid/spec) for Finicky Whiskers: a game session's id. 26 characters of
// Crockford base32: 10 for a 48-bit millisecond timestamp, 16 for 80 random bits. The timestamp is
// what lets `tally` refuse clicks for a game that ended (contract 1.3: the 30-second window).

/** Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
export const ULID_LENGTH = TIME_CHARS + RANDOM_CHARS;
/** Upper or lower case; the first character is at most 7, or the value would not fit in 128 bits. */
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;

/** A new ULID for the time `nowMs` (milliseconds since the Unix epoch). */
export function newUlid(nowMs: number = Date.now()): string {
  let time = '';
  let t = Math.floor(nowMs);
  for (let i = 0; i < TIME_CHARS; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  // 80 random bits = 10 bytes, read 5 bits at a time.
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let random = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      random += ALPHABET[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return time + random;
}

/** A well-formed ULID, in canonical (upper-case) spelling, with its timestamp. */
export interface ParsedUlid {
  readonly ulid: string;
  readonly timestampMs: number;
}

/** Parses `text` as a ULID; undefined when it is not 26 characters of Crockford base32. */
export function parseUlid(text: string | undefined): ParsedUlid | undefined {
  if (text === undefined || !ULID_PATTERN.test(text)) return undefined;
  const ulid = text.toUpperCase();
  let timestampMs = 0;
  for (let i = 0; i < TIME_CHARS; i++) timestampMs = timestampMs * 32 + ALPHABET.indexOf(ulid[i]!);
  return { ulid, timestampMs };
}
