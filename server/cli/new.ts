/**
 * `spinet new <template> <name> [--dir DIR]` and `spinet new --list`: a new Spin app from a template
 * (spin.toml, sources, package.json where useful, README), like `spin new`.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { CliUsageError } from '../errors.js';
import { createApp, listTemplates } from '../scaffold/template-catalog.js';
import type { TemplateInfo } from '../scaffold/template-catalog.js';

/** Usage text for `spinet new`. */
export const NEW_USAGE = `Usage: spinet new TEMPLATE NAME [--dir DIR]
       spinet new --list

Creates the app NAME (lowercase kebab-case, e.g. my-app) from TEMPLATE in ./NAME (or DIR), which must
not exist or be empty. Then: cd NAME && spinet build --up. "spinet new --list" shows the templates.`;

/** The template table `--list` prints. */
export function templateTable(templates: readonly TemplateInfo[]): string {
  const width = Math.max(...templates.map((t) => t.id.length));
  return templates.map((t) => `  ${t.id.padEnd(width)}  ${t.description}${t.requires.length > 0 ? ` (needs ${t.requires.join(', ')})` : ''}`).join('\n');
}

/** Runs `spinet new`. */
export async function newApp(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { dir: { type: 'string' }, list: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${NEW_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${NEW_USAGE}\n`);
    return;
  }
  if (values.list) {
    process.stdout.write(`Templates (spinet new TEMPLATE NAME):\n${templateTable(await listTemplates())}\n`);
    return;
  }
  const [template, name, ...extra] = positionals;
  if (template === undefined || name === undefined || extra.length > 0) {
    throw new CliUsageError(`spinet new needs a TEMPLATE and a NAME, e.g. "spinet new http-ts hello".\n\nTemplates:\n${templateTable(await listTemplates())}\n\n${NEW_USAGE}`);
  }
  const made = await createApp(template, name, values.dir);
  const shown = path.relative(process.cwd(), made.appDir) || '.';
  const build = made.files.some((f) => f.startsWith('src/')) ? 'spinet build --up' : 'spinet up';
  process.stdout.write(
    `Created ${shown}/ from the ${made.template.id} template:\n${made.files.map((f) => `  ${f}`).join('\n')}\n\n` +
      `Next:\n  cd ${shown}\n  ${build}${made.template.requires.includes('redis') ? '       (needs Redis at 127.0.0.1:6379; spinet doctor checks)' : ''}\n`,
  );
}
