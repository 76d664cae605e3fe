/**
 * Container image check (`npm run test:container`): builds the repo's Dockerfile with podman, runs the
 * image and checks it end to end. Not a tap test (not named *.test.ts): it needs podman, root and a
 * few minutes, so `npm test` never runs it.
 *
 *   node dist/test/container/image-check.js [--setup | --setup-only] [--tag NAME] [--build-network MODE]
 *
 * Steps: 1 prerequisites, 2 build (timed), 3 run the default image (health, GET /, /metrics, non-root
 * uid, `podman healthcheck run`), 4 graceful stop, 5 run again serving a read-only mounted app
 * directory (and stop it gracefully), 6 always remove the containers it started; then a summary.
 *
 * Exit codes: 0 all checks passed; 1 a check failed; 2 prerequisites missing (nothing was built).
 * See test/container/README.md.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../server/free-port.js';

/** The repository root (this file runs compiled from dist/test/container/). */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BASE_IMAGE = 'docker.io/library/node:20-slim';
/** What components/hello/src/index.ts answers. */
const HELLO_BODY = 'Hello from spinet!\n';
const HEALTH_PATH = '/.well-known/spin/health';
const INSTALL_HINT = [
  'On Debian 12, as root:',
  '  apt-get update && apt-get install -y podman buildah runc debootstrap',
  '  bash test/container/setup.sh    # containers.conf + a local stand-in for node:20-slim (no Docker Hub here)',
  'or all at once (idempotent): npm run test:container -- --setup',
].join('\n');

interface Options {
  readonly setup: boolean;
  readonly setupOnly: boolean;
  readonly tag: string;
  readonly buildNetwork: string | undefined;
  readonly buildTimeoutMs: number;
  readonly startTimeoutMs: number;
}

/** A failed check: what failed, and how to fix or investigate it. */
class CheckFailure extends Error {
  constructor(
    readonly step: string,
    readonly what: string,
    readonly fix: string,
  ) {
    super(`${step}: ${what}`);
  }
}

/** Missing prerequisites: exit 2 with install instructions. */
class MissingPrerequisite extends Error {}

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
  readonly spawnError?: Error;
}

interface RunOptions {
  readonly timeoutMs?: number;
  /** Tee stdout+stderr into this file. */
  readonly logFile?: string;
  /** Called with each complete output line (stdout and stderr). */
  readonly onLine?: (line: string) => void;
  readonly inherit?: boolean;
}

/** Child processes running now, with their exit (interrupting this script interrupts them). */
const activeChildren = new Map<ReturnType<typeof spawn>, Promise<void>>();

/** Runs a command to completion (never throws): exit code, output, duration. */
function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot, stdio: opts.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    activeChildren.set(child, new Promise((closed) => child.once('close', () => closed())));
    const log = opts.logFile ? createWriteStream(opts.logFile) : undefined;
    let stdout = '';
    let stderr = '';
    let partial = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    const feed = (chunk: Buffer, into: 'out' | 'err'): void => {
      const text = chunk.toString('utf8');
      if (into === 'out') stdout += text;
      else stderr += text;
      log?.write(chunk);
      if (opts.onLine) {
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) opts.onLine(line);
      }
    };
    child.stdout?.on('data', (c: Buffer) => feed(c, 'out'));
    child.stderr?.on('data', (c: Buffer) => feed(c, 'err'));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      activeChildren.delete(child);
      if (timer) clearTimeout(timer);
      const done = (): void =>
        resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut, ...(spawnError ? { spawnError } : {}) });
      if (log) log.end(done);
      else done();
    });
  });
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function lastLines(text: string, n: number): string {
  if (text.trim() === '') return '      | (empty)';
  return text.trimEnd().split('\n').slice(-n).map((l) => `      | ${l}`).join('\n');
}

function parseArgs(argv: readonly string[]): Options {
  let setup = false;
  let setupOnly = false;
  let tag = 'spinet-test';
  let buildNetwork: string | undefined;
  let buildTimeoutMs = 30 * 60_000;
  let startTimeoutMs = 60_000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--setup') setup = true;
    else if (a === '--setup-only') setupOnly = setup = true;
    else if (a === '--tag') tag = value();
    else if (a === '--build-network') buildNetwork = value();
    else if (a === '--build-timeout') buildTimeoutMs = Number(value()) * 1000;
    else if (a === '--start-timeout') startTimeoutMs = Number(value()) * 1000;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!(buildTimeoutMs > 0) || !(startTimeoutMs > 0)) usage('timeouts are positive numbers of seconds');
  return { setup, setupOnly, tag, buildNetwork, buildTimeoutMs, startTimeoutMs };
}

