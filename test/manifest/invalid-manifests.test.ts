/**
 * Hostile and mistaken manifests: each one is rejected with the right SPINET_ERR_MANIFEST_* code and a
 * message that names the file, the line (where it can be known), the key path, and says how to fix it.
 */
import path from 'node:path';
import t from 'tap';
import {
  COMPONENT_BYTES,
  CORE_MODULE_BYTES,
  HEADER,
  helloManifest,
  lineContaining,
  loadError,
  shownPath,
  type AppFixture,
} from './manifest-fixtures.js';

interface InvalidCase {
  /** Reads as a sentence: "<name>". */
  readonly name: string;
  readonly toml: string;
  /** Files next to spin.toml besides hello.wasm. */
  readonly extra?: AppFixture;
  /** The app lives in this subdirectory of the test dir (for fixtures that need an "outside"). */
  readonly appDir?: string;
  readonly outside?: AppFixture;
  readonly code: string;
  /** Key path the message must name, e.g. `component.hello.source`. */
  readonly key?: string;
  /** The message must point at the line containing this text (`file:<line>:`). */
  readonly lineOf?: string;
  readonly fix: RegExp;
  readonly mentions?: readonly string[];
}

const INVALID = 'SPINET_ERR_MANIFEST_INVALID';
const SOURCE = 'SPINET_ERR_MANIFEST_SOURCE';
const FILES = 'SPINET_ERR_MANIFEST_FILES';

