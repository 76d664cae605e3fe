/**
 * Every template, end to end as a newcomer runs it: `spinet new` → `spinet build` → `spinet up` on a
 * real port → a request (or a Redis message) → the expected response. The generated TypeScript also
 * type-checks against spinet's SDK types. The four guest builds (componentize-js, 10–30 s each) start
 * together, two at a time, before the first test needs one. `spinet watch` is tested last on the
 * http-js app, whose first build is then cached: only the edit is componentized.
 */
import t from 'tap';
import type { Test } from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../server/free-port.js';
import { repoRoot } from '../helpers/gateway.js';
import { waitFor } from '../helpers/private-redis.js';
import { runSpinet, servingAddress, spawnSpinet, stopSpinet } from '../helpers/spinet-cli.js';
import type { SpinetOutcome } from '../helpers/spinet-cli.js';

// Four componentize-js builds on a shared two-core machine can outlast tap's default per-file timeout.
t.setTimeout(600_000);

const work = await mkdtemp(path.join(os.tmpdir(), 'spinet-templates-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
// Unique per run: the Redis channel and list are named after the app, and Redis is shared.
const suffix = `p${process.pid}`;

/** Creates the app and starts its build; builds run two at a time (componentize-js is CPU-bound). */
const queue: Array<() => void> = [];
let running = 0;
function limited<T>(job: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const start = (): void => {
      running++;
      job()
        .then(resolve, reject)
        .finally(() => {
          running--;
          queue.shift()?.();
        });
    };
    if (running < 2) start();
    else queue.push(start);
  });
}

interface Made {
  readonly dir: string;
  readonly created: SpinetOutcome;
  readonly built: SpinetOutcome;
}

function make(template: string, name: string): Promise<Made> {
  return (async () => {
    const created = await runSpinet(['new', template, name], work);
    const dir = path.join(work, name);
    const built = created.code === 0 ? await limited(() => runSpinet(['build'], dir)) : created;
    return { dir, created, built };
  })();
}

/** Whether clang can build a WASI core module here (.ci/run installs it; a developer machine may not have it). */
const clangProblem = await new Promise<string | undefined>((resolve) => {
  const cc = spawn('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-x', 'c', '-', '-o', '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
  cc.on('error', (e) => resolve(e.message));
  cc.on('close', (code) => resolve(code === 0 ? undefined : `clang --target=wasm32-wasi exited ${code}`));
  cc.stdin.end('#include <stdlib.h>\nint f(void) { return abs(-1); }\n');
});

const apps = {
  httpTs: make('http-ts', 'hello-ts'),
  ...(clangProblem === undefined ? { httpC: make('http-c', 'hello-c') } : {}),
  httpJs: make('http-js', 'hello-js'),
  kvTs: make('kv-ts', 'visits'),
  redisTs: make('redis-ts', `rt-${suffix}`),
  staticSite: make('static-site', 'site'),
};
// Failures surface in the test that awaits them.
for (const p of Object.values(apps)) p.catch(() => {});

async function ready(t: Test, app: Promise<Made>): Promise<string> {
  const made = await app;
  t.equal(made.created.code, 0, `spinet new: ${made.created.stderr}`);
  t.equal(made.built.code, 0, `spinet build: ${made.built.stderr}`);
  return made.dir;
}

/** Serves the app on a free port for the rest of the test. */
async function serve(t: Test, dir: string, args: string[] = []): Promise<string> {
  const port = await freePort();
  const child = spawnSpinet(['up', '--listen', `127.0.0.1:${port}`, ...args], dir);
  t.teardown(() => stopSpinet(child));
  return servingAddress(child);
}

function typecheck(dir: string): Promise<{ code: number | null; out: string }> {
  const tsc = spawn(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(dir, 'tsconfig.json')], { cwd: dir });
  let out = '';
  tsc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => tsc.on('close', (code) => resolve({ code, out })));
}

