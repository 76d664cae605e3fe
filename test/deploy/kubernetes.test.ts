/**
 * The Kubernetes manifests in server/deploy/kubernetes validate against the Kubernetes API schemas
 * (kubernetes-models), strictly (no unknown or misspelt field: k8s-strict.ts), and agree with what spinet serves: the Deployment runs `spinet serve` with
 * settings spinet accepts, its ports are the ones spinet listens on, its probes ask a path spinet
 * answers, the Services and the autoscaler point at it, and its shutdown grace fits the pod's.
 */
import t from 'tap';
import path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IService } from 'kubernetes-models/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1';
import { request } from 'undici';
import { repoRoot } from '../helpers/gateway.js';
import { freePort } from '../helpers/private-redis.js';
import { tempDir } from '../helpers/tenant-apps.js';
import { parseListen } from '../../server/config.js';
import { serve } from '../../server/cli/serve.js';
import { strictCheck } from './k8s-strict.js';

const DIR = path.join(repoRoot, 'server', 'deploy', 'kubernetes');

/** The model class that validates each kind the manifests may use. */
const MODELS: Record<string, { validate(obj: unknown): void }> = {
  'apps/v1/Deployment': { validate: (o) => new Deployment(o as never).validate() },
  'v1/Service': { validate: (o) => new Service(o as never).validate() },
  'v1/PersistentVolumeClaim': { validate: (o) => new PersistentVolumeClaim(o as never).validate() },
  'autoscaling/v2/HorizontalPodAutoscaler': { validate: (o) => new HorizontalPodAutoscaler(o as never).validate() },
  'networking.k8s.io/v1/NetworkPolicy': { validate: (o) => new NetworkPolicy(o as never).validate() },
  'policy/v1/PodDisruptionBudget': { validate: (o) => new PodDisruptionBudget(o as never).validate() },
};

interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly [key: string]: unknown;
}

async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const doc of parseAllDocuments(await readFile(path.join(DIR, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      out.push({ ...(doc.toJS() as Omit<Manifest, 'file'>), file } as Manifest);
    }
  }
  return out;
}

const one = <T>(all: Manifest[], kind: string, name: string): T => {
  const found = all.filter((m) => m.kind === kind && m.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as unknown as T;
};

t.test('every manifest is a known kind and validates against the Kubernetes API schema', async (t) => {
  const all = await manifests();
  t.ok(all.length >= 8, `${all.length} manifests`);
  for (const m of all) {
    const model = MODELS[`${m.apiVersion}/${m.kind}`];
    t.ok(model, `${m.file}: ${m.apiVersion} ${m.kind} is a kind this test validates`);
    const { file: _file, ...obj } = m;
    t.doesNotThrow(() => model?.validate(obj), `${m.file}: ${m.kind} ${m.metadata.name} is valid`);
  }
  t.throws(() => MODELS['apps/v1/Deployment']!.validate({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 'http' }] }] } } } }), 'and the validator does reject a broken one');
  const objects = all.map(({ file: _file, ...obj }) => obj);
  const problems = strictCheck(objects, repoRoot).map((p) => `${all[p.manifest]?.file ?? '?'}: ${all[p.manifest]?.kind ?? ''} ${all[p.manifest]?.metadata.name ?? ''}: ${p.path || '(top level)'}: ${p.message}`);
  t.same(problems, [], 'and every field of every manifest exists in the Kubernetes API, with its type (strict check)');
});

