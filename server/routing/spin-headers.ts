/**
 * Spin's request headers for the component (spinframework/spin crates/trigger-http/src/headers.rs
 * `compute_default_headers`), computed from the route match and the connection; pure. The gateway
 * strips every client-sent `spin-*` header first: Spin itself appends its values after the client's,
 * which lets a client spoof them.
 */
import type { RouteMatch } from './route-table.js';

/** Inputs for `buildSpinHeaders`: the connection, the request target and the route match. */
export interface SpinHeaderInput {
  readonly scheme: 'http' | 'https';
  /** The Host header (or authority) as received. */
  readonly host: string;
  /** Raw path and query as requested. */
  readonly pathAndQuery: string;
  /** `ip:port` of the TCP peer. */
  readonly clientAddr: string;
  readonly match: RouteMatch;
  /**
   * The app's base path. Spin 3 always sends `/` (the default); a path-prefixed tenant passes its
   * prefix, and then spin-matched-route is prefixed with it too, as in Spin 2.x with `base`.
   */
  readonly basePath?: string;
}

/** A header name and value, as sent to the guest. */
export type SpinHeader = readonly [name: string, value: string];

// Parameter names come from a few routes and repeat on every request, so their header names are computed once.
const pathMatchNames = new Map<string, string>();

/** The header a `:name` capture is sent in: Spin upper-cases `SPIN_PATH_MATCH_<NAME>`, then lower-cases it with `_` → `-`. */
export function pathMatchHeaderName(param: string): string {
  let header = pathMatchNames.get(param);
  if (header === undefined) {
    header = `spin-path-match-${param.toLowerCase().replaceAll('_', '-')}`;
    pathMatchNames.set(param, header);
  }
  return header;
}

/** The `spin-*` headers a component sees for one request, as [name, value] pairs in Spin's order. */
export function buildSpinHeaders(input: SpinHeaderInput): SpinHeader[] {
  const flat: string[] = [];
  appendSpinHeaders(flat, input);
  const out: SpinHeader[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** `buildSpinHeaders` appended to a flat [name, value, …] list (the form the guest's request takes), without the pairs. */
export function appendSpinHeaders(out: string[], input: SpinHeaderInput): void {
  const { match } = input;
  const base = input.basePath ?? '/';
  // Spin's based route is sanitize(base) + route, and sanitize strips one trailing "/" ("/" → "").
  const matchedRoute = base === '/' ? match.matchedRoute : `${base.endsWith('/') ? base.slice(0, -1) : base}${match.matchedRoute}`;
  out.push(
    'spin-path-info',
    match.pathInfo,
    'spin-full-url',
    `${input.scheme}://${input.host}${input.pathAndQuery}`,
    'spin-matched-route',
    matchedRoute,
    'spin-base-path',
    base,
    'spin-raw-component-route',
    match.rawComponentRoute,
    'spin-component-route',
    match.componentRoute,
    'spin-client-addr',
    input.clientAddr,
  );
  const params = match.params;
  for (let i = 0; i < params.length; i++) {
    const [name, value] = params[i]!;
    out.push(pathMatchHeaderName(name), value);
  }
}

/** Whether a header name is in Spin's reserved `spin-` namespace (case-insensitive), so a client must not send it. */
export function isSpinHeader(name: string): boolean {
  return (
    name.length >= 5 &&
    (name.charCodeAt(0) | 32) === 115 /* s */ &&
    (name.charCodeAt(1) | 32) === 112 /* p */ &&
    (name.charCodeAt(2) | 32) === 105 /* i */ &&
    (name.charCodeAt(3) | 32) === 110 /* n */ &&
    name.charCodeAt(4) === 45 /* - */
  );
}
