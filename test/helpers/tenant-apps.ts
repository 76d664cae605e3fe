/**
 * Test helpers for multi-tenancy: a gateway in multi-tenant mode, and small Spin apps written into a
 * temporary directory from the repository's built components.
 */
import path from 'node:path';
import os from 'node:os';
import { mkdtemp, mkdir, copyFile, writeFile } from 'node:fs/promises';
import { buildGateway } from '../../server/app.js';
import type { Gateway } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import type { TenantRouting } from '../../server/tenants/tenant-registry.js';
import { repoRoot } from './gateway.js';

/** A built component of the repository: components/<dir>/dist/<file>. */
export function builtWasm(dir: string, file = `${dir}.wasm`): string {
  return path.join(repoRoot, 'components', dir, 'dist', file);
}

/** A Spin app to write: routes to one component, plus extra manifest text and files. */
export interface AppSpec {
  readonly name: string;
  /** Built component to copy in as `app.wasm`. */
  readonly wasm: string;
  readonly routes?: readonly string[];
  /** Appended to `[component.app]`. */
  readonly componentExtra?: string;
  /** Appended to the manifest. */
  readonly extra?: string;
  /** Files to write, relative to the app directory. */
  readonly files?: Readonly<Record<string, string>>;
}

/** Writes an app into `parent/<dir>` and returns its directory. */
export async function writeApp(parent: string, spec: AppSpec, dir = spec.name): Promise<string> {
  const root = path.join(parent, dir);
  await mkdir(root, { recursive: true });
  await copyFile(spec.wasm, path.join(root, 'app.wasm'));
  const routes = (spec.routes ?? ['/...']).map((r) => `[[trigger.http]]\nroute = "${r}"\ncomponent = "app"\n`).join('\n');
  await writeFile(
    path.join(root, 'spin.toml'),
    `spin_manifest_version = 2\n\n[application]\nname = "${spec.name}"\n\n${routes}\n[component.app]\nsource = "app.wasm"\n${spec.componentExtra ?? ''}\n${spec.extra ?? ''}\n`,
  );
  for (const [rel, text] of Object.entries(spec.files ?? {})) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
  return root;
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'spinet-tenants-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A multi-tenant gateway with no apps yet, quiet logs, and its state in `stateDir`. */
export async function multiTenantGateway(stateDir: string, routing: TenantRouting = { baseDomain: 'apps.test', pathPrefix: true }, env: Record<string, string> = {}): Promise<Gateway> {
  const config = loadConfig(
    { stateDir },
    { SPINET_WORKERS: '2', SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_LOG_LEVEL: 'warn', ...env },
  );
  return buildGateway(config, { logger: { level: process.env.SPINET_TEST_LOG ?? 'silent' }, env: {}, cwd: repoRoot, tenancy: routing });
}
