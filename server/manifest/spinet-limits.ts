/**
 * spinet's own settings in a Spin manifest, kept where Spin keeps settings for other tools:
 * `[application.tool.spinet]` (per-app limits) and `[component.<id>.tool.spinet]` (per-component
 * overrides). Spin ignores `tool` tables, so the same spin.toml still runs under Spin.
 *
 * ```toml
 * [application.tool.spinet]
 * deadline_ms = 5000                         # wall-clock limit per request or message (→ 504)
 * max_body_bytes = 1048576                   # request body (→ 413)
 * max_response_bytes = 10485760              # response body (cut off; 500 if nothing was sent)
 * max_instance_memory = 134217728            # each instance's linear memory (past it the guest fails → 500)
 * rate_limit = { requests = 100, per_seconds = 1 }   # the whole app (→ 429 with Retry-After)
 *
 * [component.upload.tool.spinet]
 * max_body_bytes = 104857600
 * ```
 */
import type { TableReader } from './table-reader.js';
import type { AppLimits, ComponentLimits } from './types.js';

const COMPONENT_KEYS = ['deadline_ms', 'max_body_bytes', 'max_response_bytes', 'max_instance_memory'] as const;
const APP_KEYS = [...COMPONENT_KEYS, 'rate_limit'] as const;

function positiveInt(reader: TableReader, key: string, max: number, min = 1): number | undefined {
  const value = reader.get(key);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const example = key === 'deadline_ms' ? 5000 : key === 'max_instance_memory' ? 134217728 : 1048576;
    throw reader.typeError(key, `an integer from ${min} to ${max}`, `${key} = ${example}`);
  }
  return value;
}

function readCommon(reader: TableReader): ComponentLimits {
  const deadlineMs = positiveInt(reader, 'deadline_ms', 3_600_000);
  const maxBodyBytes = positiveInt(reader, 'max_body_bytes', 2 ** 40);
  const maxResponseBytes = positiveInt(reader, 'max_response_bytes', 2 ** 40);
  // At least 1 MiB (a guest's runtime needs room to start), at most 4 GiB (wasm32's address space).
  const maxInstanceMemory = positiveInt(reader, 'max_instance_memory', 2 ** 32, 2 ** 20);
  return {
    ...(maxInstanceMemory === undefined ? {} : { maxInstanceMemory }),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
  };
}

function spinetTable(parent: TableReader, label: string): TableReader | undefined {
  const tool = parent.subTable('tool', `${parent.label.replace(/\]$/, '')}.tool]`, `${label}`);
  return tool?.subTable('spinet', label, `${label} with deadline_ms = 5000`);
}

/** `[application.tool.spinet]`, or undefined when absent. */
export function readAppLimits(application: TableReader): AppLimits | undefined {
  const reader = spinetTable(application, '[application.tool.spinet]');
  if (!reader) return undefined;
  reader.rejectUnknown(APP_KEYS);
  const common = readCommon(reader);
  const rate = reader.subTable('rate_limit', 'rate_limit', 'rate_limit = { requests = 100, per_seconds = 1 }');
  if (!rate) return common;
  rate.rejectUnknown(['requests', 'per_seconds']);
  const requests = positiveInt(rate, 'requests', 1_000_000_000);
  if (requests === undefined) {
    throw rate.diag.invalid(rate.path, 'rate_limit is missing "requests"', 'Write it as rate_limit = { requests = 100, per_seconds = 1 }.');
  }
  const perSeconds = positiveInt(rate, 'per_seconds', 86_400) ?? 1;
  return { ...common, rateLimit: { requests, perSeconds } };
}

/** `[component.<id>.tool.spinet]`, or undefined when absent. */
export function readComponentLimits(component: TableReader, id: string): ComponentLimits | undefined {
  const reader = spinetTable(component, `[component.${id}.tool.spinet]`);
  if (!reader) return undefined;
  reader.rejectUnknown(COMPONENT_KEYS);
  return readCommon(reader);
}
