/**
 * Test helpers for spinet as a real process: spawn `node dist/server/main.js`, wait for it to listen,
 * collect its output, and check a port is closed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './gateway.js';

/** The compiled CLI entry. */
export const MAIN = path.join(repoRoot, 'dist', 'server', 'main.js');

/** Spawns `spinet <args>` with the test cache and two workers; `env` adds to (and overrides) the process's. */
export function runSpinet(args: readonly string[], env: Record<string, string> = {}, nodeFlags: readonly string[] = [], cwd?: string): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...nodeFlags, MAIN, ...args], {
    ...(cwd === undefined ? {} : { cwd }),
    env: { ...process.env, SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_WORKERS: '2', ...env },
  });
}

/** The process's exit code and everything it wrote. Call before the process can exit. */
export function finished(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves with the address from the "spinet serving on" log line; rejects if the process exits first. */
export function listening(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /spinet serving on (http:\/\/[^"\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    let err = '';
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`spinet exited ${code} before serving:\n${err}\n${out}`)));
  });
}

/** True when nothing accepts connections on 127.0.0.1:`port`. */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** The JSON log lines in `stdout` (pino writes one object per line). */
export function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
