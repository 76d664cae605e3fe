// The isolation proof: module state lives in the instance's linear memory. Module-level code runs
// once at build time (Wizer snapshot), so every fresh instance starts from count = 0 and answers "1".
let count = 0;

addEventListener('fetch', (event) => {
  count += 1;
  event.respondWith(new Response(String(count), { headers: { 'content-type': 'text/plain' } }));
});
