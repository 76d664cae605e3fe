/**
 * Rewrites jco's instantiation-mode ES module into a function-body script that returns `instantiate`.
 *
 * Why not `import()` the module: V8 keeps every imported ES module for the life of the isolate, so a
 * worker that sees many components (deploys, evictions) would leak their glue. A script compiled with
 * `vm.Script` is garbage once dropped, and can use V8's code cache.
 *
 * It also removes a per-instance cost: jco ≥ 1.17.1 calls `WebAssembly.promising(...)` inside a
 * try/catch on every instantiation; Node 20 has no `WebAssembly.promising`, and building the
 * TypeError's message makes V8 re-parse the whole generated function (milliseconds per instance for a
 * JS guest; see reference/wasm-on-node.md). The catch branch uses the function itself, so resolving
 * `promising` to identity when it does not exist keeps jco's semantics exactly.
 */
import { ComponentCompileError } from '../errors.js';

const EXPORT_INSTANTIATE = /^export function instantiate\(/m;
const EXPORT_UTIL = /^export const _util = /m;

/** Converts jco glue source into the script body the executor worker evaluates. */
export function toGlueScript(source: string, label: string): string {
  if (!EXPORT_INSTANTIATE.test(source)) {
    throw new ComponentCompileError(`${label}: unexpected jco output (no exported instantiate function)`);
  }
  let body = source.replace(EXPORT_INSTANTIATE, 'function instantiate(').replace(EXPORT_UTIL, 'const _util = ');
  if (/^\s*(export|import)\s[^;]*?(from\s|\{|\*|default)/m.test(body)) {
    throw new ComponentCompileError(`${label}: unexpected jco output (module imports or exports remain after rewriting)`);
  }
  body = body.replaceAll('WebAssembly.promising(', '__spinetPromising(');
  return (
    "'use strict';\n" +
    "const __spinetPromising = typeof WebAssembly.promising === 'function' ? WebAssembly.promising : (f) => f;\n" +
    body +
    '\nreturn instantiate;\n'
  );
}
