/**
 * `spinet watch [APP_DIR | -f spin.toml] [up flags]`: builds and serves the app (`spinet up --build`),
 * then rebuilds the components whose `[component.<id>.build] watch` globs match a changed file and
 * hot-swaps the app (Gateway.reload: the new version is compiled and warmed before it takes traffic;
 * requests already running finish on the old one). A change to spin.toml rebuilds everything; a
 * change to a component's `files` reloads without building. A failed build or reload is printed and
 * the running version keeps serving until the next save.
 *
 * Changes are found by polling (stat every watched file twice a second): the same on every file
 * system, editor and container mount, and cheap for an app's handful of sources.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import type { RunningGateway } from '../app.js';
import { buildTargets } from '../build/app-builder.js';
import { readManifestDraft } from '../manifest/load-manifest.js';
import { CliUsageError } from '../errors.js';
import { buildWithProgress } from './build.js';
import { up, UP_USAGE } from './up.js';

/** Usage text for `spinet watch`. */
export const WATCH_USAGE = `Usage: spinet watch [APP_DIR | -f spin.toml] [spinet up flags]

Builds and serves the app like "spinet up --build", then rebuilds a component when a file matching its
[component.<id>.build] watch globs (relative to its workdir) changes, and swaps the new version in
without dropping requests. Changes to spin.toml rebuild everything; changes to a component's files
reload it. A failed build is printed and the running version keeps serving.`;

/** How often watched files are checked. */
const POLL_MS = 500;

/** What a changed file means: rebuild these components, or reload (manifest or files), or both. */
interface WatchedFile {
  readonly components: Set<string>;
  readonly manifest: boolean;
}

type Snapshot = Map<string, string>;

function say(line: string): void {
  process.stderr.write(`spinet watch: ${line}\n`);
}

/** Every watched file (absolute) and what it belongs to. */
async function watchedFiles(manifestPath: string): Promise<Map<string, WatchedFile>> {
  const files = new Map<string, WatchedFile>();
  const note = (file: string, component: string | undefined, manifest = false): void => {
    const entry = files.get(file) ?? { components: new Set<string>(), manifest: false };
    if (component !== undefined) entry.components.add(component);
    files.set(file, { components: entry.components, manifest: entry.manifest || manifest });
  };
  note(manifestPath, undefined, true);
  const { targets, root } = await buildTargets(manifestPath);
  for (const target of targets) {
    if (target.watch.length === 0) continue;
    for (const file of await glob([...target.watch], { cwd: target.workdir, absolute: true, ignore: ['**/node_modules/**'] })) note(file, target.component.id);
  }
  // A component's `files` are served from disk but resolved at load: new or removed ones need a reload.
  const { draft } = await readManifestDraft(manifestPath);
  for (const component of draft.components.values()) {
    const patterns = component.files.map((f) => (f.kind === 'pattern' ? f.pattern : `${f.source.replace(/\/+$/, '')}/**`));
    if (patterns.length === 0) continue;
    for (const file of await glob(patterns, { cwd: root, absolute: true, ignore: ['**/node_modules/**'] })) note(file, undefined, true);
  }
  return files;
}

async function snapshot(files: Iterable<string>): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  await Promise.all(
    [...files].map(async (file) => {
      const s = await stat(file).catch(() => undefined);
      if (s !== undefined) snap.set(file, `${s.mtimeMs}:${s.size}`);
    }),
  );
  return snap;
}

function changed(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [file, sig] of after) if (before.get(file) !== sig) out.push(file);
  for (const file of before.keys()) if (!after.has(file)) out.push(file);
  return out;
}

/** Runs `spinet watch`; resolves once the app is built and serving, with a stop that also ends the watch. */
export async function watch(argv: string[]): Promise<RunningGateway> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${WATCH_USAGE}\n\n${UP_USAGE}\n`);
    return { address: '', stop: async () => {} };
  }
  if (argv.includes('--build')) throw new CliUsageError(`spinet watch always builds first; drop --build\n\n${WATCH_USAGE}`);
  const running = await up([...argv, '--build']);
  const gateway = running.gateway;
  const app = gateway?.tenants.list()[0];
  if (gateway === undefined || app === undefined) return running;
  const manifestPath = app.manifest.manifestPath;
  const root = path.dirname(manifestPath);
  // Messages name the manifest as the user would: relative to where spinet watch was started.
  const shownManifest = path.relative(process.cwd(), manifestPath) || manifestPath;

  let files = await watchedFiles(manifestPath);
  let last = await snapshot(files.keys());
  // Files created after start-up that a glob would match are only seen after the next rescan.
  let rescanDue = Date.now() + 2_000;
  let busy = false;
  let stopped = false;
  say(`watching ${files.size} file(s) of ${app.name}; edit and save to rebuild and reload`);

  const cycle = async (): Promise<void> => {
    if (Date.now() >= rescanDue) {
      files = await watchedFiles(manifestPath).catch(() => files);
      rescanDue = Date.now() + 2_000;
    }
    const now = await snapshot(files.keys());
    const diff = changed(last, now);
    if (diff.length === 0) return;
    last = now;
    const rebuild = new Set<string>();
    let manifestOrFiles = false;
    for (const file of diff) {
      const what = files.get(file);
      what?.components.forEach((c) => rebuild.add(c));
      if (what?.manifest === true) manifestOrFiles = true;
    }
    const shown = diff.map((f) => path.relative(root, f)).join(', ');
    const started = performance.now();
    try {
      if (diff.includes(manifestPath)) {
        say(`${shown} changed: rebuilding the app`);
        await buildWithProgress(shownManifest);
      } else if (rebuild.size > 0) {
        say(`${shown} changed: rebuilding ${[...rebuild].join(', ')}`);
        await buildWithProgress(shownManifest, [...rebuild]);
      } else if (manifestOrFiles) {
        say(`${shown} changed: reloading`);
      }
      await gateway.reload();
      say(`reloaded ${app.name} in ${((performance.now() - started) / 1000).toFixed(1)} s; requests already running finished on the previous version`);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      say(`${e.code === undefined ? '' : `${e.code}: `}${e.message ?? String(error)}`);
      say('the previous version keeps serving; fix the problem and save again');
    }
    // The manifest may have changed what is watched.
    files = await watchedFiles(manifestPath).catch(() => files);
    last = await snapshot(files.keys());
  };

  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    cycle()
      .catch((error: unknown) => say(`watching failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        busy = false;
      });
  }, POLL_MS);

  return {
    address: running.address,
    gateway,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running.stop();
    },
  };
}
