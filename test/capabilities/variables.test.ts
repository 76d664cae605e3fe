/**
 * Spin application variables: every provider and their precedence (CLI, runtime-config providers, the
 * implicit SPIN_VARIABLE_* env provider with its .env fallback, defaults), `--variable` syntax, required
 * variables, component templates and `variables.get` semantics, and that secrets never leak.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import t, { type Test } from 'tap';
import {
  expandTemplate,
  parseDotenv,
  resolveVariables,
  VariablesError,
  type VariableSources,
} from '../../server/capabilities/variables.js';
import type { ResolvedComponent, VariableDecl } from '../../server/manifest/types.js';

type Decls = Record<string, VariableDecl>;
const opt = (value: string, secret = false): VariableDecl => ({ required: false, default: value, secret });
const req = (secret = false): VariableDecl => ({ required: true, secret });

function app(variables: Decls): { name: string; variables: Decls } {
  return { name: 'shop', variables };
}

type Files = { [name: string]: string | Files };
const roots = new WeakMap<Test, { root: string; count: number }>();

/** A fresh directory (to act as cwd) holding `files`; empty means no .env. t.testdir() is one per test, so sub-dirs. */
function dir(t: Test, files: Files = {}): string {
  let state = roots.get(t);
  if (state === undefined) {
    state = { root: t.testdir({}), count: 0 };
    roots.set(t, state);
  }
  const base = path.join(state.root, `d${++state.count}`);
  const write = (at: string, tree: Files): void => {
    mkdirSync(at, { recursive: true });
    for (const [name, content] of Object.entries(tree)) {
      if (typeof content === 'string') writeFileSync(path.join(at, name), content);
      else write(path.join(at, name), content);
    }
  };
  write(base, files);
  return base;
}

function component(id: string, variables: Record<string, string>): Pick<ResolvedComponent, 'id' | 'variables'> {
  return { id, variables };
}

/** Resolves and expects a VariablesError; returns its message. */
async function failure(t: Test, variables: Decls, sources: VariableSources): Promise<string> {
  const err = await resolveVariables(app(variables), sources).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, VariablesError, 'throws a VariablesError');
  t.equal((err as VariablesError).code, 'SPINET_ERR_VARIABLES');
  return (err as Error).message;
}

t.test('a declared default is the value when no provider has one', async (t) => {
  const vars = await resolveVariables(app({ region: opt('eu-west'), empty: opt('') }), { env: {}, cwd: dir(t) });
  t.equal(vars.app('region'), 'eu-west');
  t.equal(vars.app('empty'), '', 'an empty default is a value');
  t.equal(vars.app('nope'), undefined, 'an undeclared name has no value');
  t.equal(vars.app('toString'), undefined, 'Object.prototype names are not variables');
  t.same(vars.names, ['region', 'empty']);
});

t.test('precedence: --variable, then runtime-config providers in order, then SPIN_VARIABLE_*, then .env, then default', async (t) => {
  const cwd = dir(t, {
    '.env': 'SPIN_VARIABLE_LEVEL=dotenv\n',
    'custom.env': 'APP_LEVEL=custom-dotenv\n',
    'empty.env': '',
  });
  const all = {
    cli: ['level=cli'],
    static1: { type: 'static', values: { level: 'static-1' } } as const,
    env1: { type: 'env', prefix: 'APP', dotenvPath: 'custom.env' } as const,
    static2: { type: 'static', values: { level: 'static-2' } } as const,
    implicitEnv: { SPIN_VARIABLE_LEVEL: 'implicit-env' },
  };
  const cases: [string, VariableSources, string][] = [
    ['cli beats everything', { cliValues: all.cli, providers: [all.static1, all.env1], env: { APP_LEVEL: 'env', ...all.implicitEnv }, cwd }, 'cli'],
    ['first provider wins (static before env)', { providers: [all.static1, all.env1], env: { APP_LEVEL: 'env', ...all.implicitEnv }, cwd }, 'static-1'],
    ['first provider wins (env before static)', { providers: [all.env1, all.static1], env: { APP_LEVEL: 'env', ...all.implicitEnv }, cwd }, 'env'],
    ['a configured env provider falls back to its own dotenv file', { providers: [all.env1, all.static2], env: all.implicitEnv, cwd }, 'custom-dotenv'],
    ['static providers in order', { providers: [all.static2, all.static1], env: all.implicitEnv, cwd }, 'static-2'],
    ['implicit env provider after the configured ones', { providers: [{ type: 'env', prefix: 'OTHER' }], env: all.implicitEnv, cwd }, 'implicit-env'],
    ['implicit .env fallback', { env: {}, cwd }, 'dotenv'],
    ['default last', { env: {}, cwd: dir(t) }, 'default'],
  ];
  for (const [label, sources, expected] of cases) {
    const vars = await resolveVariables(app({ level: opt('default') }), sources);
    t.equal(vars.app('level'), expected, label);
  }
});