t.test('the strict check catches a misspelt or unknown field that the schema validator lets through, and says where', async (t) => {
  const all = await manifests();
  const index = all.findIndex((m) => m.kind === 'Deployment' && m.metadata.name === 'spinet');
  const { file: _file, ...deployment } = all[index]!;
  type Json = Record<string, any>; // the cases reach into the parsed YAML freely
  const cases: Array<[string, (d: Json) => void, string, RegExp]> = [
    ['replica: 2 instead of replicas', (d) => (d.spec.replica = 2), 'spec.replica', /'replica' does not exist in type 'IDeploymentSpec'/],
    ['a misspelt optional container field', (d) => (d.spec.template.spec.containers[0].imagePullPolicey = 'IfNotPresent'), 'spec.template.spec.containers[0].imagePullPolicey', /'imagePullPolicey' does not exist/],
    ['containerPrt beside containerPort', (d) => (d.spec.template.spec.containers[0].ports[0].containerPrt = 3000), 'spec.template.spec.containers[0].ports[0].containerPrt', /'containerPrt' does not exist in type 'IContainerPort'/],
    ['a misspelt metadata field', (d) => (d.metadata.lables = { app: 'spinet' }), 'metadata.lables', /'lables' does not exist/],
    ['a number where the API wants a string', (d) => (d.spec.template.spec.containers[0].image = 42), 'spec.template.spec.containers[0].image', /'number' is not assignable to type 'string'/],
  ];
  t.same(strictCheck([deployment], repoRoot), [], 'the Deployment as written passes');
  for (const [why, spoil, where, message] of cases) {
    const broken = structuredClone(deployment) as Json;
    spoil(broken);
    if (why !== 'a number where the API wants a string') t.doesNotThrow(() => MODELS['apps/v1/Deployment']!.validate(broken), `${why}: kubernetes-models' validate() alone accepts it`);
    const problems = strictCheck([broken as Manifest], repoRoot);
    t.equal(problems.length, 1, `${why}: one problem`);
    t.match(problems[0], { manifest: 0, path: where, message }, `${why}: caught at ${where}`);
  }
});

t.test('the kustomization lists every manifest file', async (t) => {
  const kustomization = parseAllDocuments(await readFile(path.join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  t.same([...kustomization.resources].sort(), files);
});

t.test('the Deployment runs spinet serve on the ports, probes and settings spinet actually has', async (t) => {
  const all = await manifests();
  const deployment = one<IDeployment>(all, 'Deployment', 'spinet');
  const pod = deployment.spec!.template.spec!;
  const c = pod.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  const port = (name: string): number => c.ports!.find((p) => p.name === name)!.containerPort;

  t.equal(c.args?.[0], 'serve', 'it runs spinet serve');
  t.equal(port('http'), parseListen(env.SPINET_LISTEN!, 'SPINET_LISTEN').port, 'the http port is the one SPINET_LISTEN opens');
  t.equal(port('admin'), parseListen(env.SPINET_ADMIN_LISTEN!, 'SPINET_ADMIN_LISTEN').port, 'the admin port is the one SPINET_ADMIN_LISTEN opens');
  t.equal(parseListen(env.SPINET_LISTEN!, 'x').host, '0.0.0.0', 'the gateway listens on the pod network');
  for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
    t.same(probe?.httpGet, { path: '/.well-known/spin/health', port: 'http' }, 'probes ask the health path on the http port');
  }
  const secret = c.env!.find((e) => e.name === 'SPINET_ADMIN_TOKEN')?.valueFrom?.secretKeyRef;
  t.same(secret, { name: 'spinet-admin', key: 'token' }, 'the admin token comes from a Secret');
  t.notOk(c.env!.some((e) => e.name === 'SPINET_ADMIN_TOKEN' && e.value !== undefined), 'and is not written in the manifest');

  const preStopSeconds = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
  t.ok(pod.terminationGracePeriodSeconds! * 1000 > Number(env.SPINET_SHUTDOWN_GRACE_MS) + preStopSeconds * 1000, 'the pod’s grace outlasts the preStop pause plus spinet’s shutdown grace');

  t.equal(pod.securityContext?.runAsNonRoot, true, 'it runs as non-root');
  t.equal(pod.securityContext?.runAsUser, 1000, 'as the image’s node user');
  t.equal(c.securityContext?.allowPrivilegeEscalation, false);
  t.equal(c.securityContext?.readOnlyRootFilesystem, true);
  t.ok(c.resources?.requests?.cpu && c.resources.limits?.memory, 'it requests CPU (the autoscaler needs it) and has a memory limit');

  const mounts = Object.fromEntries(c.volumeMounts!.map((m) => [m.mountPath, m.name]));
  const volumes = Object.fromEntries(pod.volumes!.map((v) => [v.name, v]));
  const storeDir = c.args![c.args!.indexOf('--store') + 1]!;
  const claim = volumes[mounts[storeDir]!]?.persistentVolumeClaim?.claimName;
  const pvc = one<IPersistentVolumeClaim>(all, 'PersistentVolumeClaim', claim!);
  t.same(pvc.spec?.accessModes, ['ReadWriteMany'], 'the store is a ReadWriteMany claim mounted where --store points');
  t.ok(volumes[mounts[env.SPINET_STATE_DIR!]!]?.emptyDir, 'key-value state is on the pod, not on the shared volume');
  t.ok(volumes[mounts['/tmp']!]?.emptyDir, '/tmp (the transpile cache) is writable with a read-only root');

  const redisUrl = new URL(env.SPINET_FLEET_REDIS!);
  const redis = one<IService>(all, 'Service', redisUrl.hostname);
  t.equal(redis.spec?.ports?.[0]?.port, Number(redisUrl.port), 'SPINET_FLEET_REDIS names the Redis Service and its port');
  one<IDeployment>(all, 'Deployment', 'spinet-redis');

  const gatewaySvc = one<IService>(all, 'Service', 'spinet');
  const adminSvc = one<IService>(all, 'Service', 'spinet-admin');
  t.equal(gatewaySvc.spec?.ports?.[0]?.targetPort, 'http');
  t.equal(adminSvc.spec?.ports?.[0]?.targetPort, 'admin');
  t.equal(adminSvc.spec?.type, 'ClusterIP', 'the admin API stays inside the cluster');
  for (const svc of [gatewaySvc, adminSvc]) t.same(svc.spec?.selector, deployment.spec!.selector.matchLabels, `${svc.metadata!.name} selects the gateway pods`);

  const hpa = one<IHorizontalPodAutoscaler>(all, 'HorizontalPodAutoscaler', 'spinet');
  t.same(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'spinet' }, 'the autoscaler scales the gateway');

  // Every SPINET_* setting in the manifest is one spinet reads.
  const source = (await Promise.all(['config.ts', 'cli/serve.ts'].map((f) => readFile(path.join(repoRoot, 'server', f), 'utf8')))).join('\n');
  for (const e of c.env!) t.ok(source.includes(e.name), `${e.name} is a setting spinet reads`);
});

