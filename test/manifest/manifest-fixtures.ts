/**
 * Building blocks for manifest tests: fake component/core-module headers (loadManifest reads only the
 * first 8 bytes), a minimal valid manifest, and helpers that load an app and capture the error.
 */
import path from 'node:path';
import type t from 'tap';
import { loadManifest } from '../../server/manifest/load-manifest.js';

/** A directory's entries as accepted by `t.testdir()` (name → file content, sub-directory or link). */
export type AppFixture = Record<string, NonNullable<Parameters<typeof t.testdir>[0]>>;

/** First bytes of a WebAssembly component (magic + version 0x0d, layer 1). */
export const COMPONENT_BYTES = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
/** First bytes of a core WebAssembly module (magic + version 1). */
export const CORE_MODULE_BYTES = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** A manifest header that is valid on its own; tests append triggers and components. */
export const HEADER = `spin_manifest_version = 2

[application]
name = "test-app"
`;

/** A valid app with one HTTP route to component "hello"; `extraComponentKeys` go into [component.hello]. */
export function helloManifest(extraComponentKeys = '', extraTop = ''): string {
  return `${HEADER}${extraTop}
[[trigger.http]]
route = "/hello"
component = "hello"

[component.hello]
source = "hello.wasm"
${extraComponentKeys}`;
}

/** 1-based line of the first line of `text` containing `needle` (so tests need not count lines by hand). */
export function lineContaining(text: string, needle: string, occurrence = 1): number {
  let seen = 0;
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.includes(needle) && ++seen === occurrence) return index + 1;
  }
  throw new Error(`test bug: ${JSON.stringify(needle)} not found in manifest`);
}

/** Loads `dir` and returns the error it must throw (fails the test if it loads). */
export async function loadError(test: { fail(message: string): unknown }, dir: string): Promise<Error & { code?: unknown }> {
  try {
    await loadManifest(dir);
  } catch (error) {
    if (error instanceof Error) return error;
    test.fail('loadManifest threw a non-Error');
    return new Error(String(error));
  }
  test.fail('loadManifest accepted an invalid manifest');
  return new Error('no error');
}

/** The manifest path loadManifest shows in messages for an app directory. */
export function shownPath(dir: string): string {
  return path.join(dir, 'spin.toml');
}
