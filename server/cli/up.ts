/**
 * `spinet up [dir | -f spin.toml] [--listen host:port]`: serve one Spin app, like `spin up`.
 * Exits non-zero before listening if the app cannot load; SIGTERM/SIGINT let in-flight requests finish.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { buildGateway } from '../app.js';
import type { RunningGateway } from '../app.js';
import { CliUsageError } from '../errors.js';

/** Usage text for `spinet up`. */
export const UP_USAGE = `Usage: spinet up [APP_DIR | -f spin.toml] [--listen HOST:PORT] [--workers N] [--deadline-ms MS] [--log-level LEVEL]
                 [--runtime-config-file FILE] [--state-dir DIR] [--variable NAME=VALUE | NAME=@FILE | @FILE.json | @FILE.toml]...
                 [--metrics-listen HOST:PORT] [--build]

Serves a Spin app. APP_DIR (or -f) is a spin.toml or the directory holding one (default: .).
--runtime-config-file  Spin runtime config: [key_value_store.<label>] (type "spin" or "redis"), [[variables_provider]].
--state-dir            where the embedded key-value store lives (default: .spin next to spin.toml).
--variable             an application variable value (repeatable); also SPIN_VARIABLE_<NAME> and ./.env.
--metrics-listen       a separate listener for /metrics and the status page (SPINET_METRICS_LISTEN).
--build                run spinet build first (same as spinet build --up); a failed build serves nothing.
Environment: SPINET_LISTEN (or SPIN_HTTP_LISTEN_ADDR), SPINET_WORKERS, SPINET_DEADLINE_MS,
SPINET_MAX_BODY_BYTES, SPINET_BODY_BUFFER_BYTES, SPINET_BODY_TIMEOUT_MS, SPINET_MAX_RESPONSE_BYTES, SPINET_MAX_INSTANCE_MEMORY, SPINET_MAX_QUEUE, SPINET_CACHE_MAX_BYTES, SPINET_CACHE_DIR, SPINET_LOG_LEVEL,
SPINET_ACCESS_LOG, SPINET_SHUTDOWN_GRACE_MS, SPINET_RUNTIME_CONFIG_FILE (or RUNTIME_CONFIG_FILE), SPINET_STATE_DIR, SPINET_KV_MAX_VALUE_BYTES.`;

/** Runs `spinet up`; resolves once the gateway is listening, with a function that stops it. */
export async function up(argv: string[]): Promise<RunningGateway> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        from: { type: 'string', short: 'f' },
        listen: { type: 'string' },
        workers: { type: 'string' },
        'deadline-ms': { type: 'string' },
        'log-level': { type: 'string' },
        'runtime-config-file': { type: 'string' },
        'state-dir': { type: 'string' },
        variable: { type: 'string', multiple: true },
        'metrics-listen': { type: 'string' },
        build: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${UP_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${UP_USAGE}\n`);
    return { stop: async () => {}, address: '' };
  }
  if (positionals.length > 1 || (positionals.length === 1 && values.from)) {
    throw new CliUsageError(`give the app once, as a directory argument or with -f\n\n${UP_USAGE}`);
  }
  // The build tools load only for --build.
  if (values.build) await (await import('./build.js')).buildWithProgress(values.from ?? positionals[0] ?? '.');
  const config = loadConfig({
    manifest: values.from ?? positionals[0],
    listen: values.listen,
    workers: values.workers,
    deadlineMs: values['deadline-ms'],
    logLevel: values['log-level'],
    runtimeConfigFile: values['runtime-config-file'],
    stateDir: values['state-dir'],
    variables: values.variable,
    metricsListen: values['metrics-listen'],
  });
  const gateway = await buildGateway(config);
  const address = await gateway.fastify.listen({ host: config.host, port: config.port });
  if (gateway.operator && config.metricsListen) {
    const ops = await gateway.operator.listen({ host: config.metricsListen.host, port: config.metricsListen.port });
    gateway.fastify.log.info({ address: ops }, `metrics and status on ${ops} (/metrics, /.well-known/spinet/status)`);
  }
  gateway.fastify.log.info({ address, app: gateway.tenants.list().map((a) => a.name), workers: config.workers }, `spinet serving on ${address}`);
  return { stop: () => gateway.close(), address, gateway };
}
