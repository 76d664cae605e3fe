/**
 * `spinet deploy` and `spinet apps`: the admin API's clients. `deploy` builds the app (its
 * `[component.x.build]` commands, like `spin deploy`), packs spin.toml with exactly the files it refers
 * to (and the app's `.env`, which `spin up` would read), and uploads the bundle; `apps` lists, shows, rolls back and deletes.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { loadManifest } from '../manifest/load-manifest.js';
import { BUNDLE_DOTENV, bundleFiles, packBundle } from '../tenants/bundle.js';
import { VARIABLES_HEADER } from '../plugins/admin-api.js';
import { CliUsageError, GuestBuildError } from '../errors.js';

/** Usage text for `spinet deploy`. */
export const DEPLOY_USAGE = `Usage: spinet deploy [APP_DIR | -f spin.toml] [--name NAME] [--host HOST]... [--variable NAME=VALUE]... [--no-build]
                     [--url URL] [--token TOKEN]

Builds the app, packs it and deploys it to a gateway running spinet serve (a new version; the old one
serves until the new one is ready). NAME defaults to the manifest's [application] name.
--variable  a value for one of the app's [variables] (NAME=@FILE reads it from a file here), stored with
            this version on the gateway; a rollback brings back the earlier version's values
            (a .env beside spin.toml is packed too: SPIN_VARIABLE_<NAME>=VALUE lines, used when
            no --variable or runtime config provider gives a value, as spin up does)
--url    the admin API (SPINET_ADMIN_URL; default http://127.0.0.1:3001)
--token  the admin token (SPINET_ADMIN_TOKEN)`;

/** Usage text for `spinet apps`. */
export const APPS_USAGE = `Usage: spinet apps [list | show NAME | rollback NAME | delete NAME] [--url URL] [--token TOKEN]`;

interface Remote {
  readonly url: string;
  readonly token: string | undefined;
}

function remoteOf(values: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv): Remote {
  return { url: (values.url ?? env.SPINET_ADMIN_URL ?? 'http://127.0.0.1:3001').replace(/\/$/, ''), token: values.token ?? env.SPINET_ADMIN_TOKEN };
}

async function call(remote: Remote, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: NodeJS.ReadableStream, extra: Record<string, string> = {}): Promise<unknown> {
  const res = await request(`${remote.url}${path}`, {
    method,
    headers: { ...(remote.token ? { authorization: `Bearer ${remote.token}` } : {}), ...(body ? { 'content-type': 'application/gzip' } : {}), ...extra },
    ...(body ? { body: body as never } : {}),
  });
  const text = await res.body.text();
  const json = text === '' ? undefined : (JSON.parse(text) as { code?: string; message?: string });
  if (res.statusCode >= 400) {
    throw Object.assign(new Error(`${res.statusCode}: ${json?.message ?? text}`), { code: json?.code ?? 'SPINET_ERR_ADMIN_REQUEST' });
  }
  return json;
}

async function runBuild(command: string, cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, { cwd, shell: true, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new GuestBuildError(`build command "${command}" (in ${cwd}) exited with ${code}`))));
  });
}

type AppJson = { name: string; version: number; state: string; hosts: string[]; history: number[]; routes: Array<{ route: string }>; error?: string };

function describe(a: AppJson): string {
  return `${a.name}\tv${a.version}\t${a.state}\t${a.hosts.join(',') || '-'}\t${a.routes.map((r) => r.route).join(' ')}${a.error ? `\t${a.error}` : ''}`;
}

/**
 * `--variable` arguments as the admin API's variables header value (base64 JSON). `NAME=@FILE` reads
 * FILE relative to `cwd`. Errors name the argument's position, never its value (it may be a secret).
 */
