/**
 * `spinet build [APP_DIR | -f spin.toml] [-c ID]... [--up [up flags]]`: builds a Spin app's components
 * (like `spin build`), then optionally serves it (`--up`, the same as `spinet up --build`).
 */
import { parseArgs } from 'node:util';
import { CliUsageError } from '../errors.js';
import { buildApp } from '../build/app-builder.js';
import type { AppBuildResult } from '../build/app-builder.js';

/** Usage text for `spinet build`. */
export const BUILD_USAGE = `Usage: spinet build [APP_DIR | -f spin.toml] [-c COMPONENT]... [--up [UP FLAGS]]

Runs each component's [component.<id>.build] command in its workdir, in manifest order, and stops at
the first failure with the tool's output. "spinet componentize ..." commands (what the templates use)
run spinet's built-in TypeScript/JavaScript builder: unchanged guests are not rebuilt.
-c, --component  build only this component (repeatable).
--up             serve the app once built; flags after --up go to spinet up (e.g. --up --listen 0.0.0.0:8080).`;

/** What `spinet build` was asked to do. */
export interface BuildCommand {
  /** The spin.toml or its directory (default `.`). */
  readonly manifest: string;
  readonly components: readonly string[];
  /** Flags for `spinet up` when `--up` was given, else undefined. */
  readonly upArgs?: readonly string[];
}

/** Parses `spinet build` arguments; everything after `--up` belongs to `spinet up`. */
export function parseBuildArgs(argv: readonly string[]): BuildCommand | 'help' {
  const upAt = argv.indexOf('--up');
  const own = upAt === -1 ? argv : argv.slice(0, upAt);
  let parsed;
  try {
    parsed = parseArgs({
      args: [...own],
      allowPositionals: true,
      options: { from: { type: 'string', short: 'f' }, component: { type: 'string', short: 'c', multiple: true }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${BUILD_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 1 || (positionals.length === 1 && values.from !== undefined)) {
    throw new CliUsageError(`give the app once, as a directory argument or with -f\n\n${BUILD_USAGE}`);
  }
  const manifest = values.from ?? positionals[0] ?? '.';
  return { manifest, components: values.component ?? [], ...(upAt === -1 ? {} : { upArgs: argv.slice(upAt + 1) }) };
}

/** Builds the app of `manifest`, writing progress lines to stderr. */
export function buildWithProgress(manifest: string, components: readonly string[] = []): Promise<AppBuildResult> {
  return buildApp(manifest, { only: components, log: (line) => process.stderr.write(`spinet build: ${line}\n`) });
}

/** Runs `spinet build` (without `--up`; main.ts hands `--up` to `spinet up`). */
export async function build(argv: string[]): Promise<BuildCommand | undefined> {
  const cmd = parseBuildArgs(argv);
  if (cmd === 'help') {
    process.stdout.write(`${BUILD_USAGE}\n`);
    return undefined;
  }
  await buildWithProgress(cmd.manifest, cmd.components);
  return cmd;
}

/**
 * `spinet build [app] [-c ..] --up [flags]` as the `spinet up` arguments that do the same thing
 * (`up --build` builds every component first), or undefined when `--up` is absent.
 */
export function buildUpAsUpArgs(argv: readonly string[]): string[] | undefined {
  if (!argv.includes('--up')) return undefined;
  const cmd = parseBuildArgs(argv);
  if (cmd === 'help' || cmd.upArgs === undefined) return undefined;
  if (cmd.components.length > 0) throw new CliUsageError(`--component and --up cannot be combined: spinet build --up builds the whole app\n\n${BUILD_USAGE}`);
  return ['-f', cmd.manifest, '--build', ...cmd.upArgs];
}
