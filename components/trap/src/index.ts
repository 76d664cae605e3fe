// A guest that fails inside its handler, in each of the ways a StarlingMonkey guest can. What happens at
// the wasm level (measured with componentize-js 0.23 through the gateway):
//
// /throw          the listener throws synchronously. SpiderMonkey catches it; StarlingMonkey prints it to
//                 stderr, then (no response started) sets a 500 outgoing-response through
//                 response-outparam.set, takes its outgoing-body and drops it WITHOUT outgoing-body.finish.
//                 incoming-handler.handle returns normally: no trap, a 500 with an unfinished body.
// /reject         respondWith() gets a promise that rejects: the same, via the promise's catch handler.
// /no-response    the listener returns without calling respondWith(): the same, with nothing on stderr.
// /never-settles  respondWith() gets a promise that never settles: the event loop runs dry, StarlingMonkey
//                 warns "JS event loop terminated without completing the request" and does the same.
// /trap           a genuine trap: the guest drops a wasi:http `fields` resource twice. The second
//                 canonical resource.drop names a handle that is no longer in the table, which the
//                 component model defines as a trap ("unknown handle index"): the instance is dead
//                 and handle() never returns. No pure-JS failure gets this far: exceptions, runaway recursion
//                 ("too much recursion") and running out of memory ("out of memory", after growing
//                 to 4 GiB) are all caught by SpiderMonkey and end like /throw.
// anything else   200 "fine\n" (the next request after a failure is served by a fresh instance).
import { Fields } from 'wasi:http/types@0.2.10';

addEventListener('fetch', (event) => {
  const path = new URL(event.request.url).pathname;
  switch (path) {
    case '/throw':
      throw new Error('guest exploded on purpose');
    case '/reject':
      event.respondWith(Promise.reject(new Error('guest rejected on purpose')));
      return;
    case '/no-response':
      return;
    case '/never-settles':
      event.respondWith(new Promise<Response>(() => {}));
      return;
    case '/trap': {
      const fields = new Fields();
      fields[Symbol.dispose]();
      fields[Symbol.dispose]();
      event.respondWith(new Response('unreachable: the second drop traps\n'));
      return;
    }
    default:
      event.respondWith(new Response('fine\n'));
  }
});