t.test('env providers: {PREFIX}_{NAME}, empty values count, prefix is exact', async (t) => {
  const cwd = dir(t);
  const vars = await resolveVariables(app({ api_token: opt('d'), db_url: opt('d'), v2_key: opt('d') }), {
    providers: [{ type: 'env', prefix: 'MYAPP' }],
    env: { MYAPP_API_TOKEN: 'from-myapp', SPIN_VARIABLE_DB_URL: '', myapp_v2_key: 'lowercase key is another variable', MYAPP_V2_KEY: undefined },
    cwd,
  });
  t.equal(vars.app('api_token'), 'from-myapp', 'MYAPP_API_TOKEN');
  t.equal(vars.app('db_url'), '', 'an empty SPIN_VARIABLE_DB_URL is a value, not a fall-through to the default');
  t.equal(vars.app('v2_key'), 'd', 'an undefined entry is absent; names are upper-cased, the env lookup is case-sensitive');
});

t.test('dotenv files: default <cwd>/.env, configured paths, missing files', async (t) => {
  const cwd = dir(t, {
    '.env': 'SPIN_VARIABLE_A=from-dot-env\nCFG_B=not-for-the-implicit-provider\n',
    conf: { 'app.env': 'CFG_B=from-configured-dotenv\n' },
  });
  const vars = await resolveVariables(app({ a: opt('d'), b: opt('d'), c: opt('d') }), {
    providers: [{ type: 'env', prefix: 'CFG', dotenvPath: 'conf/app.env' }, { type: 'env', prefix: 'GONE', dotenvPath: 'missing.env' }],
    env: {},
    cwd,
  });
  t.equal(vars.app('a'), 'from-dot-env');
  t.equal(vars.app('b'), 'from-configured-dotenv', 'dotenvPath is relative to cwd');
  t.equal(vars.app('c'), 'd', 'a missing configured dotenv file is not an error');

  const noDotenv = await resolveVariables(app({ b: opt('d') }), { providers: [{ type: 'env', prefix: 'CFG' }], env: {}, cwd });
  t.equal(noDotenv.app('b'), 'd', 'a configured env provider without dotenvPath reads no dotenv file');

  const envWins = await resolveVariables(app({ a: opt('d') }), { env: { SPIN_VARIABLE_A: 'from-env' }, cwd });
  t.equal(envWins.app('a'), 'from-env', 'the environment wins over the .env file');

  const absolute = dir(t, { 'x.env': 'ABS_A=absolute\n' });
  const abs = await resolveVariables(app({ a: opt('d') }), {
    providers: [{ type: 'env', prefix: 'ABS', dotenvPath: path.join(absolute, 'x.env') }],
    env: {},
    cwd: dir(t),
  });
  t.equal(abs.app('a'), 'absolute', 'an absolute dotenvPath is used as is');

});

t.test('a malformed .env file is reported only when needed, by file and line', async (t) => {
  const cwd = dir(t, { '.env': 'SPIN_VARIABLE_A=ok\nthis line is wrong\n' });
  const lazy = await resolveVariables(app({ a: opt('d') }), { env: { SPIN_VARIABLE_A: 'x' }, cwd });
  t.equal(lazy.app('a'), 'x', 'the environment had the key: the .env file was never parsed');
  const msg = await failure(t, { a: opt('d') }, { env: {}, cwd });
  t.match(msg, path.join(cwd, '.env'));
  t.match(msg, /line 2: expected KEY=VALUE/);
});

