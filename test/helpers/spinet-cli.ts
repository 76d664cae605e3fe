/**
 * Test helpers for the developer commands (new, add, build, watch): run `spinet` as a user would, in
 * a working directory of the test's choosing, and wait for its outcome or for it to serve.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './gateway.js';

/** The compiled CLI entry. */
export const SPINET_MAIN = path.join(repoRoot, 'dist', 'server', 'main.js');

/** What a finished spinet process left behind. */
export interface SpinetOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `spinet <args>` in `cwd` with the test transpile cache and two workers. */
export function spawnSpinet(args: readonly string[], cwd: string, env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [SPINET_MAIN, ...args], {
    cwd,
    env: { ...process.env, SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'), SPINET_WORKERS: '2', SPINET_LOG_LEVEL: 'info', ...env },
  });
}

/** Collects the process's output; resolves when it exits. Call right after spawning. */
export function outcome(child: ChildProcessWithoutNullStreams): Promise<SpinetOutcome> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Runs `spinet <args>` in `cwd` to completion. */
export function runSpinet(args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<SpinetOutcome> {
  return outcome(spawnSpinet(args, cwd, env));
}

/** Resolves with the address of the "spinet serving on" log line; rejects if the process exits first. */
export function servingAddress(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /spinet serving on (http:\/\/[^"\s]+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`spinet exited ${code} before serving:\n${err}\n${out}`)));
  });
}

/** Sends SIGTERM and waits for the exit code. */
export async function stopSpinet(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}
