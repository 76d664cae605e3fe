/**
 * Spin's HTTP route table, pure (no Fastify, no node:http): route syntax, validation, duplicate
 * handling and matching with Spin's precedence.
 *
 * Sources: spinframework/spin crates/routes/src/lib.rs (sanitising, duplicates, path info, the
 * values behind the spin-* headers) and routefinder 0.5.4 (src/route_spec.rs, src/segment.rs,
 * src/router.rs), which Spin uses for matching. routefinder keeps its routes in a BTreeMap ordered by
 * `RouteSpec::cmp`: segment by segment left to right exact > `:param` > wildcard, then fewer segments
 * first; its `cmp` never answers Equal, so ties keep insertion order. `best_match` is the first route
 * in that order that matches. We sort once at build time the same way (a stable sort gives the same
 * tie-break) and scan; all-exact routes are a single Map lookup because one that matches always sorts
 * first (every other candidate has a param or wildcard where it has a literal, or more segments).
 *
 * Where spinet is deliberately stricter than Spin (Spin accepts these and then routes them oddly or
 * panics at request time), the route is refused at load with a hint:
 * - empty segments (`/a//b`, `/a//`): routefinder drops them from the pattern, so the route would
 *   silently match `/a/b` and never `/a//b`;
 * - a wildcard anywhere but the whole last segment (routefinder panics on a mid-route `*`);
 * - a `:param` sharing its segment with anything else (`/:name.json`): routefinder supports it via
 *   its dot segments, but they also mangle literal segments starting with `.`; we keep params whole;
 * - characters that cannot appear in a raw request path (spaces, `?`, `#`, non-ASCII, bad `%`):
 *   matching is on the raw path, so such a route could never match;
 * - `.` and `..` segments, which clients and proxies normalise away before the request arrives.
 * And one deliberate difference in matching: a `:param` never captures an empty segment (routefinder
 * lets `/a/:x/b` match `/a//b` with x = ""), as Spin documents "exactly one non-empty segment".
 */
import { RouteInvalidError } from '../errors.js';

/** What a route leads to: a component, or a trigger answered by its static response. */
export type RouteTarget = { readonly kind: 'component'; readonly component: string } | { readonly kind: 'static'; readonly triggerIndex: number };

/** One reachable route of the table. */
export interface RouteEntry {
  /** Sanitised pattern: leading `/` added, one trailing `/` removed, `/*` written as `/...`; root is `/`. */
  readonly pattern: string;
  /** The route exactly as written in the manifest. */
  readonly raw: string;
  readonly target: RouteTarget;
  readonly triggerIndex: number;
}

/** The result of a successful match: the entry and the values behind Spin's spin-* headers. */
export interface RouteMatch {
  readonly entry: RouteEntry;
  /** Trailing-wildcard remainder (`spin-path-info`), with Spin's trailing-slash rules; `""` for exact routes. */
  readonly pathInfo: string;
  /** `:name` captures in pattern order. */
  readonly params: ReadonlyArray<readonly [name: string, value: string]>;
  /**
   * `spin-matched-route`: Spin's "based route", the route with a leading `/` added and one trailing
   * `/` removed, `/*` kept as written. For the root route this is `""`, as in Spin (base `/`
   * sanitises to `""` and so does route `/`).
   */
  readonly matchedRoute: string;
  /** `spin-raw-component-route`: the route exactly as written in the manifest. */
  readonly rawComponentRoute: string;
  /**
   * `spin-component-route`: the route as written minus a trailing `/...` (Spin's
   * `raw_route_or_prefix`): `/foo/...` → `/foo`, `/foo/:id/...` → `/foo/:id`, `/...` → `""`;
   * other routes, `/users/*` included, are unchanged.
   */
  readonly componentRoute: string;
}

/** A route declaration as the manifest gives it. */
export interface RouteDeclaration {
  readonly route: string | { readonly private: true };
  readonly target: RouteTarget;
  readonly triggerIndex: number;
}

/** A duplicate route: a later declaration of the same sanitised pattern replaced this one. */
export interface DuplicateRoute {
  readonly pattern: string;
  /** The declaration that is unreachable. */
  readonly replacedTriggerIndex: number;
  /** The declaration that serves the pattern (the last one declared). */
  readonly effectiveTriggerIndex: number;
}

/** A built, immutable route table. */
export interface RouteTable {
  /** Matches a raw request path (no query string, no percent-decoding); undefined when no route matches. */
  match(path: string): RouteMatch | undefined;
  /** Reachable routes in manifest order (a replaced duplicate's slot holds the declaration that won, as in Spin). */
  routes(): readonly RouteEntry[];
  /** Declarations made unreachable by a later one with the same sanitised pattern, in manifest order. */
  duplicates(): readonly DuplicateRoute[];
  /** Non-fatal findings to log at load: duplicates and routes under the reserved `/.well-known/spin/` prefix. */
  warnings(): readonly string[];
}