function usage(error?: string): never {
  const text = `usage: node dist/test/container/image-check.js [options]   (npm run test:container -- [options])
  --setup              first install podman/runc/debootstrap, containers.conf and the node:20-slim
                       stand-in base image (idempotent; root; runs test/container/setup.sh), then check
  --setup-only         only the setup
  --tag NAME           image tag to build and test (default spinet-test)
  --build-network M    passed to podman build --network (e.g. host) if the default network cannot
                       reach the npm registry
  --build-timeout S    seconds the build may take (default 1800)
  --start-timeout S    seconds a container may take to answer ${HEALTH_PATH} (default 60)`;
  if (error) {
    process.stderr.write(`image-check: ${error}\n${text}\n`);
    process.exit(2);
  }
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

class Report {
  readonly checks: Check[] = [];
  readonly timings: [string, number][] = [];
  readonly notes: string[] = [];
  imageSize: string | undefined;

  pass(name: string, detail = ''): void {
    this.checks.push({ name, ok: true, detail });
    console.log(`  ok   ${name}${detail ? ` (${detail})` : ''}`);
  }

  fail(name: string, detail: string): void {
    this.checks.push({ name, ok: false, detail });
    console.log(`  FAIL ${name}: ${detail}`);
  }

  time(name: string, ms: number): void {
    this.timings.push([name, ms]);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`  note ${text}`);
  }
}

const report = new Report();
/** Containers this run started (by name): removed at the end whatever happens. */
const started = new Set<string>();
/**
 * While a build runs: the storage containers (buildah's "…-working-container") that existed before
 * it. An interrupted podman build leaves its working containers behind; cleanup removes the new ones.
 */
let buildBaseline: Set<string> | undefined;

async function externalContainers(): Promise<Map<string, string>> {
  const r = await run('podman', ['ps', '-a', '--external', '--no-trunc', '--format', '{{.ID}} {{.Names}}'], { timeoutMs: 60_000 });
  const found = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [id, name] = line.trim().split(' ');
    if (id && name) found.set(id, name);
  }
  return found;
}
const runId = `${process.pid}-${Date.now().toString(36)}`;

function step(title: string): void {
  console.log(`\n== ${title}`);
}