t.test('http-ts: new → build → up answers from the typed handler; the source type-checks', async (t) => {
  const dir = await ready(t, apps.httpTs);
  t.match((await apps.httpTs).built.stderr, /hello-ts: componentizing \(world http-guest[\s\S]*hello-ts: built in \d/, 'progress lines for the slow step');
  const address = await serve(t, dir);
  const res = await fetch(`${address}/some/path`);
  t.equal(res.status, 200);
  t.equal(await res.text(), 'Hello from hello-ts! You asked for GET /some/path\n');
  const tsc = await typecheck(dir);
  t.equal(tsc.code, 0, tsc.out);

  const again = await runSpinet(['build'], dir);
  t.equal(again.code, 0);
  t.match(again.stderr, /hello-ts: up to date/, 'an unchanged guest is not rebuilt');
  t.notMatch(again.stderr, /componentizing/);
});

t.test('http-js: new → build → up answers from the JavaScript handler', async (t) => {
  const dir = await ready(t, apps.httpJs);
  const address = await serve(t, dir);
  const res = await fetch(`${address}/`, { method: 'POST', body: 'x' });
  t.equal(res.status, 200);
  t.equal(await res.text(), 'Hello from hello-js! You asked for POST /\n');
});

t.test('http-c: new → build (clang, then spinet componentize) → up answers from the C handler', { skip: clangProblem && `needs clang for wasm32-wasi (${clangProblem}); Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32` }, async (t) => {
  const app = apps.httpC;
  if (app === undefined) return;
  const dir = await ready(t, app);
  t.match((await app).built.stderr, /hello-c: making a component of the core module/);
  const address = await serve(t, dir);
  const res = await fetch(`${address}/greet?who=c`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await res.text(), 'Hello from hello-c, written in C! You asked for /greet?who=c\n');
});

t.test('kv-ts: new → build → up counts in the key-value store, which survives a restart', async (t) => {
  const dir = await ready(t, apps.kvTs);
  t.equal((await typecheck(dir)).code, 0, 'the SDK import type-checks');
  const first = await serve(t, dir);
  t.equal(await (await fetch(`${first}/`)).text(), 'count: 1\n');
  t.equal(await (await fetch(`${first}/`)).text(), 'count: 2\n');
  const second = await serve(t, dir);
  t.equal(await (await fetch(`${second}/`)).text(), 'count: 3\n', 'the embedded store is on disk in .spin/');
  t.equal(await (await fetch(`${second}/`, { method: 'DELETE' })).text(), 'count reset\n');
});

t.test('redis-ts: new → build → up handles a published message and records it in Redis', async (t) => {
  const dir = await ready(t, apps.redisTs);
  t.equal((await typecheck(dir)).code, 0, 'the Redis handler type-checks');
  const name = `rt-${suffix}`;
  const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  t.teardown(async () => {
    await redis.del(`${name}:received`);
    redis.disconnect();
  });
  await redis.del(`${name}:received`);
  await serve(t, dir);
  // The subscription starts after listening: publish until someone receives it.
  await waitFor('the app to subscribe', async () => ((await redis.publish(name, 'first')) > 0 ? true : undefined));
  await redis.publish(name, 'second');
  const got = await waitFor('both messages to be recorded', async () => {
    const list = await redis.lrange(`${name}:received`, 0, -1);
    return list.length >= 2 ? list : undefined;
  });
  t.same(got, ['first', 'second']);
});

t.test('static-site: new → build (nothing to do) → up serves the page and its assets', async (t) => {
  const dir = await ready(t, apps.staticSite);
  t.match((await apps.staticSite).built.stderr, /nothing to build/);
  const address = await serve(t, dir);
  const page = await fetch(`${address}/`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /text\/html/);
  t.match(await page.text(), /<h1>site<\/h1>/);
  t.equal((await fetch(`${address}/style.css`)).status, 200);
  t.equal((await fetch(`${address}/nope.html`)).status, 404);
});

t.test('add: a static site added to the http-ts app serves under its route; build --up builds and serves', async (t) => {
  const dir = await ready(t, apps.httpTs);
  const added = await runSpinet(['add', 'static-site', 'web'], dir);
  t.equal(added.code, 0, added.stderr);
  t.match(await readFile(path.join(dir, 'spin.toml'), 'utf8'), /route = "\/web\/\.\.\."/);
  const port = await freePort();
  const child = spawnSpinet(['build', '--up', '--listen', `127.0.0.1:${port}`], dir);
  t.teardown(() => stopSpinet(child));
  const address = await servingAddress(child);
  t.equal(await (await fetch(`${address}/api`)).text(), 'Hello from hello-ts! You asked for GET /api\n');
  const page = await fetch(`${address}/web/`);
  t.equal(page.status, 200);
  t.match(await page.text(), /<h1>web<\/h1>/);
});

t.test('watch: an edited source is rebuilt and hot-swapped without failing a request in flight', async (t) => {
  // The http-js app is built already (its first build is cached): only the edit is componentized.
  const app = await ready(t, apps.httpJs);
  const port = await freePort();
  const child = spawnSpinet(['watch', '--listen', `127.0.0.1:${port}`], app);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => stopSpinet(child));
  const address = await servingAddress(child);
  t.equal(await (await fetch(`${address}/`)).text(), 'Hello from hello-js! You asked for GET /\n');
  await waitFor('the watcher to start', async () => (/watching \d+ file/.test(stderr) ? true : undefined));

  // Two clients send requests back to back for the whole rebuild and swap.
  const results: Array<{ status: number; body: string } | { error: string }> = [];
  let load = true;
  const client = async (): Promise<void> => {
    while (load) {
      try {
        const res = await fetch(`${address}/`);
        results.push({ status: res.status, body: await res.text() });
      } catch (error) {
        results.push({ error: String(error) });
      }
    }
  };
  const clients = [client(), client()];

  const source = path.join(app, 'src', 'index.js');
  await writeFile(source, (await readFile(source, 'utf8')).replace('Hello from', 'Howdy from'));
  await waitFor('the new version to answer', async () => (results.some((r) => 'body' in r && r.body.startsWith('Howdy')) ? true : undefined), 300_000);
  const swappedAt = results.length;
  await waitFor('more requests on the new version', async () => (results.length > swappedAt + 20 ? true : undefined));
  load = false;
  await Promise.all(clients);

  const failures = results.filter((r) => !('status' in r) || r.status !== 200);
  t.same(failures, [], `none of ${results.length} requests failed across the swap`);
  const bodies = new Set(results.map((r) => ('body' in r ? r.body.split('!')[0] : '')));
  t.same([...bodies].sort(), ['Hello from hello-js', 'Howdy from hello-js'], 'every answer came from the old or the new version');
  t.match(stderr, /src\/index\.js changed: rebuilding hello-js/);
  t.match(stderr, /reloaded hello-js in [\d.]+ s/);

  // A broken edit: the build error is shown and the running version keeps serving.
  const before = stderr.length;
  await writeFile(source, "import { nothing } from './missing.js';\naddEventListener('fetch', nothing);\n");
  await waitFor('the failed build to be reported', async () => (/the previous version keeps serving/.test(stderr.slice(before)) ? true : undefined), 60_000);
  t.match(stderr.slice(before), /SPINET_ERR_BUILD_FAILED: component "hello-js" \(spin\.toml:\d+\) failed to build:[\s\S]*\n\s*src\/index\.js:1:\d+: Could not resolve "\.\/missing\.js"/);
  const still = await fetch(`${address}/`);
  t.equal(still.status, 200);
  t.equal(await still.text(), 'Howdy from hello-js! You asked for GET /\n');

  t.equal(await stopSpinet(child), 0, 'SIGTERM stops the watcher and the gateway');
});
