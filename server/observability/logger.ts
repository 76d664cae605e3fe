/**
 * The logging contract below the HTTP layer (wasm/, host/, manifest/ never import Fastify): a pino
 * logger satisfies it. Also owns the pino options the gateway uses, including secret redaction.
 */

type LogFn = (obj: object, msg?: string) => void;

/** The subset of pino's Logger that spinet's lower layers use. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** Header and field paths never written to logs. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  '*.token',
  '*.password',
  '*.secret',
];

/** pino options for the gateway's logger. */
export function loggerOptions(level: string, pretty: boolean): Record<string, unknown> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? {} : {}),
  };
}
