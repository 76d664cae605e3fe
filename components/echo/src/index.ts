// Round-trips what the guest sees:
// /body/...      the request body streamed back unchanged (new Response(request.body): never buffered),
//                with the request's content-type;
// /env           the environment the manifest gave the component;
// /files/<path>  a file from the component's read-only mounts (404 with the WASI error code otherwise);
// anything else  (/echo/... by convention) a JSON summary: method, url (path + query), path, query,
//                headers, bodyLength and bodySha256 (crypto.subtle).
import { getEnvironment } from 'wasi:cli/environment@0.2.10';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.10';

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function summary(request: Request): Promise<Response> {
  const body = new Uint8Array(await request.arrayBuffer());
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const url = new URL(request.url);
  return Response.json({
    method: request.method,
    // request.url is absolute (StarlingMonkey joins scheme, authority and path-with-query, unparsed);
    // strip the origin to get the path-with-query exactly as the gateway handed it over.
    url: request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, ''),
    path: url.pathname,
    query: url.search,
    headers,
    bodyLength: body.length,
    bodySha256: hex(await crypto.subtle.digest('SHA-256', body)),
  });
}

function readFile(path: string): Response {
  const dirs = getDirectories();
  if (dirs.length === 0) return new Response('no files mounted\n', { status: 404 });
  const [root] = dirs[0]!;
  try {
    const fd = root.openAt({}, path, {}, { read: true });
    const size = Number(fd.stat().size);
    const stream = fd.readViaStream(0n);
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (total < size) {
      const chunk = stream.blockingRead(BigInt(size - total));
      chunks.push(chunk);
      total += chunk.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return new Response(out, { headers: { 'content-type': 'application/octet-stream' } });
  } catch (err) {
    // wasi:filesystem errors arrive as ComponentError with the error-code in `payload`.
    const code = (err as { payload?: unknown }).payload ?? String(err);
    return Response.json({ error: code }, { status: 404 });
  }
}

addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.pathname.startsWith('/body')) {
    event.respondWith(
      new Response(event.request.body, {
        headers: { 'content-type': event.request.headers.get('content-type') ?? 'application/octet-stream' },
      }),
    );
  } else if (url.pathname === '/env') {
    event.respondWith(Response.json(Object.fromEntries(getEnvironment())));
  } else if (url.pathname.startsWith('/files/')) {
    event.respondWith(readFile(decodeURIComponent(url.pathname.slice('/files/'.length))));
  } else {
    event.respondWith(summary(event.request));
  }
});
