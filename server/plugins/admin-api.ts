/**
 * The admin API: deploy, list, show, roll back and delete apps on a running gateway. It lives on its
 * own Fastify listener (127.0.0.1 by default), never on the port that serves the apps, and every route
 * but the OpenAPI document needs `Authorization: Bearer <SPINET_ADMIN_TOKEN>`, compared in constant
 * time. Without a token the API exists only in explicit local-only mode, bound to loopback.
 *
 * Every route has JSON schemas (params, query, responses); @fastify/swagger turns them into the
 * OpenAPI description served at `/openapi.json`, so the document cannot drift from the routes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import type { AppService } from '../tenants/app-service.js';
import { AdminRequestError, AdminUnauthorizedError, BundleTooLargeError } from '../errors.js';
import { SPINET_VERSION } from '../version.js';

/** Admin API settings. */
export interface AdminApiOptions {
  readonly service: AppService;
  /** The bearer token; undefined only in local-only mode. */
  readonly token: string | undefined;
  /** pino options or false. */
  readonly logger?: Record<string, unknown> | boolean;
}

/** Codes of errors that mean "this app cannot load": the bundle is wrong, not the gateway. */
const UNLOADABLE = /^SPINET_ERR_(MANIFEST_|ROUTE_INVALID|WASM_COMPILE|WASM_EXPORT|WASM_IMPORT|CAPABILITY_CONFIG|VARIABLES|RUNTIME_CONFIG)/;

const STATUS_BY_CODE: Record<string, number> = {
  SPINET_ERR_TENANT_CONFLICT: 409,
  SPINET_ERR_APP_NOT_FOUND: 404,
  SPINET_ERR_BUNDLE_INVALID: 400,
  SPINET_ERR_BUNDLE_TOO_LARGE: 413,
  SPINET_ERR_ADMIN_UNAUTHORIZED: 401,
  SPINET_ERR_APP_STORE_BUSY: 503,
};

/** The HTTP status the admin API answers an error with. */
export function adminStatusOf(err: { code?: string; validation?: unknown; statusCode?: number }): number {
  const code = err.code ?? '';
  if (STATUS_BY_CODE[code] !== undefined) return STATUS_BY_CODE[code];
  if (UNLOADABLE.test(code)) return 422;
  if (err.validation !== undefined || code === 'SPINET_ERR_ADMIN_REQUEST') return 400;
  if (code.startsWith('FST_') && err.statusCode !== undefined && err.statusCode < 500) return err.statusCode;
  return 500;
}

const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string', description: 'SPINET_ERR_* code (see the README)' }, message: { type: 'string' } },
} as const;

const appSchema = {
  type: 'object',
  required: ['name', 'state', 'version', 'digest', 'createdAt', 'hosts', 'history', 'routes'],
  properties: {
    name: { type: 'string' },
    state: { type: 'string', enum: ['serving', 'stale', 'failed'], description: 'serving: this gateway serves the current version; stale: an older one; failed: it could not load here' },
    version: { type: 'integer' },
    digest: { type: 'string', description: 'sha256 of the uploaded bundle' },
    createdAt: { type: 'string', format: 'date-time' },
    hosts: { type: 'array', items: { type: 'string' } },
    manifestName: { type: 'string' },
    variables: { type: 'array', items: { type: 'string' }, description: 'names of the variables set at deploy time (values are never shown)' },
    history: { type: 'array', items: { type: 'integer' }, description: 'versions kept for rollback, oldest first; the last is current' },
    routes: {
      type: 'array',
      items: { type: 'object', required: ['route', 'component'], properties: { route: { type: 'string' }, component: { type: ['string', 'null'] } } },
    },
    error: { type: 'string' },
  },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', description: 'app name: a DNS label' } },
} as const;

const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 413: errorSchema, 422: errorSchema, 500: errorSchema };