const cases: readonly InvalidCase[] = [
  {
    name: 'a TOML syntax error is reported with its line and column',
    toml: `${HEADER}version = = "1"\n`,
    code: 'SPINET_ERR_MANIFEST_SYNTAX',
    lineOf: 'version = =',
    fix: /Fix the TOML/,
    mentions: ['column'],
  },
  {
    name: 'a manifest without spin_manifest_version asks for version 2',
    toml: `[application]\nname = "x"\n`,
    code: INVALID,
    key: 'spin_manifest_version',
    fix: /Add spin_manifest_version = 2/,
  },
  {
    name: 'a version 1 manifest is refused with conversion steps',
    toml: `spin_manifest_version = "1"\nname = "old"\ntrigger = { type = "http", base = "/" }\n\n[[component]]\nid = "hello"\nsource = "hello.wasm"\n[component.trigger]\nroute = "/hello"\n`,
    code: INVALID,
    key: 'spin_manifest_version',
    lineOf: 'spin_manifest_version',
    fix: /spin_manifest_version = 2.*\[component\.x\].*\[\[trigger\.http\]\]/,
    mentions: ['version 1'],
  },
  {
    name: 'an unsupported manifest version is refused',
    toml: `spin_manifest_version = 3\n[application]\nname = "x"\n`,
    code: INVALID,
    key: 'spin_manifest_version',
    lineOf: 'spin_manifest_version',
    fix: /spin_manifest_version = 2/,
  },
  {
    name: 'an unknown top-level key is rejected',
    toml: helloManifest().replace('spin_manifest_version = 2\n', 'spin_manifest_version = 2\nnmae = "typo"\n'),
    code: INVALID,
    key: 'nmae',
    lineOf: 'nmae',
    fix: /Remove it or use one of: spin_manifest_version/,
  },
  {
    name: 'a missing [application] table is reported',
    toml: `spin_manifest_version = 2\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'application',
    fix: /Add \[application\] with at least name/,
  },
  {
    name: 'an unknown [application] key is rejected',
    toml: helloManifest('', 'athors = ["me"]\n'),
    code: INVALID,
    key: 'application.athors',
    lineOf: 'athors',
    fix: /Did you mean "authors"/,
  },
  {
    name: 'an unknown component key is rejected at its line with a suggestion',
    toml: helloManifest('sourc = "other.wasm"\n'),
    code: INVALID,
    key: 'component.hello.sourc',
    lineOf: 'sourc =',
    fix: /Did you mean "source"\?/,
  },
  {
    name: 'a component id that is not kebab-case is rejected at its header',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\n\n[component.Hello_World]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'component.Hello_World',
    lineOf: '[component.Hello_World]',
    fix: /kebab-case, e\.g\. \[component\.hello-world\]/,
    mentions: ['words must be separated with "-", not "_"'],
  },
  {
    name: 'a component id word mixing cases is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\n\n[component.helloWorld]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'component.helloWorld',
    lineOf: '[component.helloWorld]',
    fix: /kebab-case/,
    mentions: ['all lowercase or all UPPERCASE'],
  },
  {
    name: 'a variable name that is not lower_snake is rejected',
    toml: helloManifest('', '\n[variables]\nApiToken = { default = "x" }\n'),
    code: INVALID,
    key: 'variables.ApiToken',
    lineOf: 'ApiToken',
    fix: /lower_snake_case/,
  },
  {
    name: 'a variable with both required and default is rejected',
    toml: helloManifest('', '\n[variables]\ntoken = { required = true, default = "x" }\n'),
    code: INVALID,
    key: 'variables.token',
    lineOf: 'token =',
    fix: /Keep exactly one: required = true .* or default/,
  },
  {
    name: 'a variable with neither required nor default is rejected',
    toml: helloManifest('', '\n[variables]\ntoken = { secret = true }\n'),
    code: INVALID,
    key: 'variables.token',
    lineOf: 'token =',
    fix: /Add required = true or default/,
  },
  {
    name: 'a variable written as a bare string is rejected with the table form',
    toml: helloManifest('', '\n[variables]\ntoken = "abc"\n'),
    code: INVALID,
    key: 'variables.token',
    lineOf: 'token =',
    fix: /token = \{ default = "abc" \}/,
  },
  {
    name: 'a component variable template naming an undeclared variable names both variables',
    toml: helloManifest('variables = { token = "Bearer {{ api_tokn }}" }\n', '\n[variables]\napi_token = { required = true }\n'),
    code: INVALID,
    key: 'component.hello.variables.token',
    lineOf: 'variables = { token',
    fix: /Declare it .*or fix the name/,
    mentions: ['"token"', '"api_tokn"'],
  },
  {
    name: 'an unmatched template brace is rejected',
    toml: helloManifest('allowed_outbound_hosts = ["https://{{ host"]\n'),
    code: INVALID,
    key: 'component.hello.allowed_outbound_hosts[0]',
    lineOf: 'allowed_outbound_hosts',
    fix: /Close each expression/,
  },
  {
    name: 'a route pointing at a missing component is rejected at the trigger',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\n\n[[trigger.http]]\nroute = "/x"\ncomponent = "nope"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[1].component',
    lineOf: 'component = "nope"',
    fix: /Add a \[component\.nope\] table or fix the id \(defined: hello\)/,
  },
  {
    name: 'a trigger with both component and static_response is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\nstatic_response = { body = "hi" }\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[0]',
    lineOf: '[[trigger.http]]',
    fix: /Keep exactly one/,
  },
  {
    name: 'a trigger with neither component nor static_response is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\n\n[[trigger.http]]\nroute = "/x"\n`,
    code: INVALID,
    key: 'trigger.http[0]',
    lineOf: '[[trigger.http]]',
    fix: /Add component = "<id>"/,
  },
  {
    name: 'route = { private = false } is rejected naming the component',
    toml: `${HEADER}\n[[trigger.http]]\nroute = { private = false }\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[0].route',
    lineOf: 'private = false',
    fix: /route = \{ private = true \}/,
    mentions: ['component "hello"'],
  },
  {
    name: 'a trigger without a route is rejected',
    toml: `${HEADER}\n[[trigger.http]]\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[0].route',
    lineOf: '[[trigger.http]]',
    fix: /Add route = "\/path"/,
  },
  {
    name: 'a static response status outside 100-599 is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\nstatic_response = { status_code = 999 }\n`,
    code: INVALID,
    key: 'trigger.http[0].static_response.status_code',
    lineOf: 'status_code = 999',
    fix: /between 100 and 599/,
  },
  {
    name: 'a misspelt static_response key is rejected instead of serving 200',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\nstatic_response = { status = 404 }\n`,
    code: INVALID,
    key: 'trigger.http[0].static_response.status',
    lineOf: 'status = 404',
    fix: /Did you mean "status_code"/,
  },
  {
    name: 'an unknown trigger type is rejected',
    toml: `${HEADER}\n[[trigger.cron]]\ncron_expression = "1/2 * * * * *"\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.cron',
    lineOf: '[[trigger.cron]]',
    fix: /\[\[trigger\.http\]\] and \[\[trigger\.redis\]\]/,
    mentions: ['"cron" is not supported'],
  },
  {
    name: 'a manifest without triggers is rejected',
    toml: `${HEADER}\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger',
    fix: /Add at least one \[\[trigger\.http\]\]/,
  },
  {
    name: '[trigger.http] written as a single table is rejected',
    toml: `${HEADER}\n[trigger.http]\nroute = "/"\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http',
    lineOf: '[trigger.http]',
    fix: /\[\[trigger\.http\]\] \(double brackets\)/,
  },
  {
    name: 'an unknown [[trigger.http]] key is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\nrotue = "/x"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[0].rotue',
    lineOf: 'rotue',
    fix: /Did you mean "route"/,
  },
  {
    name: 'the Wagi executor is rejected',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = "hello"\nexecutor = { type = "wagi" }\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.http[0].executor.type',
    lineOf: 'executor',
    fix: /wasi:http incoming-handler world/,
    mentions: ['wagi not supported'],
  },
  {
    name: 'a trigger base other than "/" is rejected with the Spin 3 fix',
    toml: helloManifest('', '\n[application.trigger.http]\nbase = "/shop"\n'),
    code: INVALID,
    key: 'application.trigger.http.base',
    lineOf: 'base =',
    fix: /The base must be prepended to each \[\[trigger\.http\]\]'s route \(e\.g\. route = "\/shop\/\.\.\."\)/,
  },
  {
    name: 'a Redis trigger with no address anywhere is rejected',
    toml: `${HEADER}\n[[trigger.redis]]\nchannel = "orders"\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.redis[0]',
    lineOf: '[[trigger.redis]]',
    fix: /\[application\.trigger\.redis\] address/,
  },
  {
    name: 'a Redis trigger without a channel is rejected',
    toml: `${HEADER}\n[application.trigger.redis]\naddress = "redis://localhost"\n\n[[trigger.redis]]\ncomponent = "hello"\n\n[component.hello]\nsource = "hello.wasm"\n`,
    code: INVALID,
    key: 'trigger.redis[0].channel',
    lineOf: '[[trigger.redis]]',
    fix: /Add channel = /,
  },
  {
    name: 'allowed_http_hosts points to allowed_outbound_hosts',
    toml: helloManifest('allowed_http_hosts = ["example.com"]\n'),
    code: INVALID,
    key: 'component.hello.allowed_http_hosts',
    lineOf: 'allowed_http_hosts',
    fix: /Use allowed_outbound_hosts/,
  },
  {
    name: 'component dependencies are refused as not supported yet',
    toml: helloManifest('[component.hello.dependencies]\n"a:b/c" = "1.0.0"\n'),
    code: INVALID,
    key: 'component.hello.dependencies',
    lineOf: '[component.hello.dependencies]',
    fix: /Compose the component ahead of time/,
    mentions: ['not supported'],
  },
  {
    name: 'an environment key that is not an environment variable name is rejected',
    toml: helloManifest('environment = { "LOG-LEVEL" = "info" }\n'),
    code: INVALID,
    key: 'component.hello.environment.LOG-LEVEL',
    lineOf: 'environment',
    fix: /Rename it/,
  },
  {
    name: 'a build without command is rejected',
    toml: helloManifest('[component.hello.build]\nworkdir = "src"\n'),
    code: INVALID,
    key: 'component.hello.build.command',
    lineOf: '[component.hello.build]',
    fix: /Add command = /,
  },
  {
    name: 'a missing source file is reported with a build hint',
    toml: helloManifest().replace('"hello.wasm"', '"target/missing.wasm"'),
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "target/missing.wasm"',
    fix: /relative to spin\.toml/,
    mentions: ['does not exist'],
  },
  {
    name: 'a source that is a directory is rejected',
    toml: helloManifest().replace('"hello.wasm"', '"target"'),
    extra: { target: { 'x.wasm': COMPONENT_BYTES } },
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "target"',
    fix: /Point source at the component file inside it/,
    mentions: ['is a directory'],
  },
  {
    name: 'a core wasm module is rejected with how to build a component',
    toml: helloManifest().replace('"hello.wasm"', '"core.wasm"'),
    extra: { 'core.wasm': CORE_MODULE_BYTES },
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "core.wasm"',
    fix: /build it as a component .*wasm-tools component new/,
    mentions: ['core WebAssembly module, not a component'],
  },
  {
    name: 'a file that is not WebAssembly is rejected',
    toml: helloManifest().replace('"hello.wasm"', '"main.rs"'),
    extra: { 'main.rs': 'fn main() {}\n' },
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "main.rs"',
    fix: /compiled \.wasm component/,
    mentions: ['not a WebAssembly file'],
  },
  {
    name: 'a WebAssembly binary from an old component-model draft is rejected with its header bytes',
    toml: helloManifest().replace('"hello.wasm"', '"draft.wasm"'),
    extra: { 'draft.wasm': Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0a, 0x00, 0x01, 0x00]) },
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "draft.wasm"',
    fix: /Rebuild it with a current component toolchain/,
    mentions: ['0a 00 01 00'],
  },
  {
    name: 'a file shorter than a WebAssembly header is rejected',
    toml: helloManifest().replace('"hello.wasm"', '"short.wasm"'),
    extra: { 'short.wasm': Buffer.from([0x00, 0x61, 0x73, 0x6d]) },
    code: SOURCE,
    key: 'component.hello.source',
    lineOf: 'source = "short.wasm"',
    fix: /compiled \.wasm component/,
  },
  {
    name: 'a URL source with a malformed digest is rejected',
    toml: helloManifest().replace('source = "hello.wasm"', 'source = { url = "https://example.com/a.wasm", digest = "sha256:abc" }'),
    code: INVALID,
    key: 'component.hello.source.digest',
    lineOf: 'source = { url',
    fix: /sha256sum/,
  },
  {
    name: 'a source table of unknown shape is rejected',
    toml: helloManifest().replace('source = "hello.wasm"', 'source = { path = "hello.wasm" }'),
    code: INVALID,
    key: 'component.hello.source',
    lineOf: 'source = { path',
    fix: /source = \{ url = .* or source = \{ registry/,
  },
  {
    name: 'a files pattern climbing out with ".." is rejected',
    toml: helloManifest('files = ["../outside/*"]\n'),
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /inside the directory of spin\.toml/,
    mentions: ['"../outside/*"', 'outside the app root'],
  },
  {
    name: 'a files pattern ending in ".." is rejected',
    toml: helloManifest('files = ["static/.."]\n'),
    extra: { static: { 'a.txt': 'a' } },
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /glob ending in \/\*\*\/\*/,
    mentions: ['ends in ".."'],
  },
  {
    name: 'an absolute files pattern is rejected',
    toml: helloManifest('files = ["/etc/passwd"]\n'),
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /relative to the app root/,
    mentions: ['absolute'],
  },
  {
    name: 'a files placement whose source climbs out is rejected',
    toml: helloManifest('files = [{ source = "../outside", destination = "/x" }]\n'),
    appDir: 'app',
    outside: { 'secret.txt': 'secret' },
    code: FILES,
    key: 'component.hello.files[0].source',
    lineOf: 'files =',
    fix: /inside the directory of spin\.toml/,
  },
  {
    name: 'a symlink to a file outside the app root is rejected, not skipped',
    toml: helloManifest('files = ["static/**/*"]\n'),
    appDir: 'app',
    outside: { 'secret.txt': 'secret' },
    extra: { static: { 'ok.txt': 'ok', 'leak.txt': t.fixture('symlink', '../../outside/secret.txt') } },
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /symlink target.* must be inside the directory of spin\.toml/,
    mentions: ['static/leak.txt', 'outside the app root'],
  },
  {
    name: 'a symlinked directory leading outside the app root is rejected',
    toml: helloManifest('files = ["static"]\n'),
    appDir: 'app',
    outside: { 'secret.txt': 'secret' },
    extra: { static: t.fixture('symlink', '../outside') },
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /must be inside the directory of spin\.toml/,
    mentions: ['static/secret.txt'],
  },
  {
    name: 'a relative files destination is rejected',
    toml: helloManifest('files = [{ source = "static", destination = "assets" }]\n'),
    extra: { static: { 'a.txt': 'a' } },
    code: FILES,
    key: 'component.hello.files[0].destination',
    lineOf: 'files =',
    fix: /destination = "\/assets"/,
    mentions: ['not an absolute guest path'],
  },
  {
    name: 'a single file placed at a directory-like destination is rejected',
    toml: helloManifest('files = [{ source = "robots.txt", destination = "/" }]\n'),
    extra: { 'robots.txt': 'User-agent: *' },
    code: FILES,
    key: 'component.hello.files[0].destination',
    lineOf: 'files =',
    fix: /destination = "\/robots\.txt"/,
  },
  {
    name: 'an unknown key in an inline trigger component is rejected at its line',
    toml: `${HEADER}\n[[trigger.http]]\nroute = "/"\ncomponent = { source = "hello.wasm", enviroment = { A = "b" } }\n`,
    code: INVALID,
    key: 'trigger.http[0].component.enviroment',
    lineOf: 'component = {',
    fix: /Did you mean "environment"/,
  },
  {
    name: 'a component variable name that is not lower_snake is rejected',
    toml: helloManifest('variables = { apiToken = "x" }\n'),
    code: INVALID,
    key: 'component.hello.variables.apiToken',
    lineOf: 'variables =',
    fix: /lower_snake_case/,
  },
  {
    name: 'a URL source that is not http(s) is rejected',
    toml: helloManifest().replace('source = "hello.wasm"', `source = { url = "ftp://example.com/a.wasm", digest = "sha256:${'a'.repeat(64)}" }`),
    code: INVALID,
    key: 'component.hello.source.url',
    lineOf: 'source = { url',
    fix: /full download URL/,
  },
  {
    name: 'a files path that neither exists nor is a glob is rejected',
    toml: helloManifest('files = ["missing.txt"]\n'),
    code: FILES,
    key: 'component.hello.files[0]',
    lineOf: 'files =',
    fix: /Fix the path/,
    mentions: ["doesn't look like a glob pattern"],
  },
  {
    name: 'a files entry on its own line of a multi-line array is located on that line',
    toml: helloManifest('files = [\n  "static/**/*",\n  "/abs/path",\n]\n'),
    extra: { static: { 'a.txt': 'a' } },
    code: FILES,
    key: 'component.hello.files[1]',
    lineOf: '"/abs/path"',
    fix: /relative to the app root/,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const app: AppFixture = { 'spin.toml': c.toml, 'hello.wasm': COMPONENT_BYTES, ...c.extra };
    const base = t.testdir(c.appDir === undefined ? app : { [c.appDir]: app, outside: c.outside ?? {} });
    const dir = c.appDir === undefined ? base : path.join(base, c.appDir);
    const error = await loadError(t, dir);
    const file = shownPath(dir);

    t.equal(error.code, c.code, 'error code');
    if (c.lineOf === undefined) {
      t.ok(error.message.startsWith(`${file}: `), `message starts with the file and no line: ${error.message}`);
    } else {
      const line = lineContaining(c.toml, c.lineOf);
      t.ok(error.message.startsWith(`${file}:${line}: `), `message starts with ${file}:${line}: — got: ${error.message}`);
    }
    if (c.key !== undefined) t.ok(error.message.includes(` ${c.key}: `), `message names key ${c.key}: ${error.message}`);
    t.match(error.message, c.fix, 'message says how to fix it');
    for (const text of c.mentions ?? []) t.ok(error.message.includes(text), `message mentions ${text}`);
  });
}

t.test('a directory without spin.toml is reported as not found', async (t) => {
  const dir = t.testdir({ 'README.md': 'no manifest here' });
  const error = await loadError(t, dir);
  t.equal(error.code, 'SPINET_ERR_MANIFEST_NOT_FOUND');
  t.ok(error.message.startsWith(`${shownPath(dir)}: `), error.message);
  t.match(error.message, /has no spin\.toml/);
});

t.test('a path that does not exist is reported as not found', async (t) => {
  const dir = path.join(t.testdir({}), 'nope', 'spin.toml');
  const error = await loadError(t, dir);
  t.equal(error.code, 'SPINET_ERR_MANIFEST_NOT_FOUND');
  t.ok(error.message.startsWith(`${dir}: `), error.message);
  t.match(error.message, /Pass the path of a spin\.toml/);
});
