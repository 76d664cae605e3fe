/**
 * URLs reach logs and error messages (Redis addresses, store URLs); their passwords must not.
 */

/**
 * `url` with any password replaced by `***` (`redis://user:***@host`). Works on text that does not parse as
 * a URL too, and over-redacts rather than risk leaking: everything between `://` and the last `@` after the
 * user name goes.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const schemeEnd = url.indexOf('://');
  const start = schemeEnd >= 0 && schemeEnd < at ? schemeEnd + 3 : 0;
  const userinfo = url.slice(start, at);
  const colon = userinfo.indexOf(':');
  // No colon: only a user name, which Redis does not treat as a secret.
  if (colon < 0) return url;
  return `${url.slice(0, start)}${userinfo.slice(0, colon)}:***${url.slice(at)}`;
}
