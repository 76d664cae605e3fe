/** Each developer command has a docs page with an example, linked from the README and the docs index. */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../helpers/gateway.js';

const COMMANDS = ['new', 'add', 'build', 'up', 'watch', 'doctor'];

t.test('every command has a page with a usage line and an example, linked from the README', async (t) => {
  const docs = path.join(repoRoot, 'server', 'cli', 'docs');
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const index = await readFile(path.join(docs, 'README.md'), 'utf8');
  for (const command of COMMANDS) {
    const page = await readFile(path.join(docs, `${command}.md`), 'utf8');
    t.match(page, new RegExp(`^# spinet ${command}\\n`), `${command}.md has its title`);
    t.match(page, new RegExp(`\\nspinet ${command} `), `${command}.md shows the usage`);
    t.match(page, /\n\$ spinet /, `${command}.md has an example session`);
    t.ok(readme.includes(`(server/cli/docs/${command}.md)`), `the README links ${command}.md`);
    t.ok(index.includes(`(${command}.md)`), `the docs index links ${command}.md`);
  }
});