t.test('parseDotenv: comments, export, quotes, escapes', async (t) => {
  const text = [
    '# a comment',
    '',
    'PLAIN=value',
    '  SPACED  =  padded value  ',
    'export EXPORTED=yes',
    'export\tTABBED=tab',
    'INLINE=value # trailing comment',
    'HASH=#fff',
    'EMPTY=',
    'EMPTY_COMMENT= # nothing',
    "SINGLE='literal \\n $HOME # not a comment'",
    'DOUBLE="line1\\nline2\\t\\"q\\" \\\\ \\$x"  # comment after quotes',
    'MULTI="first',
    'second"',
    'EQ=a=b=c',
    'DUP=first',
    'DUP=second',
    'CRLF=windows\r',
    'exported=export is only a prefix when followed by a space',
    'LAST=no newline at end',
  ].join('\n');
  const parsed = parseDotenv(text, '/x/.env');
  t.same(Object.fromEntries(parsed), {
    PLAIN: 'value',
    SPACED: 'padded value',
    EXPORTED: 'yes',
    TABBED: 'tab',
    INLINE: 'value',
    HASH: '#fff',
    EMPTY: '',
    EMPTY_COMMENT: '',
    SINGLE: 'literal \\n $HOME # not a comment',
    DOUBLE: 'line1\nline2\t"q" \\ $x',
    MULTI: 'first\nsecond',
    EQ: 'a=b=c',
    DUP: 'second',
    CRLF: 'windows',
    exported: 'export is only a prefix when followed by a space',
    LAST: 'no newline at end',
  });

  for (const [bad, line, why] of [
    ['A=1\n=novalue\n', 2, /expected KEY=VALUE/],
    ['A=1\ns3cret\n', 2, /expected KEY=VALUE \(no "=" after the name\)/],
    ['A=1\n\nB="unterminated s3cret\nC=3\n', 3, /unterminated double-quoted value for B/],
    ["B='unterminated", 1, /unterminated single-quoted value for B/],
    ['B="ok" trailing-s3cret\n', 1, /unexpected characters after the value/],
  ] as const) {
    t.throws(() => parseDotenv(bad, '/x/.env'), VariablesError, JSON.stringify(bad));
    try {
      parseDotenv(bad, '/x/.env');
    } catch (err) {
      const msg = (err as Error).message;
      t.match(msg, `/x/.env, line ${line}:`, `${JSON.stringify(bad)} names the line`);
      t.match(msg, why);
      t.notMatch(msg, /s3cret/, 'no value in the message');
    }
  }
});

t.test('--variable name=value and name=@file', async (t) => {
  const cwd = dir(t, { 'token.txt': '  s3cret with spaces\n\n', nested: { 'cert.pem': 'line1\nline2\n' } });
  const vars = await resolveVariables(app({ a: opt('d'), token: opt('d'), cert: opt('d'), url: opt('d'), empty: opt('d') }), {
    cliValues: ['a=first', 'token=@token.txt', 'cert=@nested/cert.pem', 'url=https://x/?q=1&r=2', 'a=second', 'empty='],
    env: {},
    cwd,
  });
  t.equal(vars.app('a'), 'second', 'a later --variable wins');
  t.equal(vars.app('token'), '  s3cret with spaces\n\n', 'file contents exactly, not trimmed');
  t.equal(vars.app('cert'), 'line1\nline2\n', 'relative to cwd');
  t.equal(vars.app('url'), 'https://x/?q=1&r=2', 'only the first "=" splits');
  t.equal(vars.app('empty'), '', 'an empty value is a value');

  const abs = await resolveVariables(app({ token: opt('d') }), { cliValues: [`token=@${path.join(cwd, 'token.txt')}`], env: {}, cwd: dir(t) });
  t.equal(abs.app('token'), '  s3cret with spaces\n\n', 'an absolute @file path');
});