/** Runs `podman ...`; throws CheckFailure when it exits non-zero (unless allowed). */
async function podman(args: readonly string[], stepName: string, fix: string, opts: RunOptions = {}): Promise<RunResult> {
  const r = await run('podman', args, { timeoutMs: 120_000, ...opts });
  if (r.code !== 0) {
    const why = r.spawnError ? r.spawnError.message : r.timedOut ? `timed out after ${secs(r.ms)}` : `exit ${r.code ?? r.signal}`;
    throw new CheckFailure(stepName, `podman ${args.join(' ')} failed (${why})\n${lastLines(r.stderr || r.stdout, 15)}`, fix);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// 1. Prerequisites

async function setup(): Promise<void> {
  step('setup (test/container/setup.sh)');
  const t = performance.now();
  const r = await run('bash', [path.join(repoRoot, 'test', 'container', 'setup.sh')], { inherit: true, timeoutMs: 20 * 60_000 });
  report.time('setup', performance.now() - t);
  if (r.code !== 0) {
    throw new CheckFailure('setup', `test/container/setup.sh exited ${r.code ?? r.signal}`, 'read its output above; it must run as root on Debian 12 with the Debian mirror reachable');
  }
}

async function prerequisites(opts: Options): Promise<void> {
  step('1. prerequisites');
  const version = await run('podman', ['--version'], { timeoutMs: 30_000 });
  if (version.spawnError || version.code !== 0) {
    throw new MissingPrerequisite(`podman is not installed (or not on PATH).\n${INSTALL_HINT}`);
  }
  report.pass('podman present', version.stdout.trim());

  const info = await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}'], { timeoutMs: 60_000 });
  if (info.code !== 0) {
    throw new MissingPrerequisite(
      `podman is installed but \`podman info\` fails:\n${lastLines(info.stderr, 10)}\n` +
        `Likely no OCI runtime or a systemd cgroup manager without systemd. Fix: bash test/container/setup.sh ` +
        `(installs runc, writes /etc/containers/containers.conf with cgroupfs + runc).`,
    );
  }
  report.pass('podman info works', `runtime, cgroups, storage: ${info.stdout.trim()}`);

  const base = await run('podman', ['image', 'exists', BASE_IMAGE], { timeoutMs: 30_000 });
  if (base.code !== 0) {
    throw new MissingPrerequisite(
      `the base image ${BASE_IMAGE} is not in local storage, and this network cannot pull it from Docker Hub.\n` +
        `Make the local stand-in: bash test/container/setup.sh   (or: npm run test:container -- --setup)`,
    );
  }
  const label = await run('podman', ['image', 'inspect', BASE_IMAGE, '--format', '{{index .Labels "io.spinet.base-standin"}}'], { timeoutMs: 30_000 });
  report.pass('base image present', label.stdout.trim() === 'true' ? `${BASE_IMAGE}: local stand-in from setup.sh` : BASE_IMAGE);
  if (!existsSync(path.join(repoRoot, 'Dockerfile'))) throw new CheckFailure('prerequisites', `no Dockerfile in ${repoRoot}`, 'run from a checkout of the repo');
  if (opts.buildNetwork) report.note(`build network: ${opts.buildNetwork}`);
}

// ---------------------------------------------------------------------------------------------
// 2. Build

async function build(opts: Options): Promise<void> {
  step(`2. build: podman build --format docker --pull=never -t ${opts.tag} .`);
  const logDir = path.join(repoRoot, '.spinet', 'container-check');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, 'build.log');
  const args = ['build', '--format', 'docker', '--pull=never', '-t', opts.tag];
  if (opts.buildNetwork) args.push('--network', opts.buildNetwork);
  args.push('.');
  let stepStart = performance.now();
  let lastStep = '';
  buildBaseline = new Set((await externalContainers()).keys());
  const previous = (await run('podman', ['image', 'inspect', opts.tag, '--format', '{{.Id}}'], { timeoutMs: 30_000 })).stdout.trim();
  const r = await run('podman', args, {
    timeoutMs: opts.buildTimeoutMs,
    logFile,
    onLine: (line) => {
      const m = /^\[(\d+\/\d+)\] STEP (\d+\/\d+): (.*)$/.exec(line) ?? /^STEP (\d+\/\d+): (.*)$/.exec(line);
      if (!m) return;
      const now = performance.now();
      if (lastStep && now - stepStart > 5000) console.log(`       (took ${secs(now - stepStart)})`);
      stepStart = now;
      lastStep = line;
      console.log(`  ${line.length > 110 ? `${line.slice(0, 107)}...` : line}`);
    },
  });
  report.time('build', r.ms);
  if (r.code !== 0) {
    const output = r.stdout + r.stderr;
    const networkish = /EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|network|getaddrinfo|self.signed|certificate/i.test(output);
    throw new CheckFailure(
      'build',
      `podman build ${r.timedOut ? `timed out after ${secs(r.ms)}` : `exited ${r.code ?? r.signal}`} after ${secs(r.ms)}; last lines (full log: ${path.relative(repoRoot, logFile)}):\n${lastLines(output, 25)}`,
      networkish
        ? 'npm inside the build could not reach the registry: try --build-network host; check that the base image has the CA bundle (setup.sh --force-base rebuilds it)'
        : `read ${path.relative(repoRoot, logFile)}; the failing Dockerfile step is the last "STEP" line above`,
    );
  }
  buildBaseline = undefined;
  report.pass('image built', `${opts.tag} in ${secs(r.ms)}`);

  // The image the tag named before this build is now untagged: remove it (it fails, harmlessly, while
  // a container still uses it). Older build-stage layers stay as the build cache (see the README).
  const current = (await run('podman', ['image', 'inspect', opts.tag, '--format', '{{.Id}}'], { timeoutMs: 30_000 })).stdout.trim();
  if (previous && current && previous !== current) {
    const rmi = await run('podman', ['rmi', previous], { timeoutMs: 60_000 });
    if (rmi.code === 0) console.log(`  removed the previous ${opts.tag} image ${previous.slice(0, 12)}`);
  }

  const inspect = await podman(
    ['image', 'inspect', opts.tag, '--format', '{{.Size}}|{{.Config.User}}|{{json .Config.Healthcheck}}'],
    'build',
    'the image was not stored; rerun the build',
  );
  const [size, user, healthcheck] = inspect.stdout.trim().split('|');
  report.imageSize = `${(Number(size) / 1e6).toFixed(0)} MB`;
  report.pass('image metadata', `size ${report.imageSize}, USER ${user || '(none)'}`);
  if (!healthcheck || healthcheck === 'null') {
    throw new CheckFailure('build', 'the image has no HEALTHCHECK', 'keep the HEALTHCHECK in the Dockerfile and build with --format docker (OCI images drop it)');
  }
}

