// A guest that fails inside its handler:
// /throw    the handler throws synchronously: StarlingMonkey logs the exception to stderr, sets a 500
//           response and returns without finishing its body; the gateway answers Spin's 500, empty.
// /reject   respondWith gets a promise that rejects: the same, via the async path.
addEventListener('fetch', (event) => {
  const path = new URL(event.request.url).pathname;
  if (path === '/throw') throw new Error('guest exploded on purpose');
  if (path === '/reject') {
    event.respondWith(Promise.reject(new Error('guest rejected on purpose')));
    return;
  }
  event.respondWith(new Response('fine\n'));
});
