/**
 * `spinet new`, `add` and `build` refuse what they cannot do, before touching anything, with a code and
 * a message that says what, where and what to do. None of these tests runs componentize-js: the slow
 * template builds are in templates.test.ts.
 */
import t from 'tap';
import { readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { runSpinet } from '../helpers/spinet-cli.js';
import { addComponent, createApp } from '../../server/scaffold/template-catalog.js';

const TEMPLATES = ['http-c', 'http-js', 'http-ts', 'kv-ts', 'redis-ts', 'static-site'];

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

t.test('new --list shows every template with what it makes', async (t) => {
  const r = await runSpinet(['new', '--list'], t.testdir());
  t.equal(r.code, 0);
  for (const id of TEMPLATES) t.match(r.stdout, new RegExp(`^  ${id} +\\S`, 'm'), `${id} is listed with a description`);
  t.match(r.stdout, /redis-ts .*needs redis/);
  t.match(r.stdout, /http-c .*needs clang/);
});

t.test('new writes spin.toml, sources, package.json and a README, and says what to run next', async (t) => {
  const dir = t.testdir();
  const r = await runSpinet(['new', 'http-ts', 'my-app'], dir);
  t.equal(r.code, 0, r.stderr);
  const app = path.join(dir, 'my-app');
  t.same((await readdir(app)).sort(), ['.gitignore', 'README.md', 'package.json', 'spin.toml', 'src', 'tsconfig.json']);
  const manifest = parse(await readFile(path.join(app, 'spin.toml'), 'utf8')) as { application: { name: string }; component: Record<string, { source: string; build: { command: string } }> };
  t.equal(manifest.application.name, 'my-app');
  t.equal(manifest.component['my-app']?.source, 'dist/my-app.wasm');
  t.match(manifest.component['my-app']?.build.command, /^spinet componentize src\/index\.ts -o dist\/my-app\.wasm$/);
  t.match(await readFile(path.join(app, 'src', 'index.ts'), 'utf8'), /Hello from my-app!/, 'placeholders are filled in');
  t.notMatch(await readFile(path.join(app, 'README.md'), 'utf8'), /%\{/, 'no placeholder is left');
  t.match(r.stdout, /cd my-app\n  spinet build --up/);
});

t.test('new refuses names Spin would not accept, and creates nothing', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['Hello', /lowercase/],
    ['my_app', /only lowercase letters, digits and "-"; got "_"/],
    ['1app', /must start with an ASCII letter; got "1"/],
    ['rt-1', /must start with an ASCII letter; got "1"/],
    ['a--b', /must not be empty/],
    ['trailing-', /must not be empty/],
    ['../escape', /got "\."/],
    ['a/b', /got "\/"/],
    ['x'.repeat(64), /limit is 63/],
  ];
  // In-process for the table (each refusal is the same code path); once through the CLI for the output.
  for (const [name, why] of cases) {
    const dir = t.testdir();
    await t.rejects(createApp('http-ts', name, path.join(dir, 'app')), { code: 'SPINET_ERR_TEMPLATE_NAME', message: why }, name);
    await t.rejects(addComponent('http-ts', name, dir), { code: 'SPINET_ERR_TEMPLATE_NAME' }, `${name} (add)`);
    t.same(await readdir(dir), [], `${name}: nothing was created`);
  }
  const dir = t.testdir();
  const r = await runSpinet(['new', 'http-ts', 'My_App'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /^spinet: SPINET_ERR_TEMPLATE_NAME: "My_App" cannot be an app name: .*Use lowercase kebab-case \(Spin's component id rule\), e\.g\. "my-app"\./);
  t.same(await readdir(dir), []);
});

t.test('new refuses an unknown template, listing the real ones', async (t) => {
  const dir = t.testdir();
  const r = await runSpinet(['new', 'http-rust', 'hello'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /^spinet: SPINET_ERR_TEMPLATE_UNKNOWN: there is no template "http-rust"/);
  t.match(r.stderr, /did you mean http-c or http-js or http-ts\?/);
  t.match(r.stderr, /spinet new --list/);
  t.same(await readdir(dir), []);
  const usage = await runSpinet(['new', 'http-ts'], dir);
  t.equal(usage.code, 1);
  t.match(usage.stderr, /SPINET_ERR_CLI_USAGE: spinet new needs a TEMPLATE and a NAME/);
});

t.test('new does not overwrite an existing directory', async (t) => {
  const dir = t.testdir({ taken: { 'notes.txt': 'mine' } });
  const r = await runSpinet(['new', 'http-js', 'taken'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /SPINET_ERR_TEMPLATE_TARGET: .*taken already exists and is not empty.*--dir/);
  t.same(await readdir(path.join(dir, 'taken')), ['notes.txt']);
  // --dir puts it elsewhere; an empty directory is fine.
  await mkdir(path.join(dir, 'empty'));
  const ok = await runSpinet(['new', 'http-js', 'taken', '--dir', 'empty'], dir);
  t.equal(ok.code, 0, ok.stderr);
  t.ok(await exists(path.join(dir, 'empty', 'src', 'index.js')));
});

t.test('add appends a component under its own directory and route; duplicates and bad places are refused', async (t) => {
  const dir = t.testdir();
  t.equal((await runSpinet(['new', 'static-site', 'site'], dir)).code, 0);
  const app = path.join(dir, 'site');
  const r = await runSpinet(['add', 'redis-ts', 'worker'], app);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /Added component worker \(redis-ts\)/);
  const manifest = parse(await readFile(path.join(app, 'spin.toml'), 'utf8')) as {
    trigger: { redis: Array<{ channel: string; address: string }> };
    component: Record<string, { source: string; build: { workdir: string }; allowed_outbound_hosts: string[] }>;
  };
  t.equal(manifest.component['worker']?.source, 'worker/dist/worker.wasm');
  t.equal(manifest.component['worker']?.build.workdir, 'worker');
  t.same(manifest.trigger.redis, [{ address: 'redis://127.0.0.1:6379', channel: 'worker', component: 'worker' }], 'an app without redis_address gets the local Redis');
  t.ok(await exists(path.join(app, 'worker', 'src', 'index.ts')));
  t.notOk(await exists(path.join(app, 'worker', 'README.md')), 'app-level files are not added');

  const again = await runSpinet(['add', 'http-ts', 'worker'], app);
  t.equal(again.code, 1);
  t.match(again.stderr, /SPINET_ERR_TEMPLATE_TARGET: .*spin\.toml already has a component "worker"/);
  const api = await runSpinet(['add', 'http-js', 'api', '-f', path.join(app, 'spin.toml')], dir);
  t.equal(api.code, 0, api.stderr);
  t.match(await readFile(path.join(app, 'spin.toml'), 'utf8'), /route = "\/api\/\.\.\."/);

  const nowhere = await runSpinet(['add', 'http-ts', 'api'], dir);
  t.equal(nowhere.code, 1);
  t.match(nowhere.stderr, /SPINET_ERR_MANIFEST_NOT_FOUND: .*has no spin\.toml.*spinet new/);
  const badName = await runSpinet(['add', 'http-ts', 'Api'], app);
  t.match(badName.stderr, /SPINET_ERR_TEMPLATE_NAME/);
});

const FAILING_APP = `spin_manifest_version = 2
[application]
name = "failing"
[[trigger.http]]
route = "/a"
component = "a"
[[trigger.http]]
route = "/b"
component = "b"
[component.a]
source = "a.wasm"
[component.a.build]
command = "echo boom-from-the-tool >&2; exit 3"
[component.b]
source = "b.wasm"
[component.b.build]
command = "touch b-was-built"
`;

t.test('a failed build command shows the tool output, names the component and stops', async (t) => {
  const dir = t.testdir({ 'spin.toml': FAILING_APP });
  const r = await runSpinet(['build'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /boom-from-the-tool/, "the tool's own output is shown");
  t.match(r.stderr, /SPINET_ERR_BUILD_FAILED: component "a" \(spin\.toml:10\): build command "echo boom-from-the-tool >&2; exit 3" \(in .*\) failed with exit code 3/);
  t.match(r.stderr, /fix the error and run spinet build again/);
  t.notOk(await exists(path.join(dir, 'b-was-built')), 'later components are not built');

  const one = await runSpinet(['build', '-c', 'b'], dir);
  t.equal(one.code, 0, one.stderr);
  t.ok(await exists(path.join(dir, 'b-was-built')), '-c builds just that component');
  const unknown = await runSpinet(['build', '-c', 'zzz'], dir);
  t.match(unknown.stderr, /no component "zzz" with a \[component\.<id>\.build\] section; buildable components: a, b/);

  const up = await runSpinet(['up', '--build', '--listen', '127.0.0.1:1'], dir);
  t.equal(up.code, 1, 'up --build serves nothing when the build fails');
  t.match(up.stderr, /SPINET_ERR_BUILD_FAILED/);
  t.notMatch(up.stdout, /serving on/);
});

t.test("a guest that does not compile fails with esbuild's message, file and line", async (t) => {
  const dir = t.testdir();
  t.equal((await runSpinet(['new', 'http-ts', 'broken'], dir)).code, 0);
  const app = path.join(dir, 'broken');
  await writeFile(path.join(app, 'src', 'index.ts'), "import { nothing } from './missing.js';\naddEventListener('fetch', nothing);\n");
  const r = await runSpinet(['build', '--up'], app);
  t.equal(r.code, 1);
  t.match(r.stderr, /SPINET_ERR_BUILD_FAILED: component "broken" \(spin\.toml:\d+\) failed to build:/);
  t.match(r.stderr, /src\/index\.ts:1:\d+: Could not resolve "\.\/missing\.js"/);
  t.notMatch(r.stdout, /serving on/);
});

t.test('build in a directory without spin.toml says where it looked and what to do', async (t) => {
  const dir = t.testdir();
  const r = await runSpinet(['build'], dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /SPINET_ERR_MANIFEST_NOT_FOUND: spin\.toml: the directory \. has no spin\.toml.*spinet new/);
  const site = await runSpinet(['new', 'static-site', 'site'], dir);
  t.equal(site.code, 0);
  const nothing = await runSpinet(['build'], path.join(dir, 'site'));
  t.equal(nothing.code, 0);
  t.match(nothing.stderr, /nothing to build/);
});
