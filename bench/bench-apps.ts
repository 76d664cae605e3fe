/**
 * What the benchmarks share. Apps the fault-containment benchmarks deploy, written into a temporary
 * directory from the repository's built components: a healthy hello, a key-value counter (the
 * capabilities guest's /app/kv/count: it drops the first path segment), a static site, and an evil
 * tenant (the evil guests plus an endless loop) with a short deadline. Also: statistics, a silent
 * logger and a plain GET for benchmarks that drive the executor directly, and running a benchmark
 * script as a child process for its output.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireHttpHandler } from '../server/wasm/component-loader.js';
import type { PreparedComponent } from '../server/wasm/component-loader.js';
import type { GuestRequest } from '../server/wasm/executor.js';
import type { Logger } from '../server/observability/logger.js';

/** The repository root (benchmarks run compiled from dist/bench). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const wasm = (dir: string, file = `${dir}.wasm`): string => JSON.stringify(path.join(root, 'components', dir, 'dist', file));
const FILESERVER = `{ url = "https://github.com/fermyon/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:ef88708817e107bf49985c7cefe4dd1f199bf26f6727819183d5c996baa3d148" }`;

async function app(parent: string, name: string, body: string, files: Record<string, string | Buffer> = {}): Promise<string> {
  const dir = path.join(parent, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'spin.toml'), `spin_manifest_version = 2\n[application]\nname = "${name}"\n${body}`);
  for (const [rel, data] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), data);
  }
  return dir;
}

/** Writes the benchmark apps under `parent`; returns tenant name → app directory. */
export async function writeBenchApps(parent: string): Promise<Record<'healthy' | 'kv' | 'static' | 'evil', string>> {
  return {
    healthy: await app(parent, 'healthy', `[[trigger.http]]\nroute = "/..."\ncomponent = "hello"\n[component.hello]\nsource = ${wasm('hello')}\n`),
    kv: await app(parent, 'kv', `[[trigger.http]]\nroute = "/..."\ncomponent = "kv"\n[component.kv]\nsource = ${wasm('capabilities')}\nkey_value_stores = ["default"]\n`),
    static: await app(
      parent,
      'static',
      `[[trigger.http]]\nroute = "/..."\ncomponent = "files"\n[component.files]\nsource = ${FILESERVER}\nfiles = [{ source = "site", destination = "/" }]\n`,
      { 'site/index.html': '<!doctype html><title>static</title><h1>static tenant</h1>\n', 'site/data.bin': Buffer.alloc(256 * 1024, 1) },
    ),
    evil: await app(
      parent,
      'evil',
      `[application.tool.spinet]\ndeadline_ms = 2000\n[[trigger.http]]\nroute = "/loop"\ncomponent = "loop"\n[[trigger.http]]\nroute = "/..."\ncomponent = "evil"\n[component.loop]\nsource = ${wasm('loop')}\n[component.evil]\nsource = ${wasm('evil')}\n`,
    ),
  };
}

/** Paths the evil tenant is hammered with: each misbehaviour the evil guests know, plus a loop. */
export const EVIL_PATHS = ['/loop', '/memory-hog', '/deep-recursion', '/huge-response?mb=32', '/slow-response', '/header-bomb?n=2000', '/write-after-finish', '/throw-later'];

/** Starts bench/tenant-gateway.js on `port` with `apps` deployed; resolves with the child once it serves. */
export function startTenantGateway(port: number, apps: Record<string, string>, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'bench', 'tenant-gateway.js'), `127.0.0.1:${port}`, ...Object.entries(apps).map(([n, d]) => `${n}=${d}`)], {
    env: { ...process.env, SPINET_ACCESS_LOG: 'false', SPINET_LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('serving on')) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`tenant gateway exited with ${code}:\n${out}`)));
  });
}

/**
 * Resolves once a server child says it is listening (spinet logs "serving on" at info level; the
 * bench servers print "listening"), rejects if it exits first. Its output keeps being read.
 */
export function waitListening(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      if (out.length < 64 * 1024) out += d.toString();
      if (/listening|serving on/.test(out)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening:\n${out}`)));
  });
}

/** Resident set size of a process (all its threads) in MiB, from /proc. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN') / 1024;
}

/** Stops a gateway child and waits for it. */
export async function stopGateway(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-th percentile (nearest rank) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** A logger that drops everything: benchmarks measure, they do not log. */
export const quietLogger: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => quietLogger };

/** A plain `GET /` to a wasi:http component, for benchmarks that call the executor directly. */
export function benchRequest(component: PreparedComponent, label: string, overrides: Partial<GuestRequest> = {}): GuestRequest {
  return {
    component,
    handler: requireHttpHandler(component, label),
    configKey: 'bench',
    config: { app: 'bench', component: 'bench', environment: [], files: [] },
    head: { method: 'GET', pathWithQuery: '/', scheme: 'http', authority: 'bench', headers: [] },
    body: null,
    maxBodyBytes: 1024,
    deadlineMs: 30_000,
    ...overrides,
  };
}

/** Runs a compiled benchmark script in its own Node process; resolves with its stdout, trimmed. */
export function runScript(script: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${path.basename(script)} exited with ${code}`))));
  });
}
