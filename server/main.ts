#!/usr/bin/env node
/**
 * Process entry: picks the command, wires signals, and owns the process's exit code (the only
 * process.exit in spinet). Errors print their code and message, never a stack, unless SPINET_DEBUG is set.
 */
import { up, UP_USAGE } from './cli/up.js';
import { demo, DEMO_USAGE } from './cli/demo.js';

const USAGE = `spinet: run Spin (WebAssembly component) apps on Node.js

Commands:
  up [APP_DIR | -f spin.toml] [--listen HOST:PORT]   serve a Spin app (default listen 127.0.0.1:3000)
  demo [--listen HOST:PORT] [--redis URL]            serve Finicky Whiskers, the demo game (with Redis)
  help                                               show this help

${UP_USAGE}

${DEMO_USAGE}`;

function fail(err: unknown): never {
  const e = err as { code?: string; message?: string; stack?: string };
  const code = typeof e.code === 'string' && e.code.startsWith('SPINET_ERR_') ? `${e.code}: ` : '';
  process.stderr.write(`spinet: ${code}${e.message ?? String(err)}\n`);
  if (process.env.SPINET_DEBUG && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'up':
    case 'demo': {
      const { stop, address } = await (command === 'up' ? up(rest) : demo(rest));
      if (!address) return;
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stopping) {
          process.stderr.write(`spinet: second ${signal}, exiting now\n`);
          process.exit(1);
        }
        stopping = true;
        process.stderr.write(`spinet: ${signal} received, finishing in-flight requests\n`);
        stop().then(
          () => process.exit(0),
          (err: unknown) => fail(err),
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(new Error(`unknown command "${command}"; run "spinet help" for the commands`));
  }
}

main().catch(fail);
