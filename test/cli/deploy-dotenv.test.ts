/**
 * An app's `.env` (Spin's `SPIN_VARIABLE_<NAME>=value` lines, which `spin up` reads from the app
 * directory) travels with `spinet deploy`: packed with its mode, stored for the gateway's user only,
 * read by the deployed app below deploy-time `--variable` values, and never printed by either side.
 */
import t from 'tap';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { list as listTar } from 'tar';
import type { ReadEntry } from 'tar';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import { finished, runSpinet } from '../helpers/spinet-process.js';
import { freePort } from '../helpers/private-redis.js';
import { repoRoot } from '../helpers/gateway.js';
import { builtWasm, tempDir } from '../helpers/tenant-apps.js';

const TOKEN = 'dotenv-admin-token';

t.test('spinet deploy packs the app’s .env; the deployed app reads its variables from it, and no one prints them', async (t) => {
  const root = await tempDir();
  const store = path.join(root, 'store');
  const app = path.join(root, 'caps');
  await mkdir(path.join(app, 'dist'), { recursive: true });
  await copyFile(path.join(repoRoot, 'components', 'capabilities', 'spin.toml'), path.join(app, 'spin.toml'));
  await copyFile(builtWasm('capabilities'), path.join(app, 'dist', 'capabilities.wasm'));
  const secret = `tok-${randomBytes(6).toString('hex')}`;
  const greeting = `hi-${randomBytes(6).toString('hex')}`;
  await writeFile(path.join(app, '.env'), `# values for spin up and spinet deploy\nSPIN_VARIABLE_API_TOKEN=${secret}\nSPIN_VARIABLE_GREETING="${greeting}"\n`, { mode: 0o600 });

  const modes: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    const lister = listTar({ onReadEntry: (e: ReadEntry) => void (modes[e.path] = (e.mode ?? 0) & 0o777) });
    lister.on('end', resolve).on('error', reject);
    void loadManifest(app).then((m) => packBundle(m).pipe(lister), reject);
  });
  t.equal(modes['.env'], 0o600, 'the bundle holds .env with its mode');

  const [port, admin] = [await freePort(), await freePort()];
  const server = runSpinet(['serve', '--store', store, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--base-domain', 'apps.test'], {
    SPINET_ADMIN_TOKEN: TOKEN,
    SPINET_WORKERS: '1',
    SPINET_LOG_LEVEL: 'debug',
  });
  const serverOut = finished(server);
  t.teardown(async () => {
    if (server.exitCode === null) server.kill('SIGTERM');
    await serverOut;
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/admin API on/.test(out)) resolve();
    });
    server.once('exit', (code) => reject(new Error(`spinet serve exited ${code}: ${out}`)));
  });

  const deploy = async (...extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    finished(runSpinet(['deploy', app, '--no-build', ...extra], { SPINET_ADMIN_URL: `http://127.0.0.1:${admin}`, SPINET_ADMIN_TOKEN: TOKEN }));
  const variable = async (name: string): Promise<unknown> => {
    const res = await request(`http://127.0.0.1:${port}/full/var/${name}`, { headers: { host: 'capabilities.apps.test' } });
    return res.body.json();
  };

  const first = await deploy();
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /deployed capabilities version 1 \(serving\)/, 'the required api_token came from .env (without it the deploy is refused)');
  t.match(first.stderr, /packing \.env from .*caps/, 'deploy says it packs .env');
  t.same(await variable('token'), { ok: true, value: secret }, 'a secret variable from .env');
  t.same(await variable('greeting'), { ok: true, value: greeting }, 'a plain variable from .env');
  const stored = path.join(store, 'apps', 'capabilities', 'v1', '.env');
  t.equal((await stat(stored)).mode & 0o777, 0o600, 'the gateway keeps .env readable by its own user only');
  t.match(await readFile(stored, 'utf8'), secret);

  const second = await deploy('--variable', 'api_token=from-the-flag');
  t.equal(second.code, 0, second.stderr);
  t.same(await variable('token'), { ok: true, value: 'from-the-flag' }, 'a --variable value wins over .env');
  t.same(await variable('greeting'), { ok: true, value: greeting }, 'and .env still gives the others');

  await writeFile(path.join(app, '.env'), '', { mode: 0o600 });
  const third = await deploy();
  t.not(third.code, 0, 'with an empty .env the app lacks its required variable');
  t.match(third.stderr, /api_token/, 'and the refusal names it');

  server.kill('SIGTERM');
  const { stdout, stderr } = await serverOut;
  for (const [what, text] of [['spinet serve', stdout + stderr], ['spinet deploy', first.stdout + first.stderr + second.stdout + second.stderr + third.stdout + third.stderr]] as const) {
    t.notOk(text.includes(secret) || text.includes(greeting), `${what} prints no value from .env`);
  }
  t.match(stdout, /app deployed/, 'the gateway did log (at debug level)');
});
