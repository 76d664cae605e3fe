/**
 * `spinet serve`: a gateway for many apps. It starts with the apps already in its app store (none on
 * a new store) and takes deploys, rollbacks and deletions on its admin API while it serves. Apps are
 * found by host (`<app>.<base domain>`, custom hosts) and, unless turned off, by path prefix.
 */
import { parseArgs } from 'node:util';
import { loadServeConfig } from '../config.js';
import { buildGateway } from '../app.js';
import type { RunningGateway } from '../app.js';
import { buildAdminApi } from '../plugins/admin-api.js';
import { AppService } from '../tenants/app-service.js';
import { AppStore } from '../tenants/app-store.js';
import { FleetSync } from '../tenants/fleet-sync.js';
import { CliUsageError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

/** Usage text for `spinet serve`. */
export const SERVE_USAGE = `Usage: spinet serve [--store DIR] [--base-domain DOMAIN] [--no-path-prefix] [--listen HOST:PORT]
                    [--admin-listen HOST:PORT] [--admin-local-only] [--state-dir DIR] [--workers N] [--log-level LEVEL]
                    [--runtime-config-file FILE] [--metrics-listen HOST:PORT] [--fleet-redis URL] [--fleet-resync-ms MS]

Serves every app in the app store and takes deploys on the admin API (spinet deploy, spinet apps).
--store              the app store directory (SPINET_STORE; default ./.spinet-store)
--base-domain        app <name> answers on <name>.<DOMAIN> (SPINET_BASE_DOMAIN; default localhost)
--no-path-prefix     do not route /<name>/... to app <name> on other hosts (SPINET_PATH_PREFIX=false)
--admin-listen       the admin API's own listener (SPINET_ADMIN_LISTEN; default 127.0.0.1:3001)
--admin-local-only   allow no token (SPINET_ADMIN_TOKEN) when the admin API listens on loopback only
--state-dir          key-value data of every app, namespaced per app (default <store>/state)
--fleet-redis        replicas sharing the store tell each other of changes on this Redis (SPINET_FLEET_REDIS)
--fleet-resync-ms    re-read the store's current versions this often, for missed messages (SPINET_FLEET_RESYNC_MS;
                     default 30000; 0 = never)`;

/** Runs `spinet serve`; resolves once both listeners are up. */
export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        store: { type: 'string' },
        'base-domain': { type: 'string' },
        'no-path-prefix': { type: 'boolean' },
        listen: { type: 'string' },
        'admin-listen': { type: 'string' },
        'admin-local-only': { type: 'boolean' },
        'state-dir': { type: 'string' },
        workers: { type: 'string' },
        'log-level': { type: 'string' },
        'runtime-config-file': { type: 'string' },
        'metrics-listen': { type: 'string' },
        'fleet-redis': { type: 'string' },
        'fleet-resync-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${SERVE_USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return { stop: async () => {}, address: '' };
  }
  const settings = loadServeConfig(
    {
      store: values.store,
      baseDomain: values['base-domain'],
      noPathPrefix: values['no-path-prefix'],
      listen: values.listen,
      adminListen: values['admin-listen'],
      adminLocalOnly: values['admin-local-only'],
      stateDir: values['state-dir'],
      workers: values.workers,
      logLevel: values['log-level'],
      runtimeConfigFile: values['runtime-config-file'],
      metricsListen: values['metrics-listen'],
      fleetRedis: values['fleet-redis'],
      fleetResyncMs: values['fleet-resync-ms'],
    },
    env,
  );
  const { gateway: config, storeDir, adminListen, adminToken: token, fleetRedis, fleetResyncMs: resyncMs } = settings;
  const gateway = await buildGateway(config, { tenancy: { baseDomain: settings.baseDomain, pathPrefix: settings.pathPrefix } });
  const log = gateway.fastify.log as unknown as Logger;
  const store = new AppStore(storeDir);
  let fleet: FleetSync | undefined;
  let admin;
  try {
    await store.init();
    const storeId = await store.id();
    const service: AppService = new AppService({ store, host: gateway, logger: log.child({ module: 'apps' }), onChange: (change) => fleet?.publish(change) });
    fleet = new FleetSync({ member: service, storeId, redisUrl: fleetRedis, resyncMs, logger: log.child({ module: 'fleet' }) });
    await service.loadAll();
    admin = await buildAdminApi({ service, token, logger: false });
    fleet.start();
  } catch (err) {
    await fleet?.close();
    await gateway.close();
    throw err;
  }
  const address = await gateway.fastify.listen({ host: config.host, port: config.port });
  const adminAddress = await admin.listen({ host: adminListen.host, port: adminListen.port });
  if (gateway.operator && config.metricsListen) await gateway.operator.listen({ host: config.metricsListen.host, port: config.metricsListen.port });
  gateway.fastify.log.info({ address, admin: adminAddress, store: storeDir, apps: gateway.tenants.list().map((a) => a.name) }, `spinet serving apps on ${address}; admin API on ${adminAddress}`);
  return {
    address,
    gateway,
    stop: async () => {
      await fleet?.close();
      await admin.close();
      await gateway.close();
    },
  };
}