t.test('spinet serve starts with the Deployment’s arguments and environment and answers its probe', async (t) => {
  const all = await manifests();
  const c = one<IDeployment>(all, 'Deployment', 'spinet').spec!.template.spec!.containers[0]!;
  const root = await tempDir();
  const [port, adminPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {};
  for (const e of c.env!) env[e.name] = e.value ?? 'token-from-the-secret';
  // The cluster's addresses and paths, moved onto this machine.
  Object.assign(env, {
    SPINET_LISTEN: `127.0.0.1:${port}`,
    SPINET_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    SPINET_FLEET_REDIS: 'redis://127.0.0.1:6379',
    SPINET_STATE_DIR: path.join(root, 'state'),
    SPINET_CACHE_DIR: path.join(repoRoot, '.spinet', 'test-cache'),
    SPINET_WORKERS: '1',
    SPINET_LOG_LEVEL: 'silent',
  });
  const args = c.args!.slice(1).map((a) => (a === '/var/lib/spinet/store' ? path.join(root, 'store') : a));
  const running = await serve(args, env);
  t.teardown(() => running.stop());
  const res = await request(`http://127.0.0.1:${port}/.well-known/spin/health`, { headers: { host: '10.1.2.3:3000' } });
  t.equal(res.statusCode, 200, 'the probe path answers 200 on a pod-IP host');
  t.equal(await res.body.text(), 'OK');
  const admin = await request(`http://127.0.0.1:${adminPort}/v1/apps`, { headers: { authorization: 'Bearer token-from-the-secret' } });
  t.equal(admin.statusCode, 200, 'the admin API takes the token from the Secret');
  await admin.body.dump();
});