function digestOf(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const BUNDLE_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream', 'application/x-tar'];

/** The request header carrying deploy-time variable values: base64 of a JSON object of strings. */
export const VARIABLES_HEADER = 'spinet-variables';

/**
 * Decodes the variables header; AdminRequestError if it is not base64 JSON of `{name: "value"}` with
 * Spin variable names. Messages name the problem, never a value.
 */
export function parseVariablesHeader(header: string | string[] | undefined): Record<string, string> | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new AdminRequestError(`send one ${VARIABLES_HEADER} header`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw new AdminRequestError(`${VARIABLES_HEADER}: not base64 of a JSON object`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AdminRequestError(`${VARIABLES_HEADER}: not a JSON object of name: value`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!/^[a-z][a-z0-9_]{0,127}$/.test(name)) throw new AdminRequestError(`${VARIABLES_HEADER}: "${name.slice(0, 64)}" is not a variable name (lower_snake_case)`);
    if (typeof value !== 'string') throw new AdminRequestError(`${VARIABLES_HEADER}: the value of "${name}" is not a string`);
    out[name] = value;
  }
  return out;
}

/** Builds the admin API (not listening). */
export async function buildAdminApi(opts: AdminApiOptions): Promise<FastifyInstance> {
  const { service } = opts;
  const limit = service.store.limits.maxCompressedBytes;
  const admin = Fastify({ logger: opts.logger ?? false, forceCloseConnections: true, ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' } } });
  await admin.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'spinet admin API', version: SPINET_VERSION, description: 'Deploy, roll back and delete Spin apps on a running spinet gateway.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  const expected = opts.token === undefined ? undefined : digestOf(opts.token);
  admin.addHook('onRequest', async (request) => {
    if (expected === undefined || request.url === '/openapi.json') return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    // Equal-length digests: the comparison takes the same time whatever the guess.
    if (!m || !timingSafeEqual(digestOf(m[1]!.trim()), expected)) {
      throw new AdminUnauthorizedError('missing or wrong bearer token; send Authorization: Bearer <SPINET_ADMIN_TOKEN>');
    }
  });

  admin.setErrorHandler((err: FastifyError, request, reply) => {
    const status = adminStatusOf(err);
    if (status >= 500) request.log.error({ err }, 'admin API request failed');
    else request.log.info({ code: err.code, message: err.message }, 'admin API request refused');
    const ours = err.code?.startsWith('SPINET_ERR_') === true;
    const code = ours ? err.code : status >= 500 ? 'SPINET_ERR_ADMIN_INTERNAL' : 'SPINET_ERR_ADMIN_REQUEST';
    if (code === 'SPINET_ERR_APP_STORE_BUSY') void reply.header('retry-after', '1');
    void reply.code(status).send({ code, message: status >= 500 && !ours ? 'internal error; see the gateway log' : err.message });
  });

  // Bundles are streamed straight into the unpacker, which enforces the size limits as bytes arrive.
  admin.addContentTypeParser(BUNDLE_TYPES, (_request, payload, done) => done(null, payload));

  admin.get('/openapi.json', { schema: { hide: true } }, async () => admin.swagger());

  admin.get('/v1/apps', {
    schema: {
      summary: 'List deployed apps',
      response: { 200: { type: 'object', required: ['apps'], properties: { apps: { type: 'array', items: appSchema } } }, ...errors },
    },
    handler: async () => ({ apps: await service.list() }),
  });

  admin.get<{ Params: { name: string } }>('/v1/apps/:name', {
    schema: { summary: 'Show one app: version, digest, hosts, routes, state', params: nameParams, response: { 200: appSchema, ...errors } },
    handler: async (request) => service.show(request.params.name),
  });

  admin.put<{ Params: { name: string }; Querystring: { host?: string[] } }>('/v1/apps/:name', {
    schema: {
      summary: 'Deploy a new version (the body is the app bundle: a tar.gz of spin.toml, its components and files)',
      params: nameParams,
      headers: {
        type: 'object',
        properties: { [VARIABLES_HEADER]: { type: 'string', description: 'values for the app\'s declared variables, stored with this version: base64 of a JSON object {"name": "value"}' } },
      },
      querystring: { type: 'object', additionalProperties: false, properties: { host: { type: 'array', items: { type: 'string', maxLength: 253 }, maxItems: 32, description: 'custom host names the app claims (repeatable)' } } },
      // The body is a byte stream, streamed to the unpacker: described for OpenAPI, accepts anything.
      body: { content: Object.fromEntries(BUNDLE_TYPES.map((t) => [t, { schema: { description: 'tar.gz bundle: spin.toml at its top, its components and files' } }])) },
      response: { 200: appSchema, ...errors },
    },
    handler: async (request) => {
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > limit) throw new BundleTooLargeError(`bundle is ${declared} bytes; the limit is ${limit} bytes compressed`);
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
        throw new AdminRequestError(`send the bundle as the request body with Content-Type ${BUNDLE_TYPES[0]}`);
      }
      const variables = parseVariablesHeader(request.headers[VARIABLES_HEADER]);
      return service.deploy(request.params.name, body, { hosts: request.query.host ?? [], ...(variables ? { variables } : {}) });
    },
  });

  admin.post<{ Params: { name: string } }>('/v1/apps/:name/rollback', {
    schema: { summary: 'Make the previous version current again', params: nameParams, response: { 200: appSchema, ...errors } },
    handler: async (request) => service.rollback(request.params.name),
  });

  admin.delete<{ Params: { name: string } }>('/v1/apps/:name', {
    schema: { summary: 'Take an app out of service and delete all its versions', params: nameParams, response: { 204: { type: 'null', description: 'deleted' }, ...errors } },
    handler: async (request, reply) => {
      await service.remove(request.params.name);
      return reply.code(204).send();
    },
  });

  return admin;
}
