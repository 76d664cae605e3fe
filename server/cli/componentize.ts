/**
 * `spinet componentize ENTRY -o OUT.wasm [--world W]`: spinet's built-in builder for one TypeScript or
 * JavaScript guest, as a command. `spinet build` runs the same builder in-process when a component's
 * build command is this line, so templates need no build scripts of their own.
 */
import path from 'node:path';
import { buildGuest } from '../build/guest-builder.js';
import { COMPONENTIZE_USAGE, parseComponentizeArgs } from '../build/app-builder.js';

export { COMPONENTIZE_USAGE };

/** Runs `spinet componentize`. */
export async function componentize(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${COMPONENTIZE_USAGE}\n`);
    return;
  }
  const args = parseComponentizeArgs(argv);
  const r = await buildGuest({
    entry: path.resolve(args.entry),
    outFile: path.resolve(args.out),
    onProgress: (line) => process.stderr.write(`${line}\n`),
    ...(args.world === undefined ? {} : { world: args.world }),
  });
  process.stderr.write(r.cached ? `${args.out} is up to date\n` : `built ${args.out} in ${(r.ms / 1000).toFixed(1)} s (${(r.bytes / 1e6).toFixed(1)} MB)\n`);
}
