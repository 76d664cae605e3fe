/**
 * The jco `imports` object: every host interface spinet serves, keyed by unversioned interface name.
 * jco strips versions from import keys, so one implementation serves every 0.2.x minor a component
 * names (third-party components mix 0.2.0 and 0.2.1 of one interface).
 *
 * Built once per worker: the classes are stateless; per-instance state is installed with
 * `activateInstance()` before each run (one instance runs on a worker at a time).
 */
import * as io from './wasi-io.js';
import * as http from './wasi-http.js';
import * as outgoing from './wasi-http-outgoing.js';
import * as cli from './wasi-cli.js';
import * as clocks from './wasi-clocks.js';
import * as rnd from './wasi-random.js';
import * as fsys from './wasi-filesystem.js';
import * as spin from './spin-interfaces.js';
import { setHostChannel } from './host-channel.js';
import type { HostChannel } from './host-channel.js';
import type { Waiter } from './wasi-io.js';
import type { CliContext } from './wasi-cli.js';

/** Builds the imports object handed to jco's `instantiate`. */
export function buildHostImports(): Record<string, Record<string, unknown>> {
  return {
    'wasi:io/error': { Error: io.IoError },
    'wasi:io/poll': { Pollable: io.Pollable, poll: io.poll },
    'wasi:io/streams': { InputStream: io.InputStream, OutputStream: io.OutputStream },
    'wasi:http/types': {
      Fields: http.Fields,
      IncomingRequest: http.IncomingRequest,
      IncomingBody: http.IncomingBody,
      FutureTrailers: http.FutureTrailers,
      OutgoingResponse: http.OutgoingResponse,
      OutgoingBody: http.OutgoingBody,
      ResponseOutparam: http.ResponseOutparam,
      RequestOptions: http.RequestOptions,
      OutgoingRequest: http.OutgoingRequest,
      IncomingResponse: outgoing.IncomingResponse,
      FutureIncomingResponse: outgoing.FutureIncomingResponse,
      httpErrorCode: http.httpErrorCode,
    },
    'wasi:http/outgoing-handler': { handle: outgoing.handle },
    'wasi:cli/environment': cli.environment,
    'wasi:cli/exit': cli.exit,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': { TerminalInput: cli.TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput: cli.TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: cli.terminals.getTerminalStdin },
    'wasi:cli/terminal-stdout': { getTerminalStdout: cli.terminals.getTerminalStdout },
    'wasi:cli/terminal-stderr': { getTerminalStderr: cli.terminals.getTerminalStderr },
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:random/random': rnd.random,
    'wasi:random/insecure': rnd.insecure,
    'wasi:random/insecure-seed': rnd.insecureSeed,
    'wasi:filesystem/types': fsys.types,
    'wasi:filesystem/preopens': fsys.preopens,
    'fermyon:spin/key-value': { Store: spin.Store },
    'fermyon:spin/variables': { get: spin.getVariable },
    'fermyon:spin/redis': { Connection: spin.Connection },
  };
}

/** Interface names (unversioned) spinet can satisfy; checked when a component loads. */
export const SUPPORTED_IMPORTS: ReadonlySet<string> = new Set(Object.keys(buildHostImports()));

/** The per-instance state the host interfaces read while a guest runs. */
export interface InstanceState {
  readonly waiter: Waiter;
  /** Host calls to the gateway thread; absent where no gateway serves them (benchmarks). */
  readonly channel?: HostChannel;
  readonly cli: CliContext;
  readonly filesystem: fsys.MountedFilesystem | undefined;
}

/** Installs (or, with undefined, clears) the running instance's state in every host interface. */
export function activateInstance(state: InstanceState | undefined): void {
  io.setWaiter(state?.waiter);
  setHostChannel(state?.channel);
  spin.resetInstance();
  clocks.setClockWaiter(state?.waiter);
  cli.setCliContext(state?.cli);
  fsys.setActiveFilesystem(state?.filesystem);
}