// ---------------------------------------------------------------------------------------------
// 3–5. Run, probe, stop

async function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

async function containerLogs(name: string): Promise<string> {
  const r = await run('podman', ['logs', name], { timeoutMs: 30_000 });
  return r.stdout + r.stderr;
}

async function containerState(name: string): Promise<{ status: string; exitCode: number }> {
  const r = await run('podman', ['inspect', name, '--format', '{{.State.Status}} {{.State.ExitCode}}'], { timeoutMs: 30_000 });
  const [status = 'unknown', exitCode = 'NaN'] = r.stdout.trim().split(' ');
  return { status, exitCode: Number(exitCode) };
}

/** Starts a container detached on a free 127.0.0.1 port; returns the port. */
async function startContainer(stepName: string, name: string, tag: string, extraRunArgs: readonly string[], command: readonly string[]): Promise<number> {
  const port = await freePort();
  started.add(name);
  const t = performance.now();
  await podman(
    ['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:3000`, ...extraRunArgs, tag, ...command],
    stepName,
    'podman could not start the container: see the error above (port publishing needs netavark/iptables from the podman package)',
  );
  report.time(`${name.replace(/^.*-/, '')}: podman run`, performance.now() - t);
  return port;
}

/** Polls the health endpoint on the published port until 200, the deadline, or the container exiting. */
async function waitHealthy(stepName: string, name: string, port: number, timeoutMs: number): Promise<void> {
  const t = performance.now();
  const deadline = t + timeoutMs;
  let last = 'no answer yet';
  let attempts = 0;
  while (performance.now() < deadline) {
    attempts++;
    try {
      const r = await httpGet(`http://127.0.0.1:${port}${HEALTH_PATH}`, 2000);
      if (r.status === 200) {
        const ms = performance.now() - t;
        report.time(`${name.replace(/^.*-/, '')}: ready`, ms);
        report.pass(`${HEALTH_PATH} answers 200`, `after ${secs(ms)}, ${attempts} polls`);
        return;
      }
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    }
    const state = await containerState(name);
    if (state.status !== 'running' && state.status !== 'created' && state.status !== 'configured') {
      throw new CheckFailure(stepName, `the container ${state.status} (exit code ${state.exitCode}) before answering ${HEALTH_PATH}; logs:\n${lastLines(await containerLogs(name), 20)}`, 'the gateway failed to start: fix the error in the logs');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CheckFailure(
    stepName,
    `${HEALTH_PATH} on 127.0.0.1:${port} did not answer 200 within ${secs(timeoutMs)} (last: ${last}); logs:\n${lastLines(await containerLogs(name), 20)}`,
    'check that the gateway listens on 0.0.0.0:3000 inside the container (SPINET_LISTEN) and that podman publishes ports (-p); a slow machine may need --start-timeout',
  );
}

async function expectHello(stepName: string, port: number, what: string): Promise<void> {
  const r = await httpGet(`http://127.0.0.1:${port}/`);
  if (r.status !== 200 || r.body !== HELLO_BODY) {
    throw new CheckFailure(stepName, `GET / ${what} answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, expected 200 ${JSON.stringify(HELLO_BODY)}`, 'the served app is not components/hello (src/index.ts): check the image CMD and the copied components/');
  }
  report.pass(`GET / ${what}`, JSON.stringify(r.body));
}

/** `podman stop -t 10`: must exit 0 (SIGTERM handled) well before the 10 s SIGKILL. */
async function gracefulStop(stepName: string, name: string): Promise<void> {
  const r = await podman(['stop', '-t', '10', name], stepName, 'podman stop failed: see the error');
  const label = `${name.replace(/^.*-/, '')}: podman stop`;
  report.time(label, r.ms);
  const state = await containerState(name);
  const logs = await containerLogs(name);
  if (state.exitCode !== 0) {
    throw new CheckFailure(
      stepName,
      `after podman stop -t 10 the container exited ${state.exitCode} in ${secs(r.ms)} (${state.exitCode === 137 ? 'SIGKILL: SIGTERM was ignored' : 'not a clean exit'}); logs:\n${lastLines(logs, 10)}`,
      'PID 1 must handle SIGTERM (server/main.ts does) and drain within SPINET_SHUTDOWN_GRACE_MS; without a handler use tini or podman run --init',
    );
  }
  if (r.ms > 8000) {
    throw new CheckFailure(stepName, `the container exited 0 but podman stop took ${secs(r.ms)} (the SIGKILL deadline is 10 s)`, 'shutdown is too slow: look for in-flight work or open handles that delay stop()');
  }
  const drained = logs.includes('SIGTERM received');
  report.pass('graceful stop', `exit 0 in ${secs(r.ms)}${drained ? ', "SIGTERM received" logged' : ''}`);
}

async function defaultContainer(opts: Options): Promise<void> {
  const stepName = '3. run the image';
  step(`${stepName} (default command: up components/hello)`);
  const name = `spinet-check-${runId}-default`;
  const port = await startContainer(stepName, name, opts.tag, [], []);
  console.log(`  container ${name} on 127.0.0.1:${port}`);
  await waitHealthy(stepName, name, port, opts.startTimeoutMs);
  await expectHello(stepName, port, 'serves the hello app');

  const metrics = await httpGet(`http://127.0.0.1:${port}/metrics`);
  if (metrics.status !== 200 || !metrics.body.includes('spinet_http_requests_total')) {
    throw new CheckFailure(stepName, `GET /metrics answered ${metrics.status} without spinet_http_requests_total`, 'the metrics route (server/plugins/metrics.ts) is missing or SPINET_METRICS_LISTEN moved it');
  }
  report.pass('GET /metrics has spinet_http_requests_total');

  const uid = await podman(['exec', name, 'id', '-u'], stepName, 'podman exec failed: is the container still running?');
  if (uid.stdout.trim() === '0' || uid.stdout.trim() === '') {
    throw new CheckFailure(stepName, `the gateway runs as uid ${uid.stdout.trim() || '(unknown)'}`, 'keep `USER node` in the Dockerfile runtime stage');
  }
  report.pass('runs as non-root', `uid ${uid.stdout.trim()}`);

  const hc = await run('podman', ['healthcheck', 'run', name], { timeoutMs: 60_000 });
  const hcOut = (hc.stdout + hc.stderr).trim();
  if (hc.code === 0) {
    const status = await run('podman', ['inspect', name, '--format', '{{.State.Health.Status}}'], { timeoutMs: 30_000 });
    report.pass('podman healthcheck run', `healthy; State.Health.Status=${status.stdout.trim() || '?'}`);
  } else if (/unknown command|unrecognized command|not supported/i.test(hcOut)) {
    report.note(`podman healthcheck run is not supported by this podman (${hcOut.split('\n')[0]}); the HEALTHCHECK was checked over HTTP only`);
  } else {
    throw new CheckFailure(
      stepName,
      `podman healthcheck run exited ${hc.code} (${hcOut.split('\n').slice(-1)[0] || 'unhealthy'}) although ${HEALTH_PATH} answered 200 on the host`,
      /no defined healthcheck/i.test(hcOut)
        ? 'the image lost its HEALTHCHECK: build with --format docker'
        : 'the Dockerfile HEALTHCHECK command fails inside the container: run it by hand with podman exec',
    );
  }

  step('4. stop it: podman stop -t 10 (graceful SIGTERM)');
  await gracefulStop('4. stop', name);
}

async function mountedAppContainer(opts: Options): Promise<void> {
  const stepName = '5. run with a mounted app';
  step(`${stepName} (components/hello read-only at /app/apps/mine, command: up apps/mine)`);
  const appDir = path.join(repoRoot, 'components', 'hello');
  const wasm = path.join(appDir, 'dist', 'hello.wasm');
  if (!existsSync(wasm)) {
    console.log('  components/hello/dist/hello.wasm is missing: building it (npm run build && node dist/server/build/build-components.js hello)');
    const b1 = await run('npm', ['run', 'build'], { timeoutMs: 10 * 60_000 });
    const b2 = b1.code === 0 ? await run('node', ['dist/server/build/build-components.js', 'hello'], { timeoutMs: 10 * 60_000 }) : b1;
    if (b2.code !== 0 || !existsSync(wasm)) {
      throw new CheckFailure(stepName, `could not build components/hello:\n${lastLines(b2.stdout + b2.stderr, 15)}`, 'run npm install, then npm run build && node dist/server/build/build-components.js hello');
    }
  }
  const digest = createHash('sha256').update(readFileSync(wasm)).digest('hex');
  const name = `spinet-check-${runId}-mounted`;
  const port = await startContainer(stepName, name, opts.tag, ['-v', `${appDir}:/app/apps/mine:ro`], ['up', 'apps/mine']);
  console.log(`  container ${name} on 127.0.0.1:${port}`);
  await waitHealthy(stepName, name, port, opts.startTimeoutMs);
  await expectHello(stepName, port, 'serves the mounted app');

  // The image has its own hello.wasm (built in the image, different bytes): the digest in the
  // "component ready" log line shows which one was loaded.
  const logs = await containerLogs(name);
  const digests = [...logs.matchAll(/"digest":"([0-9a-f]+)"/g)].map((m) => m[1]!);
  if (digests.length === 0) {
    report.note('no "component ready" log line with a digest: could not confirm that the mounted hello.wasm (not the image\'s) was loaded');
  } else if (!digests.some((d) => digest.startsWith(d))) {
    throw new CheckFailure(stepName, `the loaded component's digest (${digests.join(', ')}) is not the mounted components/hello/dist/hello.wasm's (${digest.slice(0, 12)})`, 'the container did not serve the mounted directory: check the -v mount and the `up apps/mine` command');
  } else {
    report.pass('the mounted hello.wasm was loaded', `sha256 ${digest.slice(0, 12)}`);
  }
  await gracefulStop(stepName, name);
}

// ---------------------------------------------------------------------------------------------
// 6. Cleanup and summary

let cleaning: Promise<void> | undefined;

/** Removes what this run left (single flight: the signal handler and main() may both call it). */
function cleanup(): Promise<void> {
  cleaning ??= removeLeftovers().finally(() => {
    cleaning = undefined;
  });
  return cleaning;
}

async function removeLeftovers(): Promise<void> {
  if (buildBaseline) {
    const baseline = buildBaseline;
    buildBaseline = undefined;
    for (const [id, name] of await externalContainers()) {
      if (baseline.has(id) || !name.endsWith('working-container')) continue;
      const r = await run('podman', ['rm', '-f', id], { timeoutMs: 60_000 });
      console.log(r.code === 0 ? `  removed build container ${name}` : `  could not remove build container ${name} (podman rm -f ${id})`);
    }
  }
  for (const name of started) {
    const r = await run('podman', ['rm', '-f', '-t', '0', name], { timeoutMs: 60_000 });
    if (r.code === 0 || /no such container/i.test(r.stderr)) started.delete(name);
    else console.log(`  could not remove container ${name}: ${r.stderr.trim().split('\n').slice(-1)[0]} (remove it with: podman rm -f ${name})`);
  }
}

function summary(total: number, failure: Error | undefined): void {
  step('summary');
  for (const [name, ms] of report.timings) console.log(`  ${name.padEnd(28)} ${secs(ms)}`);
  console.log(`  ${'total'.padEnd(28)} ${secs(total)}`);
  if (report.imageSize) console.log(`  image size                   ${report.imageSize}`);
  for (const n of report.notes) console.log(`  note: ${n}`);
  if (failure instanceof CheckFailure) {
    console.log(`\nFAILED at ${failure.step}:\n  ${failure.what}\n  fix: ${failure.fix}`);
  } else if (failure) {
    console.log(`\nFAILED unexpectedly: ${failure.stack ?? failure.message}`);
  }
  const passed = report.checks.filter((c) => c.ok).length;
  const failed = report.checks.length - passed;
  console.log(`image-check: ${passed} passed, ${failed} failed`);
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  let failure: Error | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    console.log(`\nimage-check: ${signal}, stopping ${activeChildren.size} running command(s) and removing containers`);
    const running = [...activeChildren.values()];
    for (const child of activeChildren.keys()) child.kill('SIGINT');
    const settled = Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 15_000))]);
    void settled.then(cleanup).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (opts.setup) await setup();
    if (opts.setupOnly) {
      await prerequisites(opts);
      summary(performance.now() - t0, undefined);
      return 0;
    }
    await prerequisites(opts);
    await build(opts);
    await defaultContainer(opts);
    await mountedAppContainer(opts);
  } catch (err) {
    if (err instanceof MissingPrerequisite) {
      console.log(`\nimage-check: missing prerequisite: ${err.message}`);
      return 2;
    }
    if (interrupted) return 130;
    failure = err as Error;
    if (err instanceof CheckFailure) report.fail(err.step, err.what.split('\n')[0]!);
    else report.fail('unexpected error', failure.message);
  } finally {
    step('6. cleanup');
    const names = [...started];
    await cleanup();
    console.log(`  removed ${names.length} container(s)${names.length ? `: ${names.join(', ')}` : ''}`);
  }
  summary(performance.now() - t0, failure);
  return failure ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
