/**
 * Spin's request headers for the component (crates/trigger-http/src/headers.rs): computed from the
 * route match and the connection, pure. The gateway strips every client-sent `spin-*` header first
 * (Spin itself appends after the client's, which lets a client spoof them).
 */
import type { RouteMatch } from './route-table.js';

/** Inputs for `buildSpinHeaders`. */
export interface SpinHeaderInput {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  /** Raw path and query as requested. */
  readonly pathAndQuery: string;
  /** `ip:port` of the TCP peer. */
  readonly clientAddr: string;
  readonly match: RouteMatch;
  /** Always `/` since Spin 3.0; the multi-tenancy issue sets it for path-prefixed apps. */
  readonly basePath?: string;
}

/** The `spin-*` headers a component sees, as [name, value] pairs. */
export function buildSpinHeaders(input: SpinHeaderInput): Array<readonly [string, string]> {
  const { match } = input;
  const out: Array<readonly [string, string]> = [
    ['spin-full-url', `${input.scheme}://${input.host}${input.pathAndQuery}`],
    ['spin-path-info', match.pathInfo],
    ['spin-matched-route', match.matchedRoute],
    ['spin-base-path', input.basePath ?? '/'],
    ['spin-raw-component-route', match.rawComponentRoute],
    ['spin-component-route', match.componentRoute],
    ['spin-client-addr', input.clientAddr],
  ];
  for (const [name, value] of match.params) out.push([`spin-path-match-${name.toLowerCase().replaceAll('_', '-')}`, value]);
  return out;
}

/** Whether a header name is in Spin's reserved `spin-` namespace (case-insensitive). */
export function isSpinHeader(name: string): boolean {
  return name.length >= 5 && (name.charCodeAt(0) | 32) === 115 && (name.charCodeAt(1) | 32) === 112 && (name.charCodeAt(2) | 32) === 105 && (name.charCodeAt(3) | 32) === 110 && name.charCodeAt(4) === 45;
}
