// /loop spins forever inside the guest (the executor must stop it at its deadline); anything else
// answers normally.
addEventListener('fetch', (event) => {
  if (new URL(event.request.url).pathname === '/loop') {
    let n = 0;
    for (;;) n = (n + 1) | 0;
  }
  event.respondWith(new Response('not looping\n'));
});
