#!/usr/bin/env node
// Assembles the servable Finicky Whiskers front-end into components/finicky-whiskers/site/:
//   public/finicky-whiskers/**                  -> site/**
//   node_modules/jquery/dist/jquery.min.js      -> site/vendor/jquery.min.js
//   node_modules/bulma/css/bulma.min.css        -> site/vendor/bulma.min.css
//   node_modules/@fontsource/azeret-mono/{400,700}.css + their woff2 files
//                                               -> site/vendor/azeret-mono/{400,700}.css, files/*.woff2
//   the vendored packages' license texts        -> site/vendor/LICENSES.txt
// The site is built in a temporary sibling directory and swapped in with rename(),
// so a server reading site/ never sees a half-written tree. Works from any cwd.
// Uses node: built-ins only.

import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlibConstants } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const srcDir = join(repoRoot, 'public', 'finicky-whiskers');
const outDir = join(here, 'site');
const modules = join(repoRoot, 'node_modules');

const FONT_WEIGHTS = ['400', '700'];

/** Vendored packages: where they live, what we copy, where their license is. */
const PACKAGES = [
  {
    name: 'jquery',
    files: [['dist/jquery.min.js', 'vendor/jquery.min.js']],
  },
  {
    name: 'bulma',
    files: [['css/bulma.min.css', 'vendor/bulma.min.css']],
  },
  {
    name: '@fontsource/azeret-mono',
    files: [], // handled by copyFont(): the CSS is rewritten and only its woff2 files are copied
    css: FONT_WEIGHTS.map((w) => `${w}.css`),
  },
];

const LICENSE_NAMES = ['LICENSE', 'LICENSE.txt', 'LICENSE.md', 'LICENCE', 'license', 'license.txt', 'OFL.txt'];

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

const rel = (p) => relative(repoRoot, p) || '.';

async function readPackage(pkg) {
  const dir = join(modules, ...pkg.name.split('/'));
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) {
    fail(
      `the npm package "${pkg.name}" is not installed (looked for ${rel(manifest)}).\n` +
        `  Fix: run "npm install" in ${repoRoot} (it is a devDependency of spinet).`,
    );
  }
  const { version } = JSON.parse(await readFile(manifest, 'utf8'));
  const wanted = [...pkg.files.map(([from]) => from), ...(pkg.css ?? [])];
  for (const from of wanted) {
    if (!existsSync(join(dir, from))) {
      fail(
        `"${pkg.name}@${version}" is installed but ${from} is missing from ${rel(dir)}.\n` +
          `  Fix: run "npm install" in ${repoRoot} (delete node_modules/${pkg.name} first if it is damaged).`,
      );
    }
  }
  const licenseName = LICENSE_NAMES.find((n) => existsSync(join(dir, n)));
  if (!licenseName) fail(`no LICENSE file found in ${rel(dir)}; refusing to vendor "${pkg.name}" without its license.`);
  return { ...pkg, dir, version, license: await readFile(join(dir, licenseName), 'utf8'), licenseName };
}

/**
 * Copies one Fontsource weight: keeps the @font-face rules, drops the woff fallback
 * (every browser that runs the game reads woff2) and copies the woff2 files the CSS names.
 */
