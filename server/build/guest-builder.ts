/**
 * Builds a TypeScript/JavaScript guest into a wasi:http component: esbuild bundles the entry into one
 * ES module, componentize-js (StarlingMonkey) turns it into a component against spinet's WIT world.
 * Builds are cached by a hash of everything that shapes the output, so unchanged guests are skipped
 * (a build takes 10–30 s here).
 *
 * The build tools are devDependencies and imported lazily: the gateway itself runs without them.
 */
import { createHash } from 'node:crypto';
import { access, cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestBuildError } from '../errors.js';

/** Bumped whenever the build recipe changes, so old cached outputs are rebuilt. */
const BUILDER_VERSION = '1';
/** StarlingMonkey in componentize-js 0.23 imports WASI at this version; the world must match it. */
const WASI_VERSION = '0.2.10';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** spinet's guest WIT world(s), kept in the repo. */
export const WORLD_DIR = path.join(repoRoot, 'components', 'wit');

/** What to build. */
export interface GuestBuild {
  /** TypeScript or JavaScript entry that registers a `fetch` event listener. */
  readonly entry: string;
  /** Where the component goes. */
  readonly outFile: string;
  /** World name in components/wit/world.wit. */
  readonly world?: string;
  /** A name for messages. */
  readonly name?: string;
}

/** What happened. */
export interface GuestBuildResult {
  readonly outFile: string;
  readonly cached: boolean;
  readonly ms: number;
  readonly bytes: number;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function packageRoot(spec: string, marker: string): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(spec)));
  while (!(await exists(path.join(dir, marker)))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new GuestBuildError(`cannot locate ${marker} inside ${spec}; is it installed (npm ci)?`);
    dir = parent;
  }
  return dir;
}

let witDepsReady: Promise<string> | undefined;

/**
 * The WASI WIT packages the world depends on, generated from the WIT jco ships (0.2.12) with the
 * version set to what StarlingMonkey imports. Generated into components/.build (gitignored), never
 * committed.
 */
async function witDir(): Promise<string> {
  witDepsReady ??= (async () => {
    const jcoRoot = await packageRoot('@bytecodealliance/jco', path.join('lib', 'wit', 'builtin', '0.2.12'));
    const builtin = path.join(jcoRoot, 'lib', 'wit', 'builtin', '0.2.12');
    const out = path.join(repoRoot, 'components', '.build', `wit-${WASI_VERSION}`);
    const tmp = `${out}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(path.join(tmp, 'deps'), { recursive: true });
    for (const pkg of await readdir(builtin)) {
      const text = await readFile(path.join(builtin, pkg, 'package.wit'), 'utf8');
      await mkdir(path.join(tmp, 'deps', pkg), { recursive: true });
      await writeFile(path.join(tmp, 'deps', pkg, 'package.wit'), text.replaceAll('@0.2.12', `@${WASI_VERSION}`));
    }
    for (const f of await readdir(WORLD_DIR)) if (f.endsWith('.wit')) await cp(path.join(WORLD_DIR, f), path.join(tmp, f));
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
    return out;
  })();
  return witDepsReady;
}

async function bundle(entry: string, name: string): Promise<string> {
  const esbuild = await import('esbuild');
  try {
    const r = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      mainFields: ['module', 'main'],
      // WASI interfaces are imported by their versioned WIT names; componentize-js binds them.
      external: ['wasi:*', 'fermyon:*', 'spin:*'],
    });
    return r.outputFiles[0]!.text;
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors;
    const detail = errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n') ?? String(err);
    throw new GuestBuildError(`${name}: bundling ${entry} failed:\n${detail}`, { cause: err });
  }
}

async function worldHash(): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(WORLD_DIR)).sort()) h.update(f).update(await readFile(path.join(WORLD_DIR, f)));
  return h.digest('hex');
}

async function componentizeVersion(): Promise<string> {
  const root = await packageRoot('@bytecodealliance/componentize-js', 'package.json');
  return (JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds one guest, or returns at once when its cached output is current. */
export async function buildGuest(b: GuestBuild): Promise<GuestBuildResult> {
  const started = performance.now();
  const name = b.name ?? path.basename(b.outFile, '.wasm');
  const world = b.world ?? 'http-guest';
  const source = await bundle(b.entry, name);
  const inputHash = createHash('sha256')
    .update(`builder ${BUILDER_VERSION}\nworld ${world}\nwasi ${WASI_VERSION}\ncomponentize-js ${await componentizeVersion()}\n`)
    .update(await worldHash())
    .update(source)
    .digest('hex');
  const stamp = `${b.outFile}.sha256`;
  if ((await exists(b.outFile)) && (await readFile(stamp, 'utf8').catch(() => '')) === inputHash) {
    const bytes = (await readFile(b.outFile)).length;
    return { outFile: b.outFile, cached: true, ms: performance.now() - started, bytes };
  }

  const work = await mkdtempIn(os.tmpdir(), `spinet-guest-${name}-`);
  try {
    const jsPath = path.join(work, `${name}.js`);
    await writeFile(jsPath, source);
    // componentize-js runs its tools on preview2-shim, which has no filesystem access until preopened.
    const { _setPreopens } = (await import('@bytecodealliance/preview2-shim/filesystem')) as { _setPreopens: (p: Record<string, string>) => void };
    _setPreopens({ '/': '/' });
    const { componentize } = (await import('@bytecodealliance/componentize-js')) as {
      componentize(opts: { sourcePath: string; witPath: string; worldName: string }): Promise<{ component: Uint8Array }>;
    };
    let component: Uint8Array;
    try {
      ({ component } = await componentize({ sourcePath: jsPath, witPath: await witDir(), worldName: world }));
    } catch (err) {
      throw new GuestBuildError(`${name}: componentize-js failed: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
    await mkdir(path.dirname(b.outFile), { recursive: true });
    const tmpOut = `${b.outFile}.tmp-${process.pid}`;
    await writeFile(tmpOut, component);
    await rename(tmpOut, b.outFile);
    await writeFile(stamp, inputHash);
    return { outFile: b.outFile, cached: false, ms: performance.now() - started, bytes: component.length };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function mkdtempIn(dir: string, prefix: string): Promise<string> {
  const { mkdtemp } = await import('node:fs/promises');
  return mkdtemp(path.join(dir, prefix));
}
