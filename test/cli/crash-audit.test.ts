/**
 * Crash containment, audited on a real process: clients that abort uploads, abort or stall downloads
 * (guest-streamed and static), send garbage, half-close, or vanish while queued never produce an
 * unhandled rejection or uncaught exception, never leak a worker slot, and never stop the gateway
 * serving. The process-level handlers themselves are checked by injecting faults through a preload.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appDir } from '../helpers/gateway.js';
import { freePort } from '../../server/free-port.js';
import { finished, listening, logLines, runSpinet } from '../helpers/spinet-process.js';

/** An app with a streaming echo, the evil guests and a static site holding a 16 MiB file. */
function auditApp(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spinet-crash-audit-'));
  fs.mkdirSync(path.join(dir, 'site'));
  fs.writeFileSync(path.join(dir, 'site', 'index.html'), '<h1>static</h1>\n');
  fs.writeFileSync(path.join(dir, 'site', 'big.bin'), Buffer.alloc(16 * 1024 * 1024, 7));
  const wasm = (name: string, file: string): string => JSON.stringify(path.join(appDir('components', name), 'dist', file));
  fs.writeFileSync(
    path.join(dir, 'spin.toml'),
    `spin_manifest_version = 2
[application]
name = "crash-audit"
[[trigger.http]]
route = "/echo/..."
component = "echo"
[[trigger.http]]
route = "/evil/..."
component = "evil"
[[trigger.http]]
route = "/static/..."
component = "static"
[component.echo]
source = ${wasm('echo', 'echo.wasm')}
[component.evil]
source = ${wasm('evil', 'evil.wasm')}
[component.static]
source = { url = "https://github.com/fermyon/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:ef88708817e107bf49985c7cefe4dd1f199bf26f6727819183d5c996baa3d148" }
files = [{ source = "site", destination = "/" }]
`,
  );
  return dir;
}