async function copyFont(pkg, tmp) {
  const outFontDir = join(tmp, 'vendor', 'azeret-mono');
  await mkdir(join(outFontDir, 'files'), { recursive: true });
  const copied = new Set();
  for (const cssName of pkg.css) {
    let css = await readFile(join(pkg.dir, cssName), 'utf8');
    css = css.replace(/,\s*url\(\.\/files\/[^)]+\.woff\)\s*format\(['"]woff['"]\)/g, '');
    const urls = [...css.matchAll(/url\(\s*['"]?([^'")]+)['"]?\s*\)/g)].map((m) => m[1]);
    if (urls.length === 0) fail(`${rel(join(pkg.dir, cssName))} references no font files; has the package layout changed?`);
    for (const url of urls) {
      if (!url.startsWith('./files/') || url.includes('..')) {
        fail(`unexpected font URL "${url}" in ${rel(join(pkg.dir, cssName))}; expected ./files/<name>.`);
      }
      const name = url.slice('./files/'.length);
      const from = join(pkg.dir, 'files', name);
      if (!existsSync(from)) {
        fail(`font file ${rel(from)} (named in ${cssName}) is missing.\n  Fix: run "npm install" in ${repoRoot}.`);
      }
      if (!copied.has(name)) {
        await cp(from, join(outFontDir, 'files', name));
        copied.add(name);
      }
    }
    await writeFile(
      join(outFontDir, cssName),
      `/* Azeret Mono ${cssName.replace('.css', '')}, from @fontsource/azeret-mono@${pkg.version} (SIL OFL 1.1, see ../LICENSES.txt) */\n${css}`,
    );
  }
}

async function walk(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

async function build() {
  if (!existsSync(join(srcDir, 'index.html'))) {
    fail(`the game's sources are missing: ${rel(join(srcDir, 'index.html'))} does not exist.`);
  }
  const pkgs = [];
  for (const pkg of PACKAGES) pkgs.push(await readPackage(pkg));

  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  const tmp = join(here, `.site-tmp-${stamp}`);
  const old = join(here, `.site-old-${stamp}`);
  try {
    await cp(srcDir, tmp, { recursive: true, filter: (p) => !p.split(sep).pop().startsWith('.DS_Store') });
    await mkdir(join(tmp, 'vendor'), { recursive: true });
    for (const pkg of pkgs) {
      for (const [from, to] of pkg.files) await cp(join(pkg.dir, from), join(tmp, to));
      if (pkg.css) await copyFont(pkg, tmp);
    }
    const licenses = [
      'Third-party software vendored into the Finicky Whiskers site by components/finicky-whiskers/build-site.mjs.',
      'The game itself (index.html, assets/) is part of spinet.',
      '',
      ...pkgs.flatMap((pkg) => [
        '='.repeat(78),
        `${pkg.name} ${pkg.version}`,
        `Files: ${pkg.name === '@fontsource/azeret-mono' ? 'vendor/azeret-mono/' : pkg.files.map(([, to]) => to).join(', ')}`,
        `License text: ${pkg.name}/${pkg.licenseName}`,
        '='.repeat(78),
        '',
        pkg.license.trimEnd(),
        '',
        '',
      ]),
    ];
    await writeFile(join(tmp, 'vendor', 'LICENSES.txt'), licenses.join('\n'));

    // Precompressed siblings (.br, .gz) of the text files: the gateway serves them to clients that
    // accept them, so jQuery and Bulma travel at a fraction of their size without compressing per request.
    for (const file of await walk(tmp)) {
      if (!/\.(html|js|css|svg|txt)$/.test(file)) continue;
      const body = await readFile(file);
      if (body.length < 1024) continue;
      const br = brotliCompressSync(body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } });
      const gz = gzipSync(body, { level: 9 });
      if (br.length < body.length * 0.9) await writeFile(`${file}.br`, br);
      if (gz.length < body.length * 0.9) await writeFile(`${file}.gz`, gz);
    }

    // Swap the new tree in. rename() cannot replace a non-empty directory, so move the
    // old one aside first; the window without a site/ is two renames long.
    const hadOld = existsSync(outDir);
    if (hadOld) await rename(outDir, old);
    try {
      await rename(tmp, outDir);
    } catch (err) {
      if (hadOld) await rename(old, outDir).catch(() => {});
      throw err;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }

  const files = await walk(outDir);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  const vendored = pkgs.map((p) => `${p.name}@${p.version}`).join(', ');
  console.log(
    `finicky-whiskers site: ${files.length} files, ${bytes} bytes -> ${rel(outDir)}/ (vendored ${vendored})`,
  );
}

build().catch((err) => {
  if (err instanceof BuildError) {
    console.error(`build-site: error: ${err.message}`);
  } else {
    console.error('build-site: unexpected failure:', err);
  }
  process.exitCode = 1;
});
