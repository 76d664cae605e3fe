/**
 * `spinet watch`: an edit to a guest's source is rebuilt and swapped in while requests keep flowing,
 * and none of them fails; a broken edit is reported and the running version keeps serving.
 * Two componentize-js builds (the first build and the edit), so the file allows several minutes.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../server/free-port.js';
import { waitFor } from '../helpers/private-redis.js';
import { runSpinet, servingAddress, spawnSpinet, stopSpinet } from '../helpers/spinet-cli.js';

t.setTimeout(600_000);

t.test('an edited source is rebuilt and hot-swapped without failing a request in flight', async (t) => {
  const dir = t.testdir();
  t.equal((await runSpinet(['new', 'http-ts', 'live'], dir)).code, 0);
  const app = path.join(dir, 'live');
  const port = await freePort();
  const child = spawnSpinet(['watch', '--listen', `127.0.0.1:${port}`], app);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => stopSpinet(child));
  const address = await servingAddress(child);
  t.equal(await (await fetch(`${address}/`)).text(), 'Hello from live! You asked for GET /\n');
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

  const source = path.join(app, 'src', 'index.ts');
  await writeFile(source, (await readFile(source, 'utf8')).replace('Hello from', 'Howdy from'));
  await waitFor('the new version to answer', async () => (results.some((r) => 'body' in r && r.body.startsWith('Howdy')) ? true : undefined), 300_000);
  const swappedAt = results.length;
  await waitFor('more requests on the new version', async () => (results.length > swappedAt + 20 ? true : undefined));
  load = false;
  await Promise.all(clients);

  const failures = results.filter((r) => !('status' in r) || r.status !== 200);
  t.same(failures, [], `none of ${results.length} requests failed across the swap`);
  const bodies = new Set(results.map((r) => ('body' in r ? r.body.split('!')[0] : '')));
  t.same([...bodies].sort(), ['Hello from live', 'Howdy from live'], 'every answer came from the old or the new version');
  t.match(stderr, /src\/index\.ts changed: rebuilding live/);
  t.match(stderr, /reloaded live in [\d.]+ s/);

  // A broken edit: the build error is shown and the running version keeps serving.
  const before = stderr.length;
  await writeFile(source, "import { nothing } from './missing.js';\naddEventListener('fetch', nothing);\n");
  await waitFor('the failed build to be reported', async () => (/the previous version keeps serving/.test(stderr.slice(before)) ? true : undefined), 60_000);
  t.match(stderr.slice(before), /SPINET_ERR_BUILD_FAILED: component "live" \(spin\.toml:\d+\) failed to build:[\s\S]*\n\s*src\/index\.ts:1:\d+: Could not resolve "\.\/missing\.js"/);
  const still = await fetch(`${address}/`);
  t.equal(still.status, 200);
  t.equal(await still.text(), 'Howdy from live! You asked for GET /\n');

  t.equal(await stopSpinet(child), 0, 'SIGTERM stops the watcher and the gateway');
});
