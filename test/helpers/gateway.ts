/**
 * Test helpers: build a gateway for a manifest with quiet logs, repo paths, and the shared fixtures.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGateway } from '../../server/app.js';
import type { Gateway } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import type { ConfigFlags, GatewayConfig } from '../../server/config.js';
import type { InjectOptions, Response as LightResponse } from 'light-my-request';

/** The repository root (tests run compiled from dist/test/...). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** ../shared/fixtures/wasm/<name>. */
export function sharedWasm(name: string): string {
  return path.resolve(repoRoot, '..', 'shared', 'fixtures', 'wasm', name);
}

/** A directory under components/ or test/fixtures/apps/. */
export function appDir(kind: 'components' | 'fixtures', name: string): string {
  return kind === 'components' ? path.join(repoRoot, 'components', name) : path.join(repoRoot, 'test', 'fixtures', 'apps', name);
}

/** More ways to shape a test gateway. */
export interface TestGatewayExtras {
  /** CLI flags (variables, runtime config file, state dir). */
  readonly flags?: Omit<ConfigFlags, 'manifest'>;
  /** The environment variable providers read (SPIN_VARIABLE_*); empty by default, so tests are hermetic. */
  readonly variableEnv?: Record<string, string>;
  /** Where the default variable provider looks for `.env`. */
  readonly cwd?: string;
}

/** Builds a gateway for `manifest` with test-friendly defaults; `env` overrides SPINET_* settings. */
export async function testGateway(manifest: string, env: Record<string, string> = {}, logs?: object[], extras: TestGatewayExtras = {}): Promise<Gateway> {
  const config: GatewayConfig = loadConfig(
    { manifest, ...extras.flags },
    { SPINET_WORKERS: '2', SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_LOG_LEVEL: 'warn', ...env },
  );
  const stream = {
    write(line: string) {
      logs?.push(JSON.parse(line) as object);
    },
  };
  return buildGateway(config, { logger: { level: logs ? 'debug' : 'silent', stream }, env: extras.variableEnv ?? {}, cwd: extras.cwd ?? repoRoot });
}

/**
 * Starts an injected request now and returns a real Promise. light-my-request's `inject()` result is
 * lazy: it dispatches only when awaited, so requests meant to run concurrently must start here.
 */
export function fire(gw: Gateway, opts: InjectOptions): Promise<LightResponse> {
  return new Promise((resolve, reject) => {
    void gw.fastify.inject(opts).then(resolve, reject);
  });
}
