/**
 * Variables set at deploy time (`spinet deploy --variable`, the admin API's spinet-variables header)
 * reach the app, are stored with the version (a rollback brings the earlier values back, a restart
 * keeps them), are taken literally (never read as @file on the gateway), refuse undeclared names,
 * and never appear in a response, a log line or the bundle's directory.
 */
import t from 'tap';
import path from 'node:path';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Response as InjectResponse } from 'light-my-request';
import { buildGateway } from '../../server/app.js';
import type { Gateway } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import { buildAdminApi, parseVariablesHeader, VARIABLES_HEADER } from '../../server/plugins/admin-api.js';
import { variablesHeaderValue } from '../../server/cli/deploy.js';
import { AppService } from '../../server/tenants/app-service.js';
import { AppStore } from '../../server/tenants/app-store.js';
import { packBundle } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import type { Logger } from '../../server/observability/logger.js';
import { repoRoot } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tenant-apps.js';

const SECRET = 'tok-5ee1-never-logged';
const header = (values: Record<string, string>): string => Buffer.from(JSON.stringify(values)).toString('base64');

async function capabilitiesBundle(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packBundle(await loadManifest(path.join(repoRoot, 'components', 'capabilities')))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Member {
  readonly gw: Gateway;
  readonly admin: FastifyInstance;
  logs(): string;
}

async function member(storeDir: string, stateDir: string): Promise<Member> {
  let logs = '';
  const stream = { write: (line: string) => void (logs += line) };
  const config = loadConfig({ stateDir }, { SPINET_WORKERS: '1', SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_LOG_LEVEL: 'trace' });
  const gw = await buildGateway(config, { logger: { level: 'trace', stream }, env: {}, cwd: repoRoot, tenancy: { baseDomain: 'apps.test', pathPrefix: true } });
  const service = new AppService({ store: new AppStore(storeDir), host: gw, logger: gw.fastify.log as unknown as Logger });
  await service.loadAll();
  const admin = await buildAdminApi({ service, token: undefined, logger: { level: 'trace', stream } });
  return { gw, admin, logs: () => logs };
}

t.test('deploy-time variables reach the app, follow its versions and stay secret', async (t) => {
  const root = await tempDir();
  const storeDir = path.join(root, 'store');
  let m = await member(storeDir, root);
  t.teardown(async () => {
    await m.admin.close();
    await m.gw.close();
  });
  const bundle = await capabilitiesBundle();
  const deploy = (values?: Record<string, string>, raw?: string): Promise<InjectResponse> =>
    m.admin.inject({
      method: 'PUT',
      url: '/v1/apps/caps',
      headers: { 'content-type': 'application/gzip', ...(raw !== undefined ? { [VARIABLES_HEADER]: raw } : values ? { [VARIABLES_HEADER]: header(values) } : {}) },
      payload: bundle,
    });
  const token = async (): Promise<unknown> => {
    const res = await m.gw.fastify.inject({ url: '/full/var/token', headers: { host: 'caps.apps.test' } });
    return (res.json() as { value?: unknown }).value;
  };

  let res = await deploy();
  t.equal(res.statusCode, 422, 'without a value for its required api_token the app is refused');
  t.match(res.json(), { code: 'SPINET_ERR_VARIABLES', message: /api_token/ });

  res = await deploy({ api_token: SECRET });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json().variables, ['api_token'], 'the app shows which variables were set');
  t.equal(await token(), SECRET, 'the component reads the value');

  res = await deploy({ api_token: '@/etc/hostname', greeting: 'hi' });
  t.equal(res.statusCode, 200);
  t.equal(await token(), '@/etc/hostname', 'a value starting with @ is taken literally, not read from the gateway’s disk');

  res = await m.admin.inject({ method: 'POST', url: '/v1/apps/caps/rollback' });
  t.equal(res.statusCode, 200);
  t.equal(await token(), SECRET, 'a rollback brings back the values that version was deployed with');

  const refused: Array<[string, InjectResponse, number, RegExp]> = [
    ['an undeclared name', await deploy({ api_token: SECRET, nope: SECRET }), 422, /"nope", not declared.*Declared variables: greeting, api_token, upstream, redis_address/],
    ['a name that is not lower_snake_case', await deploy({ 'Bad-Name': SECRET }), 400, /"Bad-Name" is not a variable name/],
    ['a value that is not a string', await deploy(undefined, header({ api_token: 42 } as unknown as Record<string, string>)), 400, /value of "api_token" is not a string/],
    ['a header that is not base64 JSON', await deploy(undefined, '%%%not-base64%%%'), 400, /not base64 of a JSON object/],
    ['a JSON array', await deploy(undefined, Buffer.from('["x"]').toString('base64')), 400, /not a JSON object/],
  ];
  for (const [why, r, status, message] of refused) {
    t.equal(r.statusCode, status, `${why} is refused with ${status}`);
    t.match(r.json().message, message);
    t.notMatch(r.body, SECRET, `${why}: the answer does not echo the value`);
  }
  t.equal(await token(), SECRET, 'and refused deploys change nothing');

  const listing = await m.admin.inject({ url: '/v1/apps' });
  t.notMatch(listing.body, SECRET, 'no value in the app listing');
  const appDir = path.join(storeDir, 'apps', 'caps');
  const files = await readdir(appDir);
  const variableFiles = files.filter((f) => f.endsWith('.variables.json'));
  t.ok(variableFiles.length >= 1, 'values are stored beside the versions');
  for (const f of variableFiles) t.equal((await stat(path.join(appDir, f))).mode & 0o777, 0o600, `${f} is readable by the gateway’s user only`);
  for (const dir of files.filter((f) => /^v\d+$/.test(f))) {
    for (const inner of await readdir(path.join(appDir, dir), { recursive: true })) {
      const p = path.join(appDir, dir, String(inner));
      if ((await stat(p)).isFile()) t.notMatch(await readFile(p, 'latin1'), SECRET, `${dir}/${inner} (which a file server could mount) holds no value`);
    }
  }

  await m.admin.close();
  await m.gw.close();
  m = await member(storeDir, root);
  t.equal(await token(), SECRET, 'after a restart the app comes back with its values');
  t.notMatch(m.logs(), SECRET, 'no log line of the restarted gateway holds the value');
});

