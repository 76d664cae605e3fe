/**
 * Spin's identifier rules: which component ids, variable names, store labels and environment names pass.
 */
import t from 'tap';
import { envNameProblem, kebabIdProblem, storeLabelProblem, variableNameProblem } from '../../server/manifest/spin-ids.js';
import { scanTemplate } from '../../server/manifest/variable-templates.js';

t.test('component ids are kebab-case words, each all-lower or all-UPPER', async (t) => {
  for (const ok of ['hello', 'hello-world', 'api2', 'HTTP-handler', 'a-b-c']) t.equal(kebabIdProblem(ok), undefined, `${ok} is valid`);
  for (const [bad, reason] of [
    ['', /empty/],
    ['hello_world', /separated with "-", not "_"/],
    ['2fast', /start with an ASCII letter/],
    ['hello--world', /must not be empty/],
    ['hello-', /must not be empty/],
    ['helloWorld', /all lowercase or all UPPERCASE/],
    ['héllo', /alphanumeric ASCII/],
    ['hello.world', /alphanumeric ASCII/],
  ] as const) {
    t.match(kebabIdProblem(bad), reason, `${JSON.stringify(bad)} is rejected`);
  }
});

t.test('variable names are lower_snake words', async (t) => {
  for (const ok of ['token', 'api_token', 'v2_key']) t.equal(variableNameProblem(ok), undefined, `${ok} is valid`);
  for (const [bad, reason] of [
    ['api-token', /separated with "_", not "-"/],
    ['API_TOKEN', /all lowercase/],
    ['api__token', /must not be empty/],
    ['api_2', /start with an ASCII letter/],
    ['_token', /must not be empty/],
  ] as const) {
    t.match(variableNameProblem(bad), reason, `${bad} is rejected`);
  }
});

t.test('store labels may be kebab-case or snake_case', async (t) => {
  for (const ok of ['default', 'user-sessions', 'user_sessions']) t.equal(storeLabelProblem(ok), undefined, `${ok} is valid`);
  for (const bad of ['user sessions', 'user-sessions_v2', '1st']) t.type(storeLabelProblem(bad), 'string', `${bad} is rejected`);
});

t.test('environment names are portable POSIX names', async (t) => {
  for (const ok of ['LOG_LEVEL', '_private', 'path2']) t.equal(envNameProblem(ok), undefined, `${ok} is valid`);
  for (const bad of ['', 'LOG-LEVEL', '2FAST', 'A=B']) t.type(envNameProblem(bad), 'string', `${JSON.stringify(bad)} is rejected`);
});

t.test('templates list the variables they reference and reject unmatched braces', async (t) => {
  t.same(scanTemplate('https://{{ host }}:{{port}}/x'), { ok: true, variables: ['host', 'port'] });
  t.same(scanTemplate('plain'), { ok: true, variables: [] });
  t.match(scanTemplate('{{ a }} {{ b'), { ok: false, problem: /unmatched "\{\{"/ });
});
