/**
 * `spinet doctor` checks the machine and the app in front of it, says what to do about each problem
 * and exits 1 when something required is missing. Uses the Redis at 127.0.0.1:6379 (as CI has it)
 * and a port nothing listens on.
 */
import t from 'tap';
import { freePort } from '../../server/free-port.js';
import { runSpinet } from '../helpers/spinet-cli.js';

function redisApp(address: string, command = 'spinet componentize src/index.ts -o dist/worker.wasm'): string {
  return `spin_manifest_version = 2
[application]
name = "doc"
[variables]
redis_address = { default = "${address}" }
[[trigger.redis]]
address = "{{ redis_address }}"
channel = "jobs"
component = "worker"
[component.worker]
source = "dist/worker.wasm"
[component.worker.build]
command = "${command}"
`;
}

t.test('on a machine with what spinet needs, doctor passes and exits 0', async (t) => {
  const r = await runSpinet(['doctor'], t.testdir());
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, /^ok {4}Node\.js v\d+/m);
  t.match(r.stdout, /^ok {4}build tools: esbuild [\d.]+, componentize-js [\d.]+/m);
  t.match(r.stdout, /no spin\.toml here: checked the machine only/);
  t.match(r.stdout, /all required checks passed/);
});

t.test('an app whose Redis answers and whose entry exists passes; its unbuilt component is a warning', async (t) => {
  const dir = t.testdir({ 'spin.toml': redisApp('redis://127.0.0.1:6379'), src: { 'index.ts': 'export const inboundRedis = {};\n' } });
  const r = await runSpinet(['doctor'], dir);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, /^ok {4}Redis at redis:\/\/127\.0\.0\.1:6379 answers \(the Redis trigger on channel "jobs"\)/m);
  t.match(r.stdout, /^warn  not built yet: worker \(dist\/worker\.wasm\)\. Run "spinet build"/m);
});

t.test('a Redis that does not answer, a missing entry and a missing build tool each fail with what to do', async (t) => {
  const port = await freePort();
  const dir = t.testdir({ 'spin.toml': redisApp(`redis://127.0.0.1:${port}`) });
  const r = await runSpinet(['doctor'], dir);
  t.equal(r.code, 1);
  t.match(r.stdout, new RegExp(`^FAIL  Redis at redis://127\\.0\\.0\\.1:${port} does not answer \\(.*ECONNREFUSED.*\\); needed by the Redis trigger on channel "jobs"\\. Start one`, 'm'));
  t.match(r.stdout, /^FAIL  component "worker": its entry src\/index\.ts does not exist\. Fix the path in spin\.toml/m);
  t.match(r.stderr, /SPINET_ERR_DOCTOR: 2 problems found; each FAIL line above says what to do/);

  // The variable's value from the environment wins over the default, as at `spinet up`.
  const viaEnv = await runSpinet(['doctor', dir], dir, { SPIN_VARIABLE_REDIS_ADDRESS: 'redis://127.0.0.1:6379' });
  t.match(viaEnv.stdout, /^ok {4}Redis at redis:\/\/127\.0\.0\.1:6379 answers/m);

  const tool = t.testdir({ 'spin.toml': redisApp('redis://127.0.0.1:6379', 'no-such-compiler-xyz build') });
  const missing = await runSpinet(['doctor'], tool);
  t.equal(missing.code, 1);
  t.match(missing.stdout, /^FAIL  component "worker": its build command runs "no-such-compiler-xyz", which is not installed \(not on PATH\)\. Install it/m);
});

t.test('a broken manifest is reported with its code, and a named app that does not exist fails', async (t) => {
  const dir = t.testdir({ 'spin.toml': 'spin_manifest_version = 2\n[application]\nname = "x"\nbogus = 1\n' });
  const r = await runSpinet(['doctor'], dir);
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL  SPINET_ERR_MANIFEST_INVALID: spin\.toml:\d+: .*bogus/m);
  const none = await runSpinet(['doctor', 'no-such-app'], dir);
  t.equal(none.code, 1);
  t.match(none.stdout, /FAIL  SPINET_ERR_MANIFEST_NOT_FOUND: no-such-app/);
});
