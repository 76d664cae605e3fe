// %{name}: an HTTP component. Every request runs in a fresh WebAssembly instance, so module-level
// state does not carry over from one request to the next.

/** Answers one request: `request` and the result are the standard Fetch API types. */
export async function handler(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  return new Response(`Hello from %{name}! You asked for ${request.method} ${pathname}\n`, {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

addEventListener('fetch', (event) => event.respondWith(handler(event.request)));