t.test('--variable @file.json and @file.toml', async (t) => {
  const cwd = dir(t, {
    'vars.json': JSON.stringify({ a: 'from-json', b: 'json-b' }),
    'vars.toml': 'b = "from-toml"\nc = """\nmulti\nline"""\n',
    'upper.JSON': '{"a":"upper-ext"}',
  });
  const vars = await resolveVariables(app({ a: opt('d'), b: opt('d'), c: opt('d'), d: opt('default-d') }), {
    cliValues: ['@vars.json', '@vars.toml'],
    env: { SPIN_VARIABLE_D: 'env-d' },
    cwd,
  });
  t.equal(vars.app('a'), 'from-json');
  t.equal(vars.app('b'), 'from-toml', 'the later file wins');
  t.equal(vars.app('c'), 'multi\nline');
  t.equal(vars.app('d'), 'env-d', 'names not in the files fall through to the other providers');

  const mixed = await resolveVariables(app({ a: opt('d'), b: opt('d') }), { cliValues: ['@vars.json', 'a=explicit', '@upper.JSON'], env: {}, cwd });
  t.equal(mixed.app('a'), 'upper-ext', 'files and name=value are applied in order; the extension is case-insensitive');
});

t.test('bad --variable arguments fail with a clear error that echoes no value', async (t) => {
  const cwd = dir(t, {
    'vars.yaml': 'a: s3cret',
    'array.json': '["s3cret"]',
    'number.json': '{"a": 42}',
    'nested.toml': '[a]\nx = "s3cret"\n',
    'broken.json': '{"a": "s3cret"',
    'broken.toml': 'a = "s3cret\n',
    'null.json': 'null',
  });
  const decls = { a: opt('d') };
  const cases: [string, RegExp][] = [
    ['a:s3cret', /--variable #2: expected "name=value", "name=@file", "@file.json" or "@file.toml"/],
    ['s3cret', /--variable #2: expected "name=value"/],
    ['=s3cret', /the name before "=" is empty/],
    ['@', /"@" needs a file name/],
    ['@vars.yaml', /must end in .json or .toml; to read one variable from a file use name=@vars.yaml/],
    ['@array.json', /expected an object of variable names to string values/],
    ['@null.json', /expected an object/],
    ['@number.json', /the value of "a" must be a string, got number/],
    ['@nested.toml', /the value of "a" must be a string, got object/],
    ['@broken.json', /@broken.json\): not valid JSON/],
    ['@broken.toml', /@broken.toml\): not valid TOML \(line 1\)/],
    ['@missing.json', /cannot read .*missing\.json: ENOENT/],
    ['a=@missing.txt', /--variable a=@missing.txt: cannot read .*missing\.txt: ENOENT/],
  ];
  for (const [arg, expected] of cases) {
    const msg = await failure(t, decls, { cliValues: ['a=fine', arg], env: {}, cwd });
    t.match(msg, expected, arg);
    t.notMatch(msg, /s3cret/, `${arg}: no value in the message`);
  }
});

t.test('a --variable for an undeclared variable names it and the declared ones', async (t) => {
  const cwd = dir(t, { 'vars.json': '{"api_token":"x","typo_name":"s3cret"}' });
  const decls = { api_token: opt('d'), db_url: opt('d') };
  let msg = await failure(t, decls, { cliValues: ['api_tokn=s3cret'], env: {}, cwd });
  t.match(msg, '--variable #1 sets "api_tokn", which is not declared in [variables]');
  t.match(msg, 'Declared variables: api_token, db_url.');
  t.notMatch(msg, /s3cret/);

  msg = await failure(t, decls, { cliValues: ['API_TOKEN=s3cret'], env: {}, cwd });
  t.match(msg, /"API_TOKEN".*lower_snake_case: invalid character "A"/, 'a hint about the name rule');

  msg = await failure(t, decls, { cliValues: ['@vars.json'], env: {}, cwd });
  t.match(msg, '--variable #1 (@vars.json) sets "typo_name"');
  t.notMatch(msg, /s3cret/);

  msg = await failure(t, {}, { cliValues: ['a=1'], env: {}, cwd });
  t.match(msg, 'The app declares no variables.');
});

