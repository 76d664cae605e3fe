/** Hostile bundles are refused with their reason, before anything outside the staging directory is touched. */
import t from 'tap';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { mkdir, readdir, readFile, writeFile, copyFile, stat } from 'node:fs/promises';
import { unpackBundle, checkBundleManifest, entryPathProblem, packBundle, bundleFiles } from '../../server/tenants/bundle.js';
import type { BundleLimits } from '../../server/tenants/bundle.js';
import { loadManifest } from '../../server/manifest/load-manifest.js';
import { rawTar, rawTarGz } from '../helpers/raw-tar.js';
import { builtWasm, tempDir } from '../helpers/tenant-apps.js';

const LIMITS: BundleLimits = { maxCompressedBytes: 256 * 1024, maxUnpackedBytes: 1024 * 1024, maxEntries: 5 };
const MANIFEST = 'spin_manifest_version = 2\n[application]\nname = "x"\n';

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  return total;
}

t.test('hostile archives are refused with the reason, and nothing lands outside the staging directory', async (t) => {
  const root = await tempDir();
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['a ".." path', rawTarGz([{ path: '../evil', body: 'x' }]), 'SPINET_ERR_BUNDLE_INVALID', /"\.\.\/evil" climbs out of the bundle/],
    ['a ".." inside a path', rawTarGz([{ path: 'a/../../evil', body: 'x' }]), 'SPINET_ERR_BUNDLE_INVALID', /climbs out/],
    ['an absolute path', rawTarGz([{ path: '/tmp/spinet-evil', body: 'x' }]), 'SPINET_ERR_BUNDLE_INVALID', /is an absolute path/],
    ['a drive-letter path', rawTarGz([{ path: 'C:/evil', body: 'x' }]), 'SPINET_ERR_BUNDLE_INVALID', /is an absolute path/],
    ['a backslash path', rawTarGz([{ path: 'a\\..\\..\\evil', body: 'x' }]), 'SPINET_ERR_BUNDLE_INVALID', /backslash/],
    ['a symlink out of the bundle', rawTarGz([{ path: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), 'SPINET_ERR_BUNDLE_INVALID', /"passwd" is a symbolic link/],
    ['a symlink inside the bundle', rawTarGz([{ path: 'spin.toml', body: MANIFEST }, { path: 'alias', type: 'SymbolicLink', linkpath: 'spin.toml' }]), 'SPINET_ERR_BUNDLE_INVALID', /symbolic link/],
    ['a hard link', rawTarGz([{ path: 'spin.toml', body: MANIFEST }, { path: 'hl', type: 'Link', linkpath: 'spin.toml' }]), 'SPINET_ERR_BUNDLE_INVALID', /"hl" is a hard link/],
    ['a character device', rawTarGz([{ path: 'null', type: 'CharacterDevice' }]), 'SPINET_ERR_BUNDLE_INVALID', /character device/],
    ['a block device', rawTarGz([{ path: 'sda', type: 'BlockDevice' }]), 'SPINET_ERR_BUNDLE_INVALID', /block device/],
    ['a FIFO', rawTarGz([{ path: 'pipe', type: 'FIFO' }]), 'SPINET_ERR_BUNDLE_INVALID', /FIFO/],
    ['too many files', rawTarGz(Array.from({ length: 6 }, (_, i) => ({ path: `f${i}`, body: 'x' }))), 'SPINET_ERR_BUNDLE_TOO_LARGE', /more than 5 files/],
    ['a decompression bomb', gzipSync(rawTar([{ path: 'bomb', body: Buffer.alloc(64 * 1024 * 1024) }])), 'SPINET_ERR_BUNDLE_TOO_LARGE', /unpacks to more than 1048576 bytes/],
    ['an entry declaring more than the limit', rawTarGz([{ path: 'big', body: 'x', declaredSize: 2 * 1024 * 1024 }]), 'SPINET_ERR_BUNDLE_TOO_LARGE', /unpacks to more than/],
    ['an upload over the compressed limit', gzipSync(Buffer.from(Array.from({ length: 400 * 1024 }, (_, i) => (i * 7919) % 251)), { level: 0 }), 'SPINET_ERR_BUNDLE_TOO_LARGE', /larger than 262144 bytes compressed/],
    ['something that is not gzip', Buffer.from('PK\x03\x04 a zip file'), 'SPINET_ERR_BUNDLE_INVALID', /not a gzip-compressed tar/],
    ['gzip that is not a tar', gzipSync(Buffer.from('hello, this is not a tar archive at all'.repeat(20))), 'SPINET_ERR_BUNDLE_INVALID', /not a valid tar|empty/],
    ['a truncated archive', rawTarGz([{ path: 'spin.toml', body: MANIFEST }]).subarray(0, 30), 'SPINET_ERR_BUNDLE_INVALID', /not a gzip-compressed tar|not a valid tar/],
    ['an empty archive', rawTarGz([]), 'SPINET_ERR_BUNDLE_INVALID', /bundle is empty|not a valid tar/],
  ];
  for (const [why, bytes, code, message] of cases) {
    const dest = path.join(root, 'stage', why.replace(/\W+/g, '-'));
    await mkdir(dest, { recursive: true });
    await t.rejects(unpackBundle(Readable.from([bytes]), dest, LIMITS), { code, message }, why);
    t.ok((await du(dest)) <= LIMITS.maxUnpackedBytes, `${why}: at most the limit was written`);
  }
  t.same((await readdir(root)).sort(), ['stage'], 'nothing was written beside the staging directories');
  await t.rejects(stat('/tmp/spinet-evil'), { code: 'ENOENT' }, 'nothing was written at the absolute path');
});

t.test('entry paths: plain relative paths pass, the rest say why not', async (t) => {
  t.equal(entryPathProblem('spin.toml'), undefined);
  t.equal(entryPathProblem('static/a..b/x..html'), undefined, 'dots inside names are fine');
  t.equal(entryPathProblem('./dist/app.wasm'), undefined);
  t.match(entryPathProblem('a/\0b'), /NUL/);
});

t.test('a well-formed bundle unpacks with its digest, sizes and entry count', async (t) => {
  const dest = await tempDir();
  const bytes = rawTarGz([{ path: 'static', type: 'Directory' }, { path: 'spin.toml', body: MANIFEST }, { path: 'static/index.html', body: '<h1>hi</h1>' }]);
  const out = await unpackBundle(Readable.from([bytes]), dest, LIMITS);
  t.equal(out.entries, 3);
  t.equal(out.compressedBytes, bytes.length);
  t.match(out.digest, /^[0-9a-f]{64}$/);
  t.equal(await readFile(path.join(dest, 'static/index.html'), 'utf8'), '<h1>hi</h1>');
});

t.test('a manifest that refers outside its bundle is refused', async (t) => {
  const root = await tempDir();
  await mkdir(path.join(root, 'elsewhere'));
  await copyFile(builtWasm('hello'), path.join(root, 'elsewhere', 'app.wasm'));
  await writeFile(path.join(root, 'elsewhere', 'secret.txt'), 'secret');
  const app = (source: string, extra = ''): string =>
    `spin_manifest_version = 2\n[application]\nname = "x"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "${source}"\n${extra}\n`;
  const cases: Array<[string, string, RegExp]> = [
    ['a component source with ".."', app('../elsewhere/app.wasm'), /component\.c\.source refers outside the bundle/],
    ['an absolute component source', app(path.join(root, 'elsewhere', 'app.wasm')), /component\.c\.source refers outside the bundle/],
    ['a files mount with ".."', app('app.wasm', 'files = [{ source = "../elsewhere", destination = "/" }]'), /outside|escape/i],
    ['a files glob with ".."', app('app.wasm', 'files = ["../elsewhere/*.txt"]'), /outside|escape/i],
  ];
  for (const [why, manifest, message] of cases) {
    const dir = path.join(root, why.replace(/\W+/g, '-'));
    await mkdir(dir);
    await copyFile(builtWasm('hello'), path.join(dir, 'app.wasm'));
    await writeFile(path.join(dir, 'spin.toml'), manifest);
    await t.rejects(checkBundleManifest(dir), { message }, why);
  }
  const empty = path.join(root, 'no-manifest');
  await mkdir(empty);
  await t.rejects(checkBundleManifest(empty), { code: 'SPINET_ERR_BUNDLE_INVALID', message: /no spin.toml/ }, 'a bundle without spin.toml');
});

t.test('spinet deploy packs exactly spin.toml, the component sources, the mounted files and .env', async (t) => {
  const root = await tempDir();
  const dir = path.join(root, 'app');
  await mkdir(path.join(dir, 'static'), { recursive: true });
  await mkdir(path.join(dir, 'node_modules', 'big'), { recursive: true });
  await copyFile(builtWasm('hello'), path.join(dir, 'app.wasm'));
  await writeFile(path.join(dir, 'static', 'index.html'), 'hi');
  await writeFile(path.join(dir, 'node_modules', 'big', 'index.js'), 'not packed');
  await writeFile(path.join(dir, 'spin.toml'), 'spin_manifest_version = 2\n[application]\nname = "x"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "app.wasm"\nfiles = [{ source = "static", destination = "/" }]\n');
  const manifest = await loadManifest(dir);
  t.same(bundleFiles(manifest), ['app.wasm', 'spin.toml', 'static/index.html']);
  const dest = path.join(root, 'unpacked');
  await mkdir(dest);
  await unpackBundle(packBundle(manifest), dest);
  t.same((await readdir(dest, { recursive: true })).sort(), ['app.wasm', 'spin.toml', 'static', 'static/index.html']);
  await checkBundleManifest(dest);
  t.pass('the packed bundle passes the gateway\'s checks');
  await writeFile(path.join(dir, '.env'), 'SPIN_VARIABLE_X=1\n');
  t.same(bundleFiles(await loadManifest(dir)), ['.env', 'app.wasm', 'spin.toml', 'static/index.html'], 'and the app\'s .env, which spin up would read, when there is one');
});
