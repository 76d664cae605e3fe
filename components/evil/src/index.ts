// A guest that misbehaves on purpose, one route per behaviour. Each must be contained by the gateway:
// the evil request fails (or is cut off) cleanly, the gateway process stays up and bounded, and every
// other request keeps being served. test/integration/evil-guests.test.ts hammers each route.
//
// Routes are matched on Spin's spin-path-info (the path below the trigger's route), so an app may
// mount this guest under a prefix (e.g. route "/tight/..." with tighter limits).
//
// /ok                   200 "ok\n": the healthy route, served by fresh instances of this same component.
// /memory-hog           keeps 1 MiB ArrayBuffers until the linear-memory cap refuses to grow the memory.
// /deep-recursion       unbounded recursion until SpiderMonkey's stack limit.
// /huge-response?mb=N   streams N MiB (default 300) of body as fast as the gateway takes it.
// /slow-response        streams one byte every 100 ms, forever.
// /slow-body            reads the whole request body before answering (the client is the slow one).
// /header-bomb          answers with 10,000 header lines (?n=); /header-bomb/names with 10,000 distinct
//                       names; /header-bomb/big with one 1 MiB header value.
// /write-after-finish   finishes its response, then keeps writing to the closed body and working for a
//                       while; ?forever spins the CPU forever once the response is out.
// /throw-later          responds, then rejects a promise nobody handles and throws from a timer 250 ms
//                       later (?soon: at once, racing the body write).
//
// Not here: wasi:cli/exit. The guest world (components/wit/world.wit) does not import wasi:cli/exit and
// StarlingMonkey offers JS no way to reach it, so an exiting guest is covered by the WAT component in
// test/helpers/wat-components.ts (test/integration/failure-containment.test.ts).

const encoder = new TextEncoder();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function text(body: string, init: ResponseInit = {}): Response {
  return new Response(body, { ...init, headers: { 'content-type': 'text/plain; charset=utf-8', ...(init.headers as Record<string, string> | undefined) } });
}

/** Holds on to 1 MiB buffers (touched, so they are real) until allocation fails. */
function memoryHog(): Response {
  const hoard: ArrayBuffer[] = [];
  for (let mib = 1; ; mib++) {
    const buf = new ArrayBuffer(1024 * 1024);
    new Uint8Array(buf).fill(mib & 0xff);
    hoard.push(buf);
    if (mib % 8 === 0) console.log(`memory-hog holds ${mib} MiB`);
  }
}

/** Not a tail call (the `+ 1` happens after the return), so every level keeps a frame. */
function dive(depth: number): number {
  return dive(depth + 1) + 1;
}

function hugeResponse(url: URL): Response {
  const mib = Number(url.searchParams.get('mb') ?? '300');
  const total = mib * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024).fill(0x78);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        console.log(`huge-response sent all ${mib} MiB`);
        controller.close();
        return;
      }
      controller.enqueue(chunk.slice());
      sent += chunk.length;
    },
  });
  return new Response(body, { headers: { 'content-type': 'application/octet-stream', 'x-evil': 'huge-response' } });
}

function slowResponse(): Response {
  let dripped = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sleep(100);
      controller.enqueue(encoder.encode('.'));
      dripped++;
      if (dripped % 10 === 0) console.log(`slow-response dripped ${dripped} bytes`);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/plain', 'x-evil': 'slow-response' } });
}

async function slowBody(request: Request): Promise<Response> {
  const body = await request.arrayBuffer();
  return text(`read ${body.byteLength} bytes\n`);
}

function headerBomb(path: string, url: URL): Response {
  const headers = new Headers({ 'content-type': 'text/plain' });
  const count = Number(url.searchParams.get('n') ?? '10000');
  if (path === '/header-bomb/big') {
    headers.set('x-bomb', 'b'.repeat(1024 * 1024));
  } else if (path === '/header-bomb/names') {
    // Distinct names: StarlingMonkey's Headers is quadratic in them (10,000 take ~17 s of guest CPU).
    for (let i = 0; i < count; i++) headers.append(`x-bomb-${i}`, `boom ${i}`);
  } else {
    // One name, 10,000 header lines on the wire: cheap for the guest, all the work is the gateway's.
    for (let i = 0; i < count; i++) headers.append('x-bomb', `boom ${i}`);
  }
  return new Response('headers away\n', { headers });
}

function writeAfterFinish(event: SpinetFetchEvent, url: URL): void {
  const forever = url.searchParams.has('forever');
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  event.respondWith(new Response(readable, { headers: { 'content-type': 'text/plain', 'x-evil': 'write-after-finish' } }));
  event.waitUntil(
    (async () => {
      await writer.write(encoder.encode('first line\n'));
      await writer.write(encoder.encode('last line\n'));
      await writer.close();
      // The body is finished: everything from here on must not reach this client or any other.
      let refused = 0;
      for (let i = 0; i < 5; i++) {
        try {
          await writer.write(encoder.encode(`late write ${i}\n`));
        } catch {
          refused++;
        }
      }
      console.log(`write-after-finish: ${refused} of 5 late writes refused`);
      if (forever) {
        await sleep(50);
        console.log('write-after-finish: spinning forever after the response');
        let n = 0;
        for (;;) n = (n + 1) | 0;
      }
      // Keep working well after the response went out: timers, allocation, output.
      let junk = 0;
      for (let round = 0; round < 6; round++) {
        await sleep(50);
        junk += new Array(10_000).fill(round).reduce((a: number, b: number) => a + b, 0);
      }
      console.log(`write-after-finish: late work done (${junk})`);
    })(),
  );
}

function throwLater(event: SpinetFetchEvent, url: URL): void {
  // By default the timer fires long after the 26-byte body went out; with ?soon it races the body
  // write (StarlingMonkey writes the body from its event loop, and the uncaught exception ends the loop).
  const delay = url.searchParams.has('soon') ? 0 : 250;
  event.respondWith(text('responded before throwing\n'));
  // Nobody handles this rejection.
  void Promise.reject(new Error('evil: rejected after responding'));
  setTimeout(() => {
    throw new Error('evil: thrown from a timer after responding');
  }, delay);
  // Keeps the instance alive until after the timer fired.
  event.waitUntil(sleep(delay + 50));
}

addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  // The path below the route (Spin's spin-path-info), so the app can mount this guest under a prefix.
  const path = event.request.headers.get('spin-path-info') || url.pathname;
  switch (path) {
    case '/ok':
      event.respondWith(text('ok\n'));
      return;
    case '/memory-hog':
      event.respondWith(memoryHog());
      return;
    case '/deep-recursion':
      event.respondWith(text(`depth ${dive(0)}\n`));
      return;
    case '/huge-response':
      event.respondWith(hugeResponse(url));
      return;
    case '/slow-response':
      event.respondWith(slowResponse());
      return;
    case '/slow-body':
      event.respondWith(slowBody(event.request));
      return;
    case '/header-bomb':
    case '/header-bomb/names':
    case '/header-bomb/big':
      event.respondWith(headerBomb(path, url));
      return;
    case '/write-after-finish':
      writeAfterFinish(event, url);
      return;
    case '/throw-later':
      throwLater(event, url);
      return;
    default:
      event.respondWith(text(`no evil at ${path}\n`, { status: 404 }));
  }
});
