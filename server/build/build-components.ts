/**
 * `npm run build:components [-- name …]`: builds the guests in components/ (each `components/<name>/`
 * with `src/index.ts` becomes `components/<name>/dist/<name>.wasm`), two at a time, skipping the ones
 * whose inputs did not change. Exits non-zero with the tool's error when a build fails.
 */
import { readdir, access } from 'node:fs/promises';
import path from 'node:path';
import { buildGuest, WORLD_DIR } from './guest-builder.js';

const componentsDir = path.dirname(WORLD_DIR);
const PARALLEL = 2;

async function guests(only: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of (await readdir(componentsDir)).sort()) {
    if (only.length > 0 && !only.includes(name)) continue;
    const ok = await access(path.join(componentsDir, name, 'src', 'index.ts')).then(
      () => true,
      () => false,
    );
    if (ok) found.push(name);
  }
  const missing = only.filter((n) => !found.includes(n));
  if (missing.length > 0) throw new Error(`no guest named ${missing.join(', ')} in ${componentsDir} (each guest is components/<name>/src/index.ts)`);
  return found;
}

async function main(): Promise<void> {
  const names = await guests(process.argv.slice(2));
  const queue = [...names];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const dir = path.join(componentsDir, name);
      process.stdout.write(`building ${name}…\n`);
      const r = await buildGuest({ name, entry: path.join(dir, 'src', 'index.ts'), outFile: path.join(dir, 'dist', `${name}.wasm`) });
      process.stdout.write(
        r.cached ? `${name} up to date\n` : `built ${name} in ${(r.ms / 1000).toFixed(1)} s (${(r.bytes / 1e6).toFixed(1)} MB)\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, names.length) }, worker));
  process.stdout.write(`${names.length} guest(s) ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`build:components failed: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  process.exit(1);
});
