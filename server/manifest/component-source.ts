/**
 * Resolves a component's `source`: a local path becomes an absolute path to a file that starts like a
 * WebAssembly *component* (checked from its first 8 bytes only); URL and registry sources pass through.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import type { DraftComponent } from './component-schema.js';
import type { ComponentSource } from './types.js';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
/** Version/layer bytes of a core module (version 1, layer 0). */
const CORE_MODULE_LAYER = [0x01, 0x00, 0x00, 0x00] as const;
/** Version/layer bytes of a component (version 0x0d, layer 1), as emitted by current toolchains. */
const COMPONENT_LAYER = [0x0d, 0x00, 0x01, 0x00] as const;

/** The kind of WebAssembly binary a file header announces. */
export type WasmHeaderKind = 'component' | 'core-module' | 'unknown-wasm' | 'not-wasm';

/** Classifies the first bytes of a file (at least 8 are needed to say anything but `not-wasm`). */
export function classifyWasmHeader(header: Uint8Array): WasmHeaderKind {
  if (header.length < 8 || !WASM_MAGIC.every((byte, i) => header[i] === byte)) return 'not-wasm';
  if (CORE_MODULE_LAYER.every((byte, i) => header[4 + i] === byte)) return 'core-module';
  if (COMPONENT_LAYER.every((byte, i) => header[4 + i] === byte)) return 'component';
  return 'unknown-wasm';
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

async function readHeader(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const buffer = new Uint8Array(8);
    const { bytesRead } = await handle.read(buffer, 0, 8, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Resolves `component.source` against `root` (the manifest directory). Local sources may live outside the
 * app root (Spin allows `../target/x.wasm`); only `files` are confined to it.
 */
export async function resolveComponentSource(
  component: DraftComponent,
  root: string,
  diag: ManifestDiagnostics,
): Promise<ComponentSource> {
  const source = component.source;
  if (source.kind !== 'file') return source;

  const keyPath = [...component.path, 'source'];
  const file = path.resolve(root, source.path);
  const shown = `"${source.path}"${path.isAbsolute(source.path) ? '' : ` (${file})`}`;
  const buildHint =
    component.build === undefined
      ? 'Fix the path (it is relative to spin.toml) or build the component first.'
      : `Build it first (spinet build, or run: ${component.build.command.join(' && ')}) or fix the path (it is relative to spin.toml).`;

  let info;
  try {
    info = await stat(file);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw diag.source(keyPath, `source file ${shown} does not exist`, buildHint, { cause: error });
    }
    throw diag.source(keyPath, `source file ${shown} cannot be read (${code ?? String(error)})`, 'Check the path and its permissions.', { cause: error });
  }
  if (info.isDirectory()) {
    throw diag.source(keyPath, `source ${shown} is a directory, not a .wasm file`, 'Point source at the component file inside it, e.g. "target/wasm32-wasip2/release/app.wasm".');
  }
  if (!info.isFile()) {
    throw diag.source(keyPath, `source ${shown} is not a regular file`, 'Point source at a .wasm component file.');
  }

  let header: Uint8Array;
  try {
    header = await readHeader(file);
  } catch (error) {
    throw diag.source(keyPath, `source file ${shown} cannot be read (${errorCode(error) ?? String(error)})`, 'Check its permissions.', { cause: error });
  }
  switch (classifyWasmHeader(header)) {
    case 'component':
      return { kind: 'file', path: file };
    case 'core-module':
      throw diag.source(
        keyPath,
        `source ${shown} is a core WebAssembly module, not a component`,
        'spinet runs WebAssembly components (WASI 0.2): build it as a component (cargo component, --target wasm32-wasip2, componentize-js / jco componentize) or wrap it with `wasm-tools component new <module.wasm> --adapt wasi_snapshot_preview1.wasm -o <component.wasm>`.',
      );
    case 'unknown-wasm':
      throw diag.source(
        keyPath,
        `source ${shown} is a WebAssembly binary of an unsupported version/layer (header bytes ${hex(header.subarray(4, 8))})`,
        'Rebuild it with a current component toolchain (the component layer is 0d 00 01 00).',
      );
    case 'not-wasm':
      throw diag.source(
        keyPath,
        `source ${shown} is not a WebAssembly file (it does not start with \\0asm)`,
        'Point source at the compiled .wasm component, not a source file or text artefact.',
      );
  }
}
