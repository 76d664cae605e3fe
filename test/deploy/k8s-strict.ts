/**
 * A strict check of Kubernetes manifests: every field must exist in the Kubernetes API. The API's
 * OpenAPI schemas, and so kubernetes-models' validators generated from them, let unknown properties
 * through (the API server drops them without a word), so a misspelt `replica: 2` or `containerPrt`
 * passes `validate()` and is silently lost in the cluster, as `kubectl apply --validate=strict` would
 * have told. This check writes each manifest as an object literal of its kubernetes-models interface
 * (the same API definitions, as TypeScript types) and lets the TypeScript checker judge it: excess
 * property checks at every depth, field types and enums. Problems come back with the manifest's
 * field path (`spec.template.spec.containers[0].ports[0].containerPrt`).
 */
import path from 'node:path';
import ts from 'typescript';

/** The kubernetes-models interface of each kind the manifests may use (`apiVersion/kind`). */
export const STRICT_TYPES: Readonly<Record<string, { readonly module: string; readonly type: string }>> = {
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1', type: 'IDeployment' },
  'v1/Service': { module: 'kubernetes-models/v1', type: 'IService' },
  'v1/PersistentVolumeClaim': { module: 'kubernetes-models/v1', type: 'IPersistentVolumeClaim' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2', type: 'IHorizontalPodAutoscaler' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1', type: 'INetworkPolicy' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1', type: 'IPodDisruptionBudget' },
};

/** One problem in one manifest. */
export interface StrictProblem {
  /** Index of the manifest in the list checked. */
  readonly manifest: number;
  /** Where in it: `spec.replica`; `` for the manifest itself. */
  readonly path: string;
  readonly message: string;
}

/** A manifest to check: its apiVersion and kind choose the type. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly [field: string]: unknown;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The TypeScript source for the manifests, one key per line, and the field path of every line. */
function source(objects: readonly KubernetesObject[]): { text: string; lines: Array<{ manifest: number; path: string }> } {
  const out: string[] = [];
  const lines: Array<{ manifest: number; path: string }> = [];
  const push = (text: string, manifest: number, at: string): void => {
    out.push(text);
    lines.push({ manifest, path: at });
  };
  const value = (v: unknown, manifest: number, at: string, indent: string, prefix: string, suffix: string): void => {
    if (Array.isArray(v)) {
      push(`${indent}${prefix}[`, manifest, at);
      v.forEach((item, i) => value(item, manifest, `${at}[${i}]`, `${indent}  `, '', ','));
      push(`${indent}]${suffix}`, manifest, at);
    } else if (v !== null && typeof v === 'object') {
      push(`${indent}${prefix}{`, manifest, at);
      for (const [k, child] of Object.entries(v)) {
        value(child, manifest, at === '' ? (IDENT.test(k) ? k : `[${JSON.stringify(k)}]`) : IDENT.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`, `${indent}  `, `${IDENT.test(k) ? k : JSON.stringify(k)}: `, ',');
      }
      push(`${indent}}${suffix}`, manifest, at);
    } else {
      push(`${indent}${prefix}${JSON.stringify(v)}${suffix}`, manifest, at);
    }
  };
  objects.forEach((o, i) => {
    const t = STRICT_TYPES[`${o.apiVersion}/${o.kind}`];
    if (!t) throw new Error(`manifest ${i}: no kubernetes-models type known for ${o.apiVersion} ${o.kind}; add it to STRICT_TYPES in test/deploy/k8s-strict.ts`);
    value(o, i, '', '', `export const m${i}: import(${JSON.stringify(t.module)}).${t.type} = `, ';');
  });
  return { text: `${out.join('\n')}\n`, lines };
}

/**
 * Checks manifests strictly against the Kubernetes API types; returns every problem (none: all
 * valid). `root` is where node_modules with kubernetes-models is found (the repository).
 */
export function strictCheck(objects: readonly KubernetesObject[], root: string): StrictProblem[] {
  const { text, lines } = source(objects);
  const file = path.join(root, 'test', 'deploy', '__strict-manifests__.mts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const real = { getSourceFile: host.getSourceFile.bind(host), fileExists: host.fileExists.bind(host), readFile: host.readFile.bind(host) };
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, text, lang, true) : real.getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => path.resolve(name) === file || real.fileExists(name);
  host.readFile = (name) => (path.resolve(name) === file ? text : real.readFile(name));
  const program = ts.createProgram([file], options, host);
  const diagnostics = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics(), ...program.getGlobalDiagnostics()];
  return diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.start === undefined || path.resolve(d.file.fileName) !== file) return { manifest: -1, path: '', message: `${d.file?.fileName ?? 'the check itself'}: ${message}` };
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const where = lines[line] ?? { manifest: -1, path: '' };
    return { manifest: where.manifest, path: where.path, message };
  });
}
