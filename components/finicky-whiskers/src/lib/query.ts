// The original components' query parsing, kept on purpose (contract 1.3): split the query on `&`, each
// pair on its first `=`, no URL-decoding; a pair without `=` is skipped and a repeated name keeps its
// last value.

/** The query parameters of `url` (the request's URL, as given to the guest). */
export function naiveQuery(url: string): Map<string, string> {
  const params = new Map<string, string>();
  const start = url.indexOf('?');
  if (start < 0) return params;
  const end = url.indexOf('#', start);
  const query = url.slice(start + 1, end < 0 ? undefined : end);
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    params.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return params;
}
