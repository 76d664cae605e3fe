/**
 * Spin's HTTP route table, pure (no Fastify): route syntax, validation, duplicate handling and
 * matching with Spin's precedence (routefinder 0.5.4 `RouteSpec::cmp`, as Spin uses it):
 * segment by segment left to right, exact > `:param` > wildcard; if every compared segment ties, the
 * route with fewer segments wins. Request paths are matched raw (no percent-decoding), with leading
 * and trailing `/` trimmed and internal `//` kept.
 */
import { RouteInvalidError } from '../errors.js';

/** What a route leads to. */
export type RouteTarget = { readonly kind: 'component'; readonly component: string } | { readonly kind: 'static'; readonly triggerIndex: number };

/** A reachable route. */
export interface RouteEntry {
  /** Sanitised pattern (`/users/*` becomes `/users/...`, one trailing `/` removed). */
  readonly pattern: string;
  /** The route exactly as written in the manifest. */
  readonly raw: string;
  readonly target: RouteTarget;
  readonly triggerIndex: number;
}

/** The result of a successful match. */
export interface RouteMatch {
  readonly entry: RouteEntry;
  /** Trailing-wildcard remainder (Spin's `spin-path-info`); `""` for exact routes. */
  readonly pathInfo: string;
  /** `:name` captures in pattern order. */
  readonly params: ReadonlyArray<readonly [string, string]>;
  /** The matched route as written (Spin's `spin-matched-route`). */
  readonly matchedRoute: string;
  /** The route as written (Spin's `spin-raw-component-route`). */
  readonly rawComponentRoute: string;
  /** The route minus a trailing `/...` (Spin's `spin-component-route`): `/foo/...` → `/foo`, `/...` → `""`. */
  readonly componentRoute: string;
}

/** A route declaration as the manifest gives it. */
export interface RouteDeclaration {
  readonly route: string | { readonly private: true };
  readonly target: RouteTarget;
  readonly triggerIndex: number;
}

/** A duplicate route: the later declaration replaced the earlier one. */
export interface DuplicateRoute {
  readonly pattern: string;
  readonly replacedTriggerIndex: number;
  readonly effectiveTriggerIndex: number;
}

/** A built, immutable route table. */
export interface RouteTable {
  /** Match a raw request path (no query string). */
  match(path: string): RouteMatch | undefined;
  /** Reachable routes in manifest order. */
  routes(): readonly RouteEntry[];
  duplicates(): readonly DuplicateRoute[];
  /** Non-fatal findings to log at load (duplicates, reserved routes). */
  warnings(): readonly string[];
}

const enum Kind {
  Exact = 0,
  Param = 1,
  Wildcard = 2,
}

type Segment = { readonly kind: Kind.Exact; readonly value: string } | { readonly kind: Kind.Param; readonly name: string } | { readonly kind: Kind.Wildcard };

interface CompiledRoute {
  readonly entry: RouteEntry;
  readonly segments: readonly Segment[];
  readonly wildcard: boolean;
  /** Segments before the wildcard (all of them for non-wildcard routes). */
  readonly fixed: readonly Segment[];
  readonly componentRoute: string;
}

const RESERVED_PREFIX = '/.well-known/spin/';
// Characters that cannot appear in a request path (RFC 3986 pchar plus `/`, with `%` escapes allowed).
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Spin's sanitising: a leading `/` is added if missing, one trailing `/` removed, `/*` read as `/...`. */
export function sanitizeRoute(route: string): string {
  let r = route.trim();
  if (!r.startsWith('/')) r = `/${r}`;
  if (r.length > 1 && r.endsWith('/')) r = r.slice(0, -1);
  if (r === '/*' || r.endsWith('/*')) r = `${r.slice(0, -1)}...`;
  return r;
}

/** Whether a route lies under Spin's reserved `/.well-known/spin/` prefix. */
export function isReservedRoute(pattern: string): boolean {
  const p = sanitizeRoute(pattern);
  return p.startsWith(RESERVED_PREFIX) || p === '/.well-known/spin/...';
}

function parsePattern(pattern: string, raw: string, where: string): Segment[] {
  if (!PATH_CHARS.test(pattern)) {
    throw new RouteInvalidError(`${where}: route "${raw}" contains characters that cannot appear in a URL path; use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ only`);
  }
  if (pattern === '/') return [];
  const parts = pattern.slice(1).split('/');
  const segments: Segment[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    if (part === '') {
      throw new RouteInvalidError(`${where}: route "${raw}" has an empty segment ("//"); remove the extra "/"`);
    }
    if (part === '...' || part === '*') {
      if (!last) throw new RouteInvalidError(`${where}: route "${raw}" has a wildcard "${part}" before its end; a wildcard may only be the last segment, e.g. "/api/..."`);
      segments.push({ kind: Kind.Wildcard });
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) {
        throw new RouteInvalidError(`${where}: route "${raw}" has an invalid parameter "${part}"; write ":name" with a letter or _ followed by letters, digits, _ or -`);
      }
      if (segments.some((s) => s.kind === Kind.Param && s.name === name)) {
        throw new RouteInvalidError(`${where}: route "${raw}" uses the parameter ":${name}" twice; give each parameter its own name`);
      }
      segments.push({ kind: Kind.Param, name });
    } else if (part.includes('...') || part.includes('*')) {
      throw new RouteInvalidError(`${where}: route "${raw}" has a wildcard inside the segment "${part}"; a wildcard must be a whole last segment, e.g. "/files/..."`);
    } else {
      segments.push({ kind: Kind.Exact, value: part });
    }
  }
  return segments;
}

