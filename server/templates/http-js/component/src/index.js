// %{name}: an HTTP component. Every request runs in a fresh WebAssembly instance, so module-level
// state does not carry over from one request to the next.

/**
 * Answers one request.
 * @param {Request} request
 * @returns {Promise<Response>}
 */
export async function handler(request) {
  const { pathname } = new URL(request.url);
  return new Response(`Hello from %{name}! You asked for ${request.method} ${pathname}\n`, {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

addEventListener('fetch', (event) => event.respondWith(handler(event.request)));
