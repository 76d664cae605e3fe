/**
 * wasi:cli (environment, exit, stdio, terminal-*) for guests: environment from the manifest's
 * `environment`, an empty stdin, stdout/stderr into the gateway log, no terminals.
 */
import { InputStream, OutputStream, EMPTY_SOURCE } from './wasi-io.js';
import type { ByteSink } from './wasi-io.js';

/** The per-instance facts wasi:cli serves. */
export interface CliContext {
  readonly environment: Array<[string, string]>;
  readonly stdout: ByteSink;
  readonly stderr: ByteSink;
}

let ctx: CliContext | undefined;

/** Installs the running instance's CLI context. */
export function setCliContext(c: CliContext | undefined): void {
  ctx = c;
}

function current(): CliContext {
  if (!ctx) throw new Error('wasi:cli used outside a running instance');
  return ctx;
}

/** Thrown through the guest's stack when it calls `wasi:cli/exit`; the executor reports it. */
export class GuestExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`guest called wasi:cli/exit with status ${code}`);
    this.code = code;
  }
}

/** `wasi:cli/environment`. */
export const environment = {
  getEnvironment(): Array<[string, string]> {
    return current().environment;
  },
  getArguments(): string[] {
    return [];
  },
  initialCwd(): string | undefined {
    return undefined;
  },
};

/** `wasi:cli/exit`. */
export const exit = {
  exit(status: { tag: 'ok' | 'err' }): never {
    throw new GuestExit(status.tag === 'ok' ? 0 : 1);
  },
  exitWithCode(code: number): never {
    throw new GuestExit(code);
  },
};

/** `wasi:cli/stdin`. */
export const stdin = {
  getStdin(): InputStream {
    return new InputStream(EMPTY_SOURCE);
  },
};

/** `wasi:cli/stdout`. */
export const stdout = {
  getStdout(): OutputStream {
    return new OutputStream(current().stdout);
  },
};

/** `wasi:cli/stderr`. */
export const stderr = {
  getStderr(): OutputStream {
    return new OutputStream(current().stderr);
  },
};

/** `wasi:cli/terminal-input.terminal-input` (never handed out). */
export class TerminalInput {}
/** `wasi:cli/terminal-output.terminal-output` (never handed out). */
export class TerminalOutput {}

/** `wasi:cli/terminal-stdin|stdout|stderr`: guests never run on a terminal here. */
export const terminals = {
  getTerminalStdin: (): undefined => undefined,
  getTerminalStdout: (): undefined => undefined,
  getTerminalStderr: (): undefined => undefined,
};