const EXACT = 0;
const PARAM = 1;
const WILDCARD = 2;
const SLASH = 47;

interface CompiledRoute {
  readonly entry: RouteEntry;
  /** EXACT or PARAM per segment before the wildcard. */
  readonly kinds: Uint8Array;
  /** The literal (EXACT) or the parameter name (PARAM) per segment before the wildcard. */
  readonly values: readonly string[];
  readonly wildcard: boolean;
  readonly paramCount: number;
  readonly matchedRoute: string;
  readonly componentRoute: string;
}

const RESERVED_PREFIX = '/.well-known/spin/';
/** RFC 3986 `pchar` plus `/`: what a raw request path can hold. */
const NOT_PATH_CHAR = /[^A-Za-z0-9\-._~!$&'()*+,;=:@%/]/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;
/** Parameter names become header names (`spin-path-match-<name>`) and Wagi variables, so keep them tokens. */
const PARAM_NAME = /^[A-Za-z0-9_-]+$/;
const NO_PARAMS: ReadonlyArray<readonly [string, string]> = Object.freeze([]);

/** Spin's `absolutize` + `sanitize`: a leading `/` is added if missing and one trailing `/` removed (`/` becomes `""`). */
function spinSanitize(route: string): string {
  const abs = route.charCodeAt(0) === SLASH ? route : `/${route}`;
  return abs.charCodeAt(abs.length - 1) === SLASH ? abs.slice(0, -1) : abs;
}

/** Sanitises a route like Spin (leading `/` added, one trailing `/` removed) and writes `/*` as `/...`; root stays `/`. */
export function sanitizeRoute(route: string): string {
  const s = spinSanitize(route);
  if (s === '') return '/';
  return s.endsWith('/*') ? `${s.slice(0, -1)}...` : s;
}

/** Whether a route lies under Spin's reserved `/.well-known/spin/` prefix (checked on the sanitised route, as Spin does). */
export function isReservedRoute(pattern: string): boolean {
  return spinSanitize(pattern).startsWith(RESERVED_PREFIX);
}

function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  if (ch === '?') return 'a "?" (a query string is not part of a route)';
  if (ch === '#') return 'a "#" (a fragment is never sent to the server)';
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).padStart(4, '0').toUpperCase()})`;
  return `"${ch}"`;
}

function invalid(raw: string, where: string, problem: string, fix: string): InstanceType<typeof RouteInvalidError> {
  return new RouteInvalidError(`route "${raw}" of ${where} ${problem}; ${fix}`);
}

interface ParsedRoute {
  readonly pattern: string;
  readonly kinds: number[];
  readonly values: string[];
  readonly wildcard: boolean;
}

function parseRoute(raw: string, where: string): ParsedRoute {
  const bad = NOT_PATH_CHAR.exec(raw);
  if (bad) {
    const ch = String.fromCodePoint(raw.codePointAt(bad.index) ?? 0);
    const fix = ch === '?' || ch === '#' ? `remove everything from "${ch}" on` : 'percent-encode it as it appears in request URLs (e.g. "%20" for a space, "%C3%A9" for "é") or remove it';
    throw invalid(raw, where, `contains ${describeChar(ch)}, which cannot appear in a raw URL path`, fix);
  }
  if (BAD_PERCENT.test(raw)) throw invalid(raw, where, 'has a "%" that is not followed by two hex digits', 'write a literal "%" as "%25"');

  const pattern = sanitizeRoute(raw);
  const kinds: number[] = [];
  const values: string[] = [];
  let wildcard = false;
  if (pattern === '/') return { pattern, kinds, values, wildcard };

  const parts = pattern.slice(1).split('/');
  const headerNames = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    if (part === '') {
      throw invalid(raw, where, 'has an empty segment ("//")', 'remove the extra "/" (request paths are matched as sent, "//" is not collapsed)');
    }
    if (part === '...' || part === '*') {
      if (!last) {
        throw invalid(raw, where, `has the wildcard "${part}" before its end`, 'a wildcard may only be the last segment, e.g. "/api/...", and the rest of the path arrives in spin-path-info');
      }
      wildcard = true;
    } else if (part === '.' || part === '..') {
      throw invalid(raw, where, `has a "${part}" segment, which clients and proxies remove before a request arrives`, 'write the path without it');
    } else if (part.charCodeAt(0) === 58 /* : */) {
      const name = part.slice(1);
      if (name === '') throw invalid(raw, where, 'has a parameter without a name (":")', 'name it, e.g. "/users/:id"');
      if (!PARAM_NAME.test(name)) {
        throw invalid(
          raw,
          where,
          `has the parameter "${part}"; a parameter is a whole segment named with letters, digits, "_" or "-"`,
          `write e.g. "${pattern.slice(0, pattern.indexOf(part))}:${name.replace(/[^A-Za-z0-9_-].*$/, '') || 'name'}" and split the segment in the component`,
        );
      }
      // Spin turns `:user_id` into the header spin-path-match-user-id, so `:user_id` and `:User-Id` would collide.
      const header = name.toLowerCase().replaceAll('_', '-');
      if (headerNames.has(header)) throw invalid(raw, where, `uses the parameter ":${name}" more than once (names are compared ignoring case and "_" vs "-")`, 'give each parameter its own name');
      headerNames.add(header);
      kinds.push(PARAM);
      values.push(name);
    } else if (part.includes('...') || part.includes('*')) {
      const stem = part.replace(/(\.\.\.|\*).*$/, '');
      throw invalid(raw, where, `has a wildcard inside the segment "${part}"`, `a wildcard must be a whole segment: did you mean "${pattern.slice(0, pattern.indexOf(part))}${stem === '' ? '' : `${stem}/`}..."?`);
    } else {
      kinds.push(EXACT);
      values.push(part);
    }
  }
  return { pattern, kinds, values, wildcard };
}

/** routefinder 0.5.4 `RouteSpec::cmp` reduced to whole segments: negative when `a` is tried first. */
function compareRoutes(a: CompiledRoute, b: CompiledRoute): number {
  const lenA = a.kinds.length + (a.wildcard ? 1 : 0);
  const lenB = b.kinds.length + (b.wildcard ? 1 : 0);
  const n = Math.min(lenA, lenB);
  for (let i = 0; i < n; i++) {
    const ka = i < a.kinds.length ? a.kinds[i]! : WILDCARD;
    const kb = i < b.kinds.length ? b.kinds[i]! : WILDCARD;
    if (ka !== kb) return ka - kb;
  }
  return lenA - lenB;
}

/** Builds the route table once per app load; throws RouteInvalidError (SPINET_ERR_ROUTE_INVALID) for a malformed route. */
export function buildRouteTable(declarations: ReadonlyArray<RouteDeclaration>): RouteTable {
  const warnings: string[] = [];
  // Spin keeps routes in an IndexMap: a duplicate replaces the value but keeps the first slot.
  const slots: Array<{ decl: RouteDeclaration; raw: string; parsed: ParsedRoute }> = [];
  const slotOf = new Map<string, number>();
  const replaced: Array<{ pattern: string; replacedTriggerIndex: number }> = [];

  for (const decl of declarations) {
    const where = `[[trigger.http]] #${decl.triggerIndex + 1}`;
    if (typeof decl.route !== 'string') {
      // The manifest layer already refuses { private = false }; this guards other callers.
      if ((decl.route as { private?: unknown }).private !== true) {
        throw new RouteInvalidError(`${where}: route must be a string pattern or { private = true }; use route = "/path", or { private = true } for a component reached only by service chaining`);
      }
      continue; // private: reachable only by service chaining
    }
    const raw = decl.route;
    const parsed = parseRoute(raw, where);
    if (isReservedRoute(raw)) {
      warnings.push(`route "${raw}" of ${where} is under /.well-known/spin/, which Spin reserves for itself; it is never routed, move it elsewhere`);
      continue;
    }
    const slot = slotOf.get(parsed.pattern);
    if (slot === undefined) {
      slotOf.set(parsed.pattern, slots.length);
      slots.push({ decl, raw, parsed });
    } else {
      replaced.push({ pattern: parsed.pattern, replacedTriggerIndex: slots[slot]!.decl.triggerIndex });
      slots[slot] = { decl, raw, parsed };
    }
  }

  const duplicates: DuplicateRoute[] = replaced.map((r) => {
    const effectiveTriggerIndex = slots[slotOf.get(r.pattern)!]!.decl.triggerIndex;
    warnings.push(
      `route "${r.pattern}" is declared by [[trigger.http]] #${r.replacedTriggerIndex + 1} and again by #${effectiveTriggerIndex + 1}; the last declaration wins, so #${r.replacedTriggerIndex + 1} is unreachable: remove one of them`,
    );
    return Object.freeze({ pattern: r.pattern, replacedTriggerIndex: r.replacedTriggerIndex, effectiveTriggerIndex });
  });

  const entries: RouteEntry[] = [];
  const compiled: CompiledRoute[] = [];
  let maxParams = 0;
  for (const { decl, raw, parsed } of slots) {
    const entry: RouteEntry = Object.freeze({ pattern: parsed.pattern, raw, target: decl.target, triggerIndex: decl.triggerIndex });
    entries.push(entry);
    const paramCount = parsed.kinds.reduce((n, k) => n + (k === PARAM ? 1 : 0), 0);
    maxParams = Math.max(maxParams, paramCount);
    compiled.push({
      entry,
      kinds: Uint8Array.from(parsed.kinds),
      values: parsed.values,
      wildcard: parsed.wildcard,
      paramCount,
      matchedRoute: spinSanitize(raw),
      componentRoute: raw.endsWith('/...') ? raw.slice(0, -4) : raw,
    });
  }

  // Array.prototype.sort is stable, which reproduces routefinder's insertion-order tie-break.
  const sorted = compiled.slice().sort(compareRoutes);
  const exact = new Map<string, CompiledRoute>();
  const patterned: CompiledRoute[] = [];
  for (const c of sorted) {
    if (!c.wildcard && c.paramCount === 0) exact.set(c.values.join('/'), c);
    else patterned.push(c);
  }
  // Param positions are recorded here during a match and turned into strings only on success.
  const scratch = new Int32Array(Math.max(2, maxParams * 2));

  const frozenEntries = Object.freeze(entries);
  const frozenDuplicates = Object.freeze(duplicates);
  const frozenWarnings = Object.freeze(warnings);

  function match(path: string): RouteMatch | undefined {
    // routefinder trims every leading and trailing "/" of the request path before matching.
    let start = 0;
    let end = path.length;
    while (start < end && path.charCodeAt(start) === SLASH) start++;
    while (end > start && path.charCodeAt(end - 1) === SLASH) end--;

    const hit = exact.get(start === 0 && end === path.length ? path : path.slice(start, end));
    if (hit !== undefined) return { entry: hit.entry, pathInfo: '', params: NO_PARAMS, matchedRoute: hit.matchedRoute, rawComponentRoute: hit.entry.raw, componentRoute: hit.componentRoute };

    let segments = 0;
    if (end > start) {
      segments = 1;
      for (let i = start; i < end; i++) if (path.charCodeAt(i) === SLASH) segments++;
    }

    outer: for (let r = 0; r < patterned.length; r++) {
      const c = patterned[r]!;
      const kinds = c.kinds;
      const fixed = kinds.length;
      if (c.wildcard ? segments < fixed : segments !== fixed) continue;
      let pos = start;
      let segEnd = start;
      let p = 0;
      for (let i = 0; i < fixed; i++) {
        segEnd = path.indexOf('/', pos);
        if (segEnd === -1 || segEnd > end) segEnd = end;
        if (kinds[i] === EXACT) {
          const value = c.values[i]!;
          if (segEnd - pos !== value.length || !path.startsWith(value, pos)) continue outer;
        } else {
          if (segEnd === pos) continue outer; // a param never captures an empty segment
          scratch[p++] = pos;
          scratch[p++] = segEnd;
        }
        pos = segEnd + 1;
      }

      let params = NO_PARAMS;
      if (c.paramCount > 0) {
        const out: Array<readonly [string, string]> = new Array<readonly [string, string]>(c.paramCount);
        for (let i = 0, j = 0; i < fixed; i++) {
          if (kinds[i] === PARAM) {
            out[j] = [c.values[i]!, path.slice(scratch[2 * j]!, scratch[2 * j + 1]!)];
            j++;
          }
        }
        params = out;
      }

      let pathInfo = '';
      if (c.wildcard) {
        const capture = fixed === 0 ? path.slice(start, end) : segEnd >= end ? '' : path.slice(segEnd + 1, end);
        // Spin (crates/routes trailing_wildcard) re-adds the slashes routefinder trimmed: one before a
        // non-empty remainder, and one after it when the request path ends in "/".
        const trailing = path.length > 0 && path.charCodeAt(path.length - 1) === SLASH;
        pathInfo = capture === '' ? (trailing ? '/' : '') : trailing ? `/${capture}/` : `/${capture}`;
      }
      return { entry: c.entry, pathInfo, params, matchedRoute: c.matchedRoute, rawComponentRoute: c.entry.raw, componentRoute: c.componentRoute };
    }
    return undefined;
  }

  return {
    match,
    routes: () => frozenEntries,
    duplicates: () => frozenDuplicates,
    warnings: () => frozenWarnings,
  };
}