t.test('no log line holds a deploy-time value', async (t) => {
  const root = await tempDir();
  const m = await member(path.join(root, 'store'), root);
  t.teardown(async () => {
    await m.admin.close();
    await m.gw.close();
  });
  const res = await m.admin.inject({ method: 'PUT', url: '/v1/apps/caps', headers: { 'content-type': 'application/gzip', [VARIABLES_HEADER]: header({ api_token: SECRET }) }, payload: await capabilitiesBundle() });
  t.equal(res.statusCode, 200);
  await m.admin.inject({ method: 'PUT', url: '/v1/apps/caps', headers: { 'content-type': 'application/gzip', [VARIABLES_HEADER]: header({ api_token: SECRET, undeclared: SECRET }) }, payload: await capabilitiesBundle() });
  await m.gw.fastify.inject({ url: '/full/var/token', headers: { host: 'caps.apps.test' } });
  t.match(m.logs(), /"variables":\["api_token"\]/, 'the deploy is logged with the variable names');
  t.notMatch(m.logs(), SECRET, 'but never a value');
});

t.test('spinet deploy --variable packs NAME=VALUE and NAME=@FILE into the header, and refuses other forms without echoing them', async (t) => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'token.txt'), `${SECRET}\n`);
  const value = await variablesHeaderValue(['greeting=a=b', 'api_token=@token.txt', 'empty='], dir);
  t.same(parseVariablesHeader(value), { greeting: 'a=b', api_token: SECRET, empty: '' }, 'values keep their = signs; a file loses its final newline');
  t.equal(await variablesHeaderValue([], dir), undefined, 'no --variable, no header');
  for (const bad of [`${SECRET}`, `Token=${SECRET}`, `=${SECRET}`]) {
    await t.rejects(variablesHeaderValue([bad], dir), { code: 'SPINET_ERR_CLI_USAGE', message: /--variable #1: use NAME=VALUE/ });
    await variablesHeaderValue([bad], dir).catch((err: Error) => t.notMatch(err.message, SECRET, 'the message does not echo the argument'));
  }
  await t.rejects(variablesHeaderValue(['api_token=@missing.txt'], dir), { message: /api_token=@missing\.txt: cannot read the file \(ENOENT\)/ });
});