export async function variablesHeaderValue(args: readonly string[], cwd: string): Promise<string | undefined> {
  if (args.length === 0) return undefined;
  const values: Record<string, string> = {};
  for (const [i, arg] of args.entries()) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? '' : arg.slice(0, eq);
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new CliUsageError(`--variable #${i + 1}: use NAME=VALUE or NAME=@FILE with a lower_snake_case NAME`);
    const raw = arg.slice(eq + 1);
    if (raw.startsWith('@')) {
      const { readFile } = await import('node:fs/promises');
      const nodePath = await import('node:path');
      try {
        values[name] = (await readFile(nodePath.resolve(cwd, raw.slice(1)), 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw new CliUsageError(`--variable ${name}=@${raw.slice(1)}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    } else {
      values[name] = raw;
    }
  }
  return Buffer.from(JSON.stringify(values)).toString('base64');
}

/** Runs `spinet deploy`. */
export async function deploy(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        from: { type: 'string', short: 'f' },
        name: { type: 'string' },
        host: { type: 'string', multiple: true },
        variable: { type: 'string', multiple: true },
        'no-build': { type: 'boolean' },
        url: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${DEPLOY_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${DEPLOY_USAGE}\n`);
    return;
  }
  if (positionals.length > 1) throw new CliUsageError(`give one app directory\n\n${DEPLOY_USAGE}`);
  const source = values.from ?? positionals[0] ?? '.';
  if (!values['no-build']) {
    // The manifest may not load before its components exist, so build from what it says first.
    const { parse } = await import('smol-toml');
    const { readFile } = await import('node:fs/promises');
    const nodePath = await import('node:path');
    const file = source.endsWith('.toml') ? source : nodePath.join(source, 'spin.toml');
    const raw = parse(await readFile(file, 'utf8')) as { component?: Record<string, { build?: { command?: string; workdir?: string } }> };
    for (const [id, c] of Object.entries(raw.component ?? {})) {
      if (!c.build?.command) continue;
      process.stderr.write(`spinet deploy: building ${id}: ${c.build.command}\n`);
      await runBuild(c.build.command, nodePath.resolve(nodePath.dirname(file), c.build.workdir ?? '.'));
    }
  }
  const manifest = await loadManifest(source);
  const name = values.name ?? manifest.name;
  if (bundleFiles(manifest).includes(BUNDLE_DOTENV)) {
    // Its name only, never what it holds: the values may be secrets.
    process.stderr.write(`spinet deploy: packing ${BUNDLE_DOTENV} from ${manifest.root} (SPIN_VARIABLE_<NAME> values for the app's variables; the gateway keeps it readable by its own user only)\n`);
  }
  const query = (values.host ?? []).map((h) => `host=${encodeURIComponent(h)}`).join('&');
  const variables = await variablesHeaderValue(values.variable ?? [], process.cwd());
  const result = (await call(remoteOf(values, env), 'PUT', `/v1/apps/${encodeURIComponent(name)}${query ? `?${query}` : ''}`, packBundle(manifest), variables ? { [VARIABLES_HEADER]: variables } : {})) as AppJson;
  process.stdout.write(`deployed ${result.name} version ${result.version} (${result.state})\n`);
}

/** Runs `spinet apps`. */
export async function apps(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${APPS_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${APPS_USAGE}\n`);
    return;
  }
  const remote = remoteOf(values, env);
  const [action = 'list', name] = positionals;
  if (action !== 'list' && !name) throw new CliUsageError(`"apps ${action}" needs an app name\n\n${APPS_USAGE}`);
  const target = `/v1/apps/${encodeURIComponent(name ?? '')}`;
  switch (action) {
    case 'list': {
      const { apps: list } = (await call(remote, 'GET', '/v1/apps')) as { apps: AppJson[] };
      process.stdout.write(`NAME\tVERSION\tSTATE\tHOSTS\tROUTES\n${list.map(describe).join('\n')}${list.length ? '\n' : ''}`);
      return;
    }
    case 'show':
      process.stdout.write(`${JSON.stringify(await call(remote, 'GET', target), null, 2)}\n`);
      return;
    case 'rollback': {
      const a = (await call(remote, 'POST', `${target}/rollback`)) as AppJson;
      process.stdout.write(`${a.name} rolled back to version ${a.version}\n`);
      return;
    }
    case 'delete':
      await call(remote, 'DELETE', target);
      process.stdout.write(`${name} deleted\n`);
      return;
    default:
      throw new CliUsageError(`unknown action "${action}"\n\n${APPS_USAGE}`);
  }
}