t.test('missing required variables: one error listing each, with how to set it, and no values', async (t) => {
  const decls = { api_token: req(true), db_url: req(), region: opt('eu'), password: req(true) };
  const msg = await failure(t, decls, { env: { SPIN_VARIABLE_PASSWORD: 'hunter2-s3cret' }, cwd: dir(t) });
  t.match(msg, 'App "shop": 2 required variables have no value');
  t.match(msg, 'api_token: export SPIN_VARIABLE_API_TOKEN=...  or  --variable api_token=...');
  t.match(msg, 'db_url: export SPIN_VARIABLE_DB_URL=...  or  --variable db_url=...');
  t.notMatch(msg, /password|region/, 'resolved variables are not listed');
  t.notMatch(msg, /hunter2|s3cret|eu\b/, 'no value appears');

  const one = await failure(t, { api_token: req() }, { env: {}, cwd: dir(t) });
  t.match(one, '1 required variable has no value');

  const ok = await resolveVariables(app({ api_token: req() }), { env: { SPIN_VARIABLE_API_TOKEN: 'tok' }, cwd: dir(t) });
  t.equal(ok.app('api_token'), 'tok', 'a required variable set by a provider resolves');
});

t.test('component variables: templates expanded, literals kept, only the component’s own names', async (t) => {
  const vars = await resolveVariables(app({ host: opt('api.example.com'), version: opt('v1'), token: req(true) }), {
    env: { SPIN_VARIABLE_TOKEN: 'tok' },
    cwd: dir(t),
  });
  const c = vars.forComponent(
    component('products', {
      base_url: 'https://{{ host }}/{{version}}/',
      token: '{{   token   }}',
      literal: 'just text, no {template}',
      empty: '',
      adjacent: '{{host}}{{version}}',
    }),
  );
  t.same(c.names, ['base_url', 'token', 'literal', 'empty', 'adjacent']);
  t.same(c.get('base_url'), { ok: true, value: 'https://api.example.com/v1/' });
  t.same(c.get('token'), { ok: true, value: 'tok' }, 'whitespace inside {{ }} is trimmed');
  t.same(c.get('literal'), { ok: true, value: 'just text, no {template}' });
  t.same(c.get('empty'), { ok: true, value: '' });
  t.same(c.get('adjacent'), { ok: true, value: 'api.example.comv1' });
  t.same(c.get('host'), { ok: false, error: { tag: 'undefined', val: 'no variable for "products"."host"' } }, 'app variables are not visible by their own name');

  const other = vars.forComponent(component('other', {}));
  t.same(other.names, []);
  t.same(other.get('base_url'), { ok: false, error: { tag: 'undefined', val: 'no variable for "other"."base_url"' } }, 'another component’s names are not visible');
});

t.test('variables.get: invalid-name vs undefined, by Spin’s key rule', async (t) => {
  const vars = await resolveVariables(app({ x: opt('1') }), { env: {}, cwd: dir(t) });
  const c = vars.forComponent(component('c', { ok_name: '{{ x }}' }));
  t.same(c.get('ok_name'), { ok: true, value: '1' });
  for (const [bad, reason] of [
    ['', /must not be empty/],
    ['OK_NAME', /invalid character "O"/],
    ['ok-name', /invalid character "-"/],
    ['ok.name', /invalid character "\."/],
    ['1abc', /must start with a lowercase ASCII letter/],
    ['_ok', /must start with a lowercase ASCII letter/],
    ['ok_', /must end with a lowercase ASCII letter or digit/],
    ['ok__name', /multiple consecutive underscores/],
  ] as const) {
    const r = c.get(bad);
    t.equal(r.ok, false, `${JSON.stringify(bad)} fails`);
    if (!r.ok) {
      t.equal(r.error.tag, 'invalid-name', `${JSON.stringify(bad)} is invalid-name`);
      t.match(r.error.val, reason);
      t.match(r.error.val, JSON.stringify(bad), 'the message names the key');
    }
  }
  for (const unknown of ['other', 'a_1', 'v2']) {
    t.same(c.get(unknown), { ok: false, error: { tag: 'undefined', val: `no variable for "c"."${unknown}"` } }, `${unknown} is a valid key but undefined`);
  }
});

