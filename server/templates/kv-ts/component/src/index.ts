// %{name}: counts requests in Spin's key-value store. Instances are fresh for every request, so the
// count lives in the store, not in a variable. DELETE resets it.
import { Kv } from '@spinet/sdk';

const KEY = 'count';

/** Answers one request with the number of GET requests so far (the store survives restarts). */
export async function handler(request: Request): Promise<Response> {
  const store = Kv.openDefault();
  if (request.method === 'DELETE') {
    store.delete(KEY);
    return new Response('count reset\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  // Read-modify-write: concurrent requests may count once for two. Good enough for a counter.
  const count = Number(store.getString(KEY) ?? '0') + 1;
  store.set(KEY, String(count));
  return new Response(`count: ${count}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

addEventListener('fetch', (event) => event.respondWith(handler(event.request)));
