/** Every SPINET_ERR_* code spinet can throw is documented in the README's error table. */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as errors from '../../server/errors.js';
import { repoRoot } from '../helpers/gateway.js';

t.test('each error code in server/errors.ts has a row in the README', async (t) => {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const codes = Object.values(errors).map((E) => new (E as new (m: string) => { code: string })('x').code);
  t.ok(codes.length >= 15, `found ${codes.length} codes`);
  for (const code of codes) {
    t.match(code, /^SPINET_ERR_[A-Z_]+$/, `${code} follows the naming rule`);
    t.ok(readme.includes(`| \`${code}\` |`), `${code} is documented`);
  }
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
});
