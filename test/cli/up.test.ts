/**
 * `spinet up` as a user runs it: a real process on a real port. Broken apps fail before listening
 * with a coded message and exit 1; SIGTERM lets an in-flight request finish and exits 0.
 */
import t from 'tap';
import http from 'node:http';
import path from 'node:path';
import { appDir, repoRoot } from '../helpers/gateway.js';
import { freePort } from '../../server/free-port.js';
import { finished, listening, refused, runSpinet as run } from '../helpers/spinet-process.js';

t.test('a broken manifest fails with its code, file and key, exits 1, and never listens', async (t) => {
  const dir = t.testdir({ 'spin.toml': 'spin_manifest_version = 2\n[application]\nname = "x"\nbogus = 1\n[[trigger.http]]\nroute = "/"\ncomponent = "missing"\n' });
  const port = await freePort();
  const r = await finished(run(['up', dir, '--listen', `127.0.0.1:${port}`]));
  t.equal(r.code, 1);
  t.match(r.stderr, /^spinet: SPINET_ERR_MANIFEST_INVALID: /);
  t.match(r.stderr, /spin\.toml/);
  t.match(r.stderr, /bogus|missing/);
  t.ok(await refused(port), 'nothing is listening on the port');
});

t.test('a missing app directory names the path', async (t) => {
  const r = await finished(run(['up', path.join(repoRoot, 'no-such-app')]));
  t.equal(r.code, 1);
  t.match(r.stderr, /SPINET_ERR_MANIFEST_NOT_FOUND/);
  t.match(r.stderr, /no-such-app/);
});

t.test('a bad listen address is a config error', async (t) => {
  const r = await finished(run(['up', appDir('fixtures', 'rust-hello'), '--listen', 'localhost']));
  t.equal(r.code, 1);
  t.match(r.stderr, /SPINET_ERR_CONFIG_INVALID: --listen: "localhost" is not a listen address/);
});

t.test('an unknown command says how to get help', async (t) => {
  const r = await finished(run(['serve-me']));
  t.equal(r.code, 1);
  t.match(r.stderr, /unknown command "serve-me".*spinet help/);
  const help = await finished(run(['help']));
  t.equal(help.code, 0);
  t.match(help.stdout, /spinet up/);
});

t.test('up serves an app directory; SIGTERM lets the in-flight request finish, then exits 0', async (t) => {
  const port = await freePort();
  const child = run(['up', appDir('components', 'echo')], { SPINET_LISTEN: `127.0.0.1:${port}` });
  const done = finished(child);
  const address = await listening(child);
  t.equal(address, `http://127.0.0.1:${port}`, 'SPINET_LISTEN is honoured');

  // A request whose body arrives slowly is in flight when the signal lands.
  const parts = ['first part, ', 'sent after SIGTERM'];
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${address}/body/slow`, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write(parts[0]);
    setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => req.end(parts[1]), 500);
    }, 300);
  });
  const res = await response;
  t.equal(res.status, 200);
  t.equal(res.body, parts.join(''), 'the in-flight request completed with its whole body');
  const r = await done;
  t.equal(r.code, 0, 'exit code 0 after a graceful stop');
  t.match(r.stderr, /SIGTERM received/);
  t.ok(await refused(port), 'the port is closed afterwards');
});

t.test('node flags that workers may not take (heap size, loader hooks) do not break the executor', async (t) => {
  // Regression: passing the parent's flags to workers explicitly made Node reject process-wide ones.
  for (const flags of [['--max-old-space-size=256'], ['--max-old-space-size=256', '--import=data:text/javascript,void 0']]) {
    const port = await freePort();
    const child = run(['up', appDir('fixtures', 'rust-hello'), '--listen', `127.0.0.1:${port}`], {}, flags);
    const done = finished(child);
    const address = await listening(child);
    const res = await fetch(`${address}/`);
    t.equal(res.status, 200, flags.join(' '));
    t.equal(await res.text(), 'Hello, this is your first wasi:http/proxy world!\n', flags.join(' '));
    child.kill('SIGTERM');
    t.equal((await done).code, 0);
  }
});