function compareSpecs(a: readonly Segment[], b: readonly Segment[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]!.kind - b[i]!.kind;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Builds the route table; throws RouteInvalidError for malformed routes. */
export function buildRouteTable(declarations: readonly RouteDeclaration[]): RouteTable {
  const warnings: string[] = [];
  const duplicates: DuplicateRoute[] = [];
  const byPattern = new Map<string, { decl: RouteDeclaration; raw: string; segments: Segment[] }>();
  for (const decl of declarations) {
    if (typeof decl.route !== 'string') continue; // private: reachable only by service chaining
    const raw = decl.route.trim();
    const where = `[[trigger.http]] #${decl.triggerIndex + 1}`;
    if (raw === '') throw new RouteInvalidError(`${where}: the route is empty; write a path such as "/" or "/api/..."`);
    const pattern = sanitizeRoute(raw);
    const segments = parsePattern(pattern, raw, where);
    if (isReservedRoute(pattern)) {
      warnings.push(`${where}: route "${raw}" is under /.well-known/spin/, which Spin reserves; it will never be reached`);
      continue;
    }
    const prev = byPattern.get(pattern);
    if (prev) {
      duplicates.push({ pattern, replacedTriggerIndex: prev.decl.triggerIndex, effectiveTriggerIndex: decl.triggerIndex });
      warnings.push(`route "${pattern}" is declared by [[trigger.http]] #${prev.decl.triggerIndex + 1} and #${decl.triggerIndex + 1}; the later one wins and #${prev.decl.triggerIndex + 1} is unreachable`);
      byPattern.delete(pattern); // re-insert so manifest order reflects the effective declaration
    }
    byPattern.set(pattern, { decl, raw, segments });
  }

  const compiled: CompiledRoute[] = [];
  const entries: RouteEntry[] = [];
  for (const [pattern, { decl, raw, segments }] of byPattern) {
    const entry: RouteEntry = Object.freeze({ pattern, raw, target: decl.target, triggerIndex: decl.triggerIndex });
    const wildcard = segments.length > 0 && segments[segments.length - 1]!.kind === Kind.Wildcard;
    compiled.push({
      entry,
      segments,
      wildcard,
      fixed: wildcard ? segments.slice(0, -1) : segments,
      componentRoute: raw.endsWith('/...') ? raw.slice(0, -4) : raw.endsWith('/*') ? raw.slice(0, -2) : raw === '/...' || raw === '...' ? '' : raw,
    });
    entries.push(entry);
  }
  entries.sort((a, b) => a.triggerIndex - b.triggerIndex);
  const sorted = compiled.slice().sort((a, b) => compareSpecs(a.segments, b.segments));

  // Fast path: an all-exact route that matches always wins (any other match has a param or wildcard
  // where it has an exact segment, or more segments), so exact routes are a map lookup.
  const exact = new Map<string, CompiledRoute>();
  const patterned: CompiledRoute[] = [];
  for (const c of sorted) {
    const literal = c.segments.every((s) => s.kind === Kind.Exact);
    if (literal) exact.set(c.segments.map((s) => (s.kind === Kind.Exact ? s.value : '')).join('/'), c);
    else patterned.push(c);
  }

  const frozenEntries = Object.freeze(entries);
  const frozenDup = Object.freeze(duplicates);
  const frozenWarnings = Object.freeze(warnings);

  return {
    match(path: string): RouteMatch | undefined {
      let start = 0;
      while (start < path.length && path.charCodeAt(start) === 47) start++;
      let end = path.length;
      while (end > start && path.charCodeAt(end - 1) === 47) end--;
      const trimmed = path.slice(start, end);
      const hit = exact.get(trimmed);
      if (hit) return result(hit, path, start, []);
      const parts = trimmed === '' ? [] : trimmed.split('/');
      outer: for (const c of patterned) {
        const fixed = c.fixed;
        if (c.wildcard ? parts.length < fixed.length : parts.length !== fixed.length) continue;
        let params: Array<[string, string]> | undefined;
        for (let i = 0; i < fixed.length; i++) {
          const seg = fixed[i]!;
          const part = parts[i]!;
          if (seg.kind === Kind.Exact) {
            if (seg.value !== part) continue outer;
          } else if (seg.kind === Kind.Param) {
            if (part === '') continue outer;
            (params ??= []).push([seg.name, part]);
          }
        }
        return result(c, path, start, params ?? []);
      }
      return undefined;
    },
    routes: () => frozenEntries,
    duplicates: () => frozenDup,
    warnings: () => frozenWarnings,
  };
}

function result(c: CompiledRoute, path: string, leading: number, params: ReadonlyArray<readonly [string, string]>): RouteMatch {
  let pathInfo = '';
  if (c.wildcard) {
    // Skip the segments the fixed part consumed; what follows (from its "/") is the path info.
    let pos = leading > 0 ? leading - 1 : 0;
    for (let i = 0; i < c.fixed.length; i++) {
      const next = path.indexOf('/', pos + 1);
      if (next === -1) {
        pos = path.length;
        break;
      }
      pos = next;
    }
    pathInfo = path.slice(pos);
  }
  return { entry: c.entry, pathInfo, params, matchedRoute: c.entry.raw, rawComponentRoute: c.entry.raw, componentRoute: c.componentRoute };
}
