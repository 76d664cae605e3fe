/**
 * The guest builder: a TypeScript/JavaScript guest becomes a component once, an unchanged guest is not
 * rebuilt (the recorded input hash matches), a changed one is, and a broken one fails with a
 * SPINET_ERR_BUILD_FAILED error naming the guest. componentize-js takes 10–30 s per build here, so the
 * whole file runs it exactly twice.
 */
import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildGuest } from '../../server/build/guest-builder.js';

/** A component (not a core module): `\0asm`, version 0x0d, layer 1. */
const COMPONENT_HEADER = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);

function guest(greeting: string, comment = ''): string {
  return `${comment}\naddEventListener('fetch', (event) => event.respondWith(new Response(${JSON.stringify(greeting)})));\n`;
}

t.test('an unchanged guest is not rebuilt, a changed one is', async (t) => {
  const dir = t.testdir({ 'guest.js': guest('one') });
  const entry = path.join(dir, 'guest.js');
  const opts = { entry, outFile: path.join(dir, 'dist', 'guest.wasm'), cacheDir: path.join(dir, 'cache') };

  const first = await buildGuest(opts);
  t.equal(first.cached, false, 'the first build runs componentize-js');
  const built = await readFile(opts.outFile);
  t.same(built.subarray(0, 8), COMPONENT_HEADER, 'the output is a WebAssembly component');
  t.equal(first.bytes, built.length);
  t.equal((await readFile(`${opts.outFile}.sha256`, 'utf8')).trim(), first.inputHash, 'the input hash is recorded beside it');
  const { mtimeMs } = await stat(opts.outFile);

  const second = await buildGuest(opts);
  t.equal(second.cached, true, 'the same input is served from the cache');
  t.equal(second.inputHash, first.inputHash);
  t.equal((await stat(opts.outFile)).mtimeMs, mtimeMs, 'the component is not rewritten');

  await writeFile(entry, guest('one', '// a comment esbuild drops from the bundle'));
  t.equal((await buildGuest(opts)).cached, true, 'a change that does not reach the bundle does not rebuild');

  await writeFile(entry, guest('two'));
  const third = await buildGuest(opts);
  t.equal(third.cached, false, 'a changed guest is rebuilt');
  t.not(third.inputHash, first.inputHash);
  t.not(Buffer.compare(await readFile(opts.outFile), built), 0, 'the component changed');
  t.equal((await readFile(`${opts.outFile}.sha256`, 'utf8')).trim(), third.inputHash);
});

t.test('a guest that does not bundle fails with SPINET_ERR_BUILD_FAILED, naming the guest and the error', async (t) => {
  const dir = t.testdir({ 'broken.ts': "import { nothing } from './missing.js';\naddEventListener('fetch', nothing);\n" });
  const outFile = path.join(dir, 'broken.wasm');
  await t.rejects(buildGuest({ entry: path.join(dir, 'broken.ts'), outFile, cacheDir: path.join(dir, 'cache'), name: 'broken-guest' }), {
    code: 'SPINET_ERR_BUILD_FAILED',
    message: /broken-guest[\s\S]*esbuild[\s\S]*Could not resolve "\.\/missing\.js"/,
  });
  await t.rejects(stat(outFile), { code: 'ENOENT' }, 'nothing is written');
});
