/**
 * Test helpers for the developer commands (new, add, build, watch): run `spinet` as a user would, in
 * a working directory of the test's choosing, and wait for its outcome or for it to serve.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { MAIN, finished, listening, runSpinet as spawnProcess } from './spinet-process.js';

/** The compiled CLI entry. */
export const SPINET_MAIN = MAIN;

/** What a finished spinet process left behind. */
export interface SpinetOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `spinet <args>` in `cwd` with the test transpile cache, two workers and info logs. */
export function spawnSpinet(args: readonly string[], cwd: string, env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawnProcess(args, { SPINET_LOG_LEVEL: 'info', ...env }, [], cwd);
}

/** Collects the process's output; resolves when it exits. Call right after spawning. */
export const outcome: (child: ChildProcessWithoutNullStreams) => Promise<SpinetOutcome> = finished;

/** Runs `spinet <args>` in `cwd` to completion. */
export function runSpinet(args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<SpinetOutcome> {
  return outcome(spawnSpinet(args, cwd, env));
}

/** Resolves with the address of the "spinet serving on" log line; rejects if the process exits first. */
export const servingAddress: (child: ChildProcessWithoutNullStreams) => Promise<string> = listening;

/** Sends SIGTERM and waits for the exit code. */
export async function stopSpinet(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}
