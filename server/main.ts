#!/usr/bin/env node
/**
 * Process entry: picks the command, wires signals, and owns the process's exit code (the only
 * process.exit in spinet). Errors print their code and message, never a stack, unless SPINET_DEBUG is set.
 */
import type { RunningGateway } from './app.js';

/** The help text; the commands' own usage texts come from their modules, loaded only for help. */
const usage = async (): Promise<string> => {
  const [{ UP_USAGE }, { DEMO_USAGE }, { SERVE_USAGE }] = await Promise.all([import('./cli/up.js'), import('./cli/demo.js'), import('./cli/serve.js')]);
  return `spinet: run Spin (WebAssembly component) apps on Node.js

Commands:
  up [APP_DIR | -f spin.toml] [--listen HOST:PORT]   serve a Spin app (default listen 127.0.0.1:3000)
  demo [--listen HOST:PORT] [--redis URL]            serve Finicky Whiskers, the demo game (with Redis)
  serve [--store DIR] [--base-domain D]              serve many apps from an app store, deployed at run time
  deploy [APP_DIR] [--name N] [--host H]             build, pack and deploy an app to a spinet serve gateway
  apps [list | show | rollback | delete NAME]        manage the apps on a spinet serve gateway
  new TEMPLATE NAME | new --list                     create an app from a template (http-ts, kv-ts, ...)
  add TEMPLATE NAME                                  add a component to the app in this directory
  build [APP_DIR] [--up]                             build the app's components (then serve it with --up)
  componentize ENTRY -o OUT.wasm                     build one TypeScript/JavaScript guest into a component
  doctor [APP_DIR]                                   check Node, build tools and the Redis an app needs
  watch [APP_DIR] [up flags]                         build, serve, and rebuild + hot-swap on every save
  help                                               show this help

${UP_USAGE}

${DEMO_USAGE}

${SERVE_USAGE}`;
};

function fail(err: unknown): never {
  const e = err as { code?: string; message?: string; stack?: string };
  const code = typeof e.code === 'string' && e.code.startsWith('SPINET_ERR_') ? `${e.code}: ` : '';
  process.stderr.write(`spinet: ${code}${e.message ?? String(err)}\n`);
  if (process.env.SPINET_DEBUG && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}

/**
 * Process-level fault handlers for a serving gateway. Guest and client behaviour never reach these
 * (the executor and triggers contain them); anything that does is a spinet bug, logged and counted.
 * An unhandled rejection is a promise nobody awaited: it left no half-run code behind, so serving
 * goes on. An uncaught exception unwound a stack mid-flight and may have left shared state
 * half-updated, so the gateway drains what is in flight (up to its grace) and exits 1 for the
 * supervisor to restart it.
 */
function guardProcess(running: RunningGateway, stopAndExit: (code: number) => void): void {
  const gw = running.gateway;
  const log = gw?.fastify.log;
  process.on('unhandledRejection', (reason: unknown) => {
    gw?.metrics.processFaults.inc({ kind: 'unhandled_rejection' });
    if (log) log.error({ err: reason }, 'unhandled promise rejection (a spinet bug); serving continues');
    else process.stderr.write(`spinet: unhandled promise rejection: ${String(reason)}\n`);
  });
  process.on('uncaughtException', (err: Error) => {
    gw?.metrics.processFaults.inc({ kind: 'uncaught_exception' });
    if (log) log.fatal({ err }, 'uncaught exception (a spinet bug); draining in-flight work, then exiting 1');
    else process.stderr.write(`spinet: uncaught exception: ${err.stack ?? String(err)}\n`);
    stopAndExit(1);
  });
}

/**
 * Each command's module is loaded when that command runs: a command's dependencies (Fastify, undici,
 * the build tools, the admin API...) cost start-up time in every other command otherwise.
 */
async function main(): Promise<void> {
  const [first, ...args] = process.argv.slice(2);
  // `spinet build --up ...` is `spinet up --build ...`: one serving path.
  const asUp = first === 'build' ? (await import('./cli/build.js')).buildUpAsUpArgs(args) : undefined;
  const [command, rest] = asUp === undefined ? [first, args] : ['up', asUp];
  switch (command) {
    case 'up':
    case 'serve':
    case 'watch':
    case 'demo': {
      const running = await (command === 'up'
        ? (await import('./cli/up.js')).up(rest)
        : command === 'serve'
          ? (await import('./cli/serve.js')).serve(rest)
          : command === 'watch'
            ? (await import('./cli/watch.js')).watch(rest)
            : (await import('./cli/demo.js')).demo(rest));
      if (!running.address) return;
      let stopping = false;
      const stopAndExit = (code: number): void => {
        if (stopping) return;
        stopping = true;
        running.stop().then(
          () => process.exit(code),
          (err: unknown) => fail(err),
        );
      };
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stopping) {
          process.stderr.write(`spinet: second ${signal}, exiting now\n`);
          process.exit(1);
        }
        process.stderr.write(`spinet: ${signal} received, finishing in-flight requests\n`);
        stopAndExit(0);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      guardProcess(running, stopAndExit);
      return;
    }
    case 'new':
      return (await import('./cli/new.js')).newApp(rest);
    case 'add':
      return (await import('./cli/add.js')).add(rest);
    case 'build':
      await (await import('./cli/build.js')).build(rest);
      return;
    case 'componentize':
      return (await import('./cli/componentize.js')).componentize(rest);
    case 'doctor':
      return (await import('./cli/doctor.js')).doctor(rest);
    case 'deploy':
      return (await import('./cli/deploy.js')).deploy(rest);
    case 'apps':
      return (await import('./cli/deploy.js')).apps(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${await usage()}\n`);
      return;
    default:
      fail(new Error(`unknown command "${command}"; run "spinet help" for the commands`));
  }
}

main().catch(fail);
