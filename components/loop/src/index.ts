// /loop spins forever inside the guest; anything else answers normally. The loop runs in SpiderMonkey's
// interpreter inside incoming-handler.handle and never calls the host or yields, so nothing in the
// guest or in WASI can stop it: only the gateway's deadline (terminating the worker that runs the
// instance) does.
addEventListener('fetch', (event) => {
  if (new URL(event.request.url).pathname === '/loop') {
    let n = 0;
    for (;;) n = (n + 1) | 0;
  }
  event.respondWith(new Response('not looping\n'));
});
