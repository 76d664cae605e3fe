/**
 * `spinet add <template> <name> [-f spin.toml]`: adds a component from a template to an existing app,
 * like `spin add`: its files go to <name>/, its triggers and tables are appended to spin.toml.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { CliUsageError } from '../errors.js';
import { addComponent, listTemplates } from '../scaffold/template-catalog.js';
import { templateTable } from './new.js';

/** Usage text for `spinet add`. */
export const ADD_USAGE = `Usage: spinet add TEMPLATE NAME [-f spin.toml | APP_DIR]

Adds the component NAME (lowercase kebab-case) from TEMPLATE to the app in the current directory (or
the given spin.toml / directory): files go to NAME/, HTTP routes under /NAME/..., and the component's
tables are appended to spin.toml. Then: spinet build --up.`;

/** Runs `spinet add`. */
export async function add(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { from: { type: 'string', short: 'f' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliUsageError(`${(err as Error).message}\n\n${ADD_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${ADD_USAGE}\n`);
    return;
  }
  const [template, name, appArg, ...extra] = positionals;
  if (template === undefined || name === undefined || extra.length > 0 || (appArg !== undefined && values.from !== undefined)) {
    throw new CliUsageError(`spinet add needs a TEMPLATE and a NAME, e.g. "spinet add http-ts api".\n\nTemplates:\n${templateTable(await listTemplates())}\n\n${ADD_USAGE}`);
  }
  const made = await addComponent(template, name, values.from ?? appArg ?? '.');
  const shown = path.relative(process.cwd(), made.appDir) || '.';
  process.stdout.write(
    `Added component ${name} (${made.template.id}) to ${path.join(shown, 'spin.toml')}:\n${made.files.map((f) => `  ${f}`).join('\n')}\n\n` +
      `Next: ${shown === '.' ? '' : `cd ${shown} && `}spinet build --up\n`,
  );
}
