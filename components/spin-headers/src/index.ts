// Returns every spin-* request header the guest saw, as JSON: the gateway's Spin headers, and proof
// that client-sent spin-* headers were stripped.
addEventListener('fetch', (event) => {
  const spin: Record<string, string> = {};
  event.request.headers.forEach((value, name) => {
    if (name.toLowerCase().startsWith('spin-')) spin[name.toLowerCase()] = value;
  });
  event.respondWith(Response.json(spin));
});
