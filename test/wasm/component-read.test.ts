/**
 * Reading a component file in one or two `read`s of the size `fstat` reports gives exactly what
 * `fs.promises.readFile` gives: the same bytes for small files, for files read in two halves and for
 * files that are not a whole number of readFile's chunks, and the same errors.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readComponentFile } from '../../server/wasm/component-loader.js';
import { repoRoot } from '../helpers/gateway.js';

/** Random bytes, so a misplaced, repeated or missing range shows. */
const pattern = (n: number): Buffer => randomBytes(n);

t.test('a file gives the bytes readFile gives, small, odd-sized, or big enough to be read in two halves', async (t) => {
  const dir = t.testdir({});
  for (const size of [1, 7, 512 * 1024 + 3, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, 9 * 1024 * 1024 + 1]) {
    const file = path.join(dir, `f${size}.wasm`);
    await writeFile(file, pattern(size));
    const got = await readComponentFile(file);
    t.equal(got.length, size, `${size} bytes: the whole file`);
    t.ok(got.equals(await readFile(file)), `${size} bytes: the same bytes as readFile`);
  }
  const empty = path.join(dir, 'empty.wasm');
  await writeFile(empty, '');
  t.equal((await readComponentFile(empty)).length, 0, 'an empty file is empty');
});

t.test('a real component reads the same as with readFile', async (t) => {
  const file = path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm');
  t.ok((await readComponentFile(file)).equals(await readFile(file)));
});

t.test('errors are readFile’s: same code and message', async (t) => {
  const dir = t.testdir({});
  const sub = path.join(dir, 'a-directory.wasm');
  await mkdir(sub);
  for (const file of [path.join(dir, 'missing.wasm'), sub]) {
    const theirs = await readFile(file).then(() => undefined, (err: NodeJS.ErrnoException) => err);
    const ours = await readComponentFile(file).then(() => undefined, (err: NodeJS.ErrnoException) => err);
    t.ok(theirs && ours, `${path.basename(file)}: both fail`);
    t.equal(ours?.code, theirs?.code, `${path.basename(file)}: ${theirs?.code}`);
    t.equal(ours?.message, theirs?.message);
  }
});