/** Opens a raw socket, writes `data`, and hands the socket to `then` for the misbehaviour. */
function raw(port: number, data: string | Buffer, then: (s: net.Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      s.write(data);
      then(s);
    });
    s.on('data', (d: Buffer) => {
      if (got.length < 4096) got += d.toString('latin1');
    });
    // Half-open only on our side: once the gateway ends, so do we.
    s.on('end', () => s.end());
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every misbehaving client, once; resolves when all sockets are closed. */
function misbehave(port: number): Array<Promise<unknown>> {
  const get = (p: string): string => `GET ${p} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
  return [
    // Upload cut off mid-body (declared length, then chunked).
    raw(port, `POST /echo/body HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n${'a'.repeat(65536)}`, (s) => setTimeout(() => s.destroy(), 100)),
    raw(port, `POST /echo/body HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n4000\r\n${'b'.repeat(0x4000)}\r\n`, (s) => setTimeout(() => s.destroy(), 100)),
    // A body that never arrives, with Expect: 100-continue.
    raw(port, `POST /echo/body HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 1000\r\n\r\n`, (s) => setTimeout(() => s.destroy(), 300)),
    // Downloads abandoned after the headers, and downloads that stop reading, from a guest and from disk.
    raw(port, get('/evil/huge-response?mb=64'), (s) => s.once('data', () => s.destroy())),
    raw(port, get('/static/big.bin'), (s) => s.once('data', () => s.destroy())),
    raw(port, get('/evil/huge-response?mb=64'), (s) => s.once('data', () => (s.pause(), setTimeout(() => s.destroy(), 800)))),
    raw(port, get('/static/big.bin'), (s) => s.once('data', () => (s.pause(), setTimeout(() => s.destroy(), 800)))),
    // Gone before the guest answers; gone in the middle of a drip.
    raw(port, get('/evil/slow-response'), (s) => s.destroy()),
    raw(port, get('/evil/slow-response'), (s) => setTimeout(() => s.destroy(), 400)),
    // Half-close right after the request (Node's server takes that as the client going away).
    raw(port, `GET /echo/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`, (s) => s.end()),
    // Garbage, oversized headers, bad header bytes, pipelining then vanishing, a reset mid-headers.
    raw(port, 'GARBAGE\r\n\r\n', () => {}),
    raw(port, `GET /echo/x HTTP/1.1\r\nhost: x\r\nx-big: ${'h'.repeat(64 * 1024)}\r\n\r\n`, () => {}),
    raw(port, `GET /echo/x HTTP/1.1\r\nhost: x\r\nx-bad: a\u0000b\r\n\r\n`, () => {}),
    raw(port, `${get('/echo/1')}${get('/evil/huge-response?mb=8')}${get('/static/big.bin')}`, (s) => setTimeout(() => s.destroy(), 50)),
    raw(port, 'GET /echo/x HTTP/1.1\r\nhost', (s) => s.resetAndDestroy()),
    // A guest that traps and one that eats memory, while all this goes on.
    raw(port, `${get('/evil/memory-hog')}`, (s) => setTimeout(() => s.end(), 10)),
    raw(port, `${get('/evil/deep-recursion')}`, (s) => setTimeout(() => s.end(), 10)),
  ];
}

function request(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        // 'close' also covers a response the gateway cut off (a deadline mid-drip).
        res.on('close', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function metric(port: number, name: string): Promise<number> {
  const { body } = await request(port, '/metrics');
  let total = 0;
  for (const line of body.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.split(' ').pop());
  return total;
}

t.test('misbehaving clients cause no process fault, leak no worker, and never stop the gateway', async (t) => {
  const dir = auditApp();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = runSpinet(['up', dir], { SPINET_LISTEN: `127.0.0.1:${port}`, SPINET_DEADLINE_MS: '3000', SPINET_MAX_QUEUE: '64', SPINET_LOG_LEVEL: 'info' });
  t.teardown(() => child.kill('SIGKILL'));
  const done = finished(child);
  await listening(child);
  t.equal((await request(port, '/echo/warm')).status, 200, 'serving before');

  for (let round = 1; round <= 3; round++) {
    const healthy = request(port, '/echo/during');
    await Promise.all(misbehave(port));
    t.equal((await healthy).status, 200, `round ${round}: a healthy request in the middle of it is answered`);
  }
  // Two drips fill both workers; the requests queued behind them vanish while they wait.
  const blockers = [request(port, '/evil/slow-response').catch(() => undefined), request(port, '/evil/slow-response').catch(() => undefined)];
  await wait(300);
  await Promise.all(Array.from({ length: 6 }, () => raw(port, 'GET /echo/queued HTTP/1.1\r\nhost: x\r\n\r\n', (s) => setTimeout(() => s.destroy(), 200))));
  await Promise.all(blockers);

  // Everything settles: no instance still running, nobody waiting, and the pool serves in parallel.
  let busy = Infinity;
  for (let i = 0; i < 100 && busy > 0; i++) {
    busy = (await metric(port, 'spinet_instances_in_flight')) + (await metric(port, 'spinet_requests_waiting'));
    if (busy > 0) await wait(100);
  }
  t.equal(busy, 0, 'no worker slot or queue entry leaked');
  const after = await Promise.all([request(port, '/echo/a'), request(port, '/echo/b'), request(port, '/static/index.html')]);
  t.same(after.map((r) => r.status), [200, 200, 200], 'serving after');
  t.equal(await metric(port, 'spinet_process_faults_total'), 0, 'no fault reached the process handlers');

  child.kill('SIGTERM');
  const r = await done;
  t.equal(r.code, 0, 'and it still shuts down cleanly');
  // Guest output (lines tagged with `stream`) may say "uncaught exception" about the guest's own JS.
  const faults = logLines(r.stdout).filter((l) => l.stream === undefined && (Number(l.level) >= 60 || /unhandled|uncaught/i.test(String(l.msg))));
  t.same(faults, [], 'no fatal or unhandled-fault log line');
  t.notMatch(r.stderr, /Unhandled|uncaught|TypeError|RangeError/, 'nothing on stderr but the shutdown notice');
});

/** A preload that injects a fault on SIGUSR2: a promise rejected with nobody listening, or a throw. */
const INJECT = `data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2', () => { if (process.env.SPINET_TEST_FAULT === 'throw') setImmediate(() => { throw new Error('injected crash') }); else Promise.reject(new Error('injected rejection')); });",
)}`;

t.test('an unhandled rejection is logged and counted, and serving continues', async (t) => {
  const port = await freePort();
  const child = runSpinet(['up', appDir('components', 'echo')], { SPINET_LISTEN: `127.0.0.1:${port}`, SPINET_TEST_FAULT: 'reject' }, [`--import=${INJECT}`]);
  t.teardown(() => child.kill('SIGKILL'));
  const done = finished(child);
  await listening(child);
  child.kill('SIGUSR2');
  let faults = 0;
  for (let i = 0; i < 50 && faults === 0; i++) {
    await wait(100);
    faults = await metric(port, 'spinet_process_faults_total{kind="unhandled_rejection"}');
  }
  t.equal(faults, 1, 'counted once');
  t.equal((await request(port, '/echo/after')).status, 200, 'still serving');
  child.kill('SIGTERM');
  const r = await done;
  t.equal(r.code, 0);
  const line = logLines(r.stdout).find((l) => /unhandled promise rejection/.test(String(l.msg)));
  t.match(line, { level: 50, err: { message: 'injected rejection' } }, 'logged at error level with the reason');
});

t.test('an uncaught exception is logged as fatal; in-flight requests finish, then the process exits 1', async (t) => {
  const port = await freePort();
  const child = runSpinet(['up', appDir('components', 'echo')], { SPINET_LISTEN: `127.0.0.1:${port}`, SPINET_TEST_FAULT: 'throw' }, [`--import=${INJECT}`]);
  t.teardown(() => child.kill('SIGKILL'));
  const done = finished(child);
  await listening(child);
  // A request whose body is still arriving when the fault lands.
  const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/body/in-flight', method: 'POST', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write('before the crash, ');
    setTimeout(() => {
      child.kill('SIGUSR2');
      setTimeout(() => req.end('after it'), 400);
    }, 300);
  });
  const res = await inFlight;
  t.same(res, { status: 200, body: 'before the crash, after it' }, 'the in-flight request completed');
  const r = await done;
  t.equal(r.code, 1, 'exit code 1, for the supervisor to restart it');
  const line = logLines(r.stdout).find((l) => /uncaught exception/.test(String(l.msg)));
  t.match(line, { level: 60, err: { message: 'injected crash' } }, 'logged as fatal with the error');
});