t.test('expand(): templates for hosts and addresses; unknown names and bad templates are errors', async (t) => {
  const vars = await resolveVariables(app({ redis_host: opt('cache'), port: opt('6379') }), { env: {}, cwd: dir(t) });
  t.equal(vars.expand('redis://{{ redis_host }}:{{ port }}'), 'redis://cache:6379');
  t.equal(vars.expand('https://*.example.com'), 'https://*.example.com', 'a literal is unchanged');
  t.equal(vars.expand('a }} b { c'), 'a }} b { c', 'lone braces are literal');
  t.throws(() => vars.expand('https://{{ redis_hots }}'), { name: 'VariablesError', code: 'SPINET_ERR_VARIABLES', message: /"redis_hots", which is not declared/ });
  t.throws(() => vars.expand('https://{{ redis_host'), { name: 'VariablesError', message: /unmatched "\{\{"/ });
  t.throws(() => vars.forComponent(component('web', { url: '{{ nope }}' })), {
    message: /^Component "web" variable "url": Template "\{\{ nope \}\}" refers to variable "nope"/,
  });

  t.equal(expandTemplate('{{a}}-{{ b }}', (n) => ({ a: 'A', b: 'B' })[n]), 'A-B', 'expandTemplate works with any lookup');
});

t.test('secrets: redacted from text, invisible to JSON.stringify and util.inspect', async (t) => {
  const cwd = dir(t);
  const vars = await resolveVariables(
    app({ token: req(true), short: opt('ab', true), quoted: opt('pa"ss\nword', true), regexy: opt('x.y*z', true), empty_secret: opt('', true), public_one: opt('visible') }),
    { env: { SPIN_VARIABLE_TOKEN: 'tok-abcdef' }, cwd },
  );
  t.equal(vars.secretCount, 4, 'four non-empty secret values');
  t.equal(vars.redact('x.y*z but not xAyyyz'), '[redacted] but not xAyyyz', 'regex characters in a secret are literal');
  t.equal(vars.redact('Authorization: Bearer tok-abcdef; again tok-abcdef'), 'Authorization: Bearer [redacted]; again [redacted]', 'every occurrence');
  t.equal(vars.redact('xx ab yy'), 'xx [redacted] yy');
  t.equal(vars.redact('tok-abcdef'), '[redacted]', 'the longer secret wins over one inside it ("ab")');
  t.equal(vars.redact('visible'), 'visible', 'non-secret values are kept');
  t.equal(vars.redact(JSON.stringify({ msg: 'pa"ss\nword' })), '{"msg":"[redacted]"}', 'the JSON-escaped form is redacted too');
  t.equal(vars.redact('raw pa"ss\nword'), 'raw [redacted]');
  t.equal(vars.redact('nothing here'), 'nothing here', 'an empty secret redacts nothing');

  const c = vars.forComponent(component('api', { auth: 'Bearer {{ token }}', plain: '{{ public_one }}' }));
  t.equal(vars.usesSecret('Bearer {{ token }}'), true);
  t.equal(vars.usesSecret('{{ public_one }}'), false);
  const auth = c.get('auth');
  t.same(auth, { ok: true, value: 'Bearer tok-abcdef' }, 'the guest gets the real value');
  t.equal(vars.redact(`header=${auth.ok ? auth.value : ''}`), 'header=Bearer [redacted]', 'a component value built from a secret is scrubbed');

  for (const [label, shown] of [
    ['JSON.stringify(resolved)', JSON.stringify(vars)],
    ['JSON.stringify({ vars })', JSON.stringify({ vars })],
    ['inspect(resolved)', inspect(vars)],
    ['inspect(resolved, showHidden, depth)', inspect(vars, { showHidden: true, depth: Infinity })],
    ['inspect({ vars })', inspect({ nested: { vars } })],
    ['JSON.stringify(component)', JSON.stringify(c)],
    ['inspect(component)', inspect(c, { showHidden: true, depth: Infinity })],
    ['String(resolved)', String(vars)],
    ['Object.entries', JSON.stringify(Object.entries(vars))],
  ] as const) {
    t.notMatch(shown, /tok-abcdef|pa"ss|pa\\"ss|visible/, `${label} shows no values`);
  }
  t.match(JSON.stringify(vars), /"variables":\["token","short","quoted","regexy","empty_secret","public_one"\]/, 'names are shown');
  t.match(inspect(vars), /ResolvedVariables .*token/);
  t.match(inspect(c), /ComponentVariables .*"api".*auth, plain/);
});
