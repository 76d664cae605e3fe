// The bundled demo guest: `npm start` serves it. One fresh instance answers each request.
addEventListener('fetch', (event) => {
  event.respondWith(new Response('Hello from spinet!\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } }));
});
