/**
 * Reads a WebAssembly component's binary and elaborates it, once, into a flat link plan: which core
 * modules to instantiate in which order with which imports, which host functions the guest calls
 * (with their canonical-ABI types), and which core functions the component exports. The executor
 * worker turns a plan into an `instantiate` function (component-runtime.ts) whose per-request cost is
 * the engine's own `new WebAssembly.Instance` plus a handle table: everything that depends only on
 * the component (type codecs, trampolines, import objects) is built once per worker.
 *
 * Why not jco's glue: jco (1.35) re-creates its component-model runtime (classes, hundreds of closures,
 * task objects per call) inside every `instantiate()` and every call; measured here at ~1.2 ms per
 * request for a small Rust guest against ~0.1 ms for the engine's own work (bench/RESULTS.md).
 *
 * The plan covers what `wit-component` (cargo-component, componentize-js, `jco componentize`,
 * wasm-tools) emits for Spin and wasi:http guests: imported host instances with resources, core
 * modules and instances, aliases, `canon lift` / `canon lower` / `canon resource.drop`, nested
 * components that only re-export (the typed export wrapper), UTF-8 strings. Anything else (guest-defined
 * resources, async ABI, other string encodings, start functions, value imports) raises
 * `UnsupportedComponent`, and the loader falls back to jco's glue for that component.
 */

import { WasmReader } from './wasm-reader.js';
import { elideShims } from './shim-elision.js';

/** The component uses a construct the plan does not cover; the loader uses jco's glue instead. */
export class UnsupportedComponent extends Error {
  override name = 'UnsupportedComponent';
}

/** A canonical-ABI value type, resolved (no type indices left). Resources are plan-wide numbers. */
export type ValType =
  | { readonly k: 'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'char' | 'string' }
  | { readonly k: 'list'; readonly of: ValType }
  | { readonly k: 'record'; readonly fields: ReadonlyArray<{ readonly js: string; readonly type: ValType }> }
  | { readonly k: 'tuple'; readonly of: readonly ValType[] }
  | { readonly k: 'variant'; readonly cases: ReadonlyArray<{ readonly name: string; readonly type?: ValType }> }
  | { readonly k: 'enum'; readonly names: readonly string[] }
  | { readonly k: 'flags'; readonly js: readonly string[] }
  | { readonly k: 'option'; readonly of: ValType }
  | { readonly k: 'result'; readonly ok?: ValType; readonly err?: ValType }
  | { readonly k: 'own' | 'borrow'; readonly rt: number };

export interface FuncType {
  readonly params: ReadonlyArray<{ readonly name: string; readonly type: ValType }>;
  readonly result?: ValType;
}

/**
 * A core item (function, memory, table, global): an export of a planned core instance, a trampoline,
 * or (only in inline instances, see shim-elision.ts) a function of a core instance created later,
 * looked up in the running instance when called.
 */
export type CoreRef = { readonly ns: number; readonly name: string } | { readonly tramp: number } | { readonly late: number; readonly name: string };

/** One core instance, in creation order; its position is its namespace number. */
export type CoreInstancePlan =
  | {
      readonly k: 'module';
      readonly module: number;
      readonly args: ReadonlyArray<readonly [string, number]>;
      /** Reached only through `late` references and inert to instantiate: created on first call (shim-elision.ts). */
      readonly lazy?: true;
    }
  | { readonly k: 'inline'; readonly items: ReadonlyArray<readonly [string, CoreRef]> };

/** How the host implements an imported function, in jco's JS conventions (which spinet's host follows). */
export interface HostFunc {
  /** Interface name without version, the key into the host imports object (`wasi:http/types`). */
  readonly iface: string;
  /** The WIT function name, for messages (`[method]outgoing-body.write`). */
  readonly wit: string;
  readonly kind: 'func' | 'constructor' | 'method' | 'static';
  /** Class name for constructors and statics (`OutgoingResponse`). */
  readonly cls?: string;
  /** Member name (camelCase) for funcs, methods and statics. */
  readonly member?: string;
}

export interface CanonOpts {
  readonly memory?: CoreRef;
  readonly realloc?: CoreRef;
  readonly postReturn?: CoreRef;
}

export type TrampolinePlan =
  | ({ readonly k: 'lower'; readonly host: HostFunc; readonly type: FuncType } & CanonOpts)
  | { readonly k: 'drop'; readonly rt: number };

export interface LiftPlan extends CanonOpts {
  readonly core: CoreRef;
  readonly type: FuncType;
  readonly wit: string;
}

/** A host resource type: the class the host provides for it. */
export interface ResourcePlan {
  readonly iface: string;
  readonly name: string;
  readonly cls: string;
}

export interface LinkPlan {
  readonly format: 1;
  /** Core module names, in plan order (`core0.wasm`, ...): the worker asks for them by name. */
  readonly modules: readonly string[];
  readonly instances: readonly CoreInstancePlan[];
  readonly trampolines: readonly TrampolinePlan[];
  readonly lifts: readonly LiftPlan[];
  readonly resources: readonly ResourcePlan[];
  /** Exported instances: versioned name → [camelCase function name, lift index]. */
  readonly exports: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, number]>]>;
  /** Functions the component exports directly (a world's `export f: func()`): [camelCase name, lift index]. */
  readonly functions: ReadonlyArray<readonly [string, number]>;
}

export interface PlannedComponent {
  readonly plan: LinkPlan;
  /** Core module bytes by plan name. */
  readonly files: Map<string, Uint8Array>;
  /** Imported interfaces, unversioned. */
  readonly imports: string[];
  /** Exported interfaces, versioned. */
  readonly exports: string[];
}

// ───────────────────────── names (jco's conventions) ─────────────────────────

function words(name: string): string[] {
  return name.split('-').filter((w) => w.length > 0);
}

/** `blocking-write-and-flush` → `blockingWriteAndFlush`; `TLS-alert` → `tlsAlert` (as heck does). */
export function lowerCamel(name: string): string {
  return words(name)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

/** `incoming-request` → `IncomingRequest`. */
export function upperCamel(name: string): string {
  return words(name)
    .map((w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase())
    .join('');
}

/** `wasi:http/types@0.2.1` → `wasi:http/types`. */
export function unversioned(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

function hostFunc(iface: string, wit: string): HostFunc {
  const m = /^\[(constructor|method|static)\]([^.]+)(?:\.(.+))?$/.exec(wit);
  if (!m) return { iface, wit, kind: 'func', member: lowerCamel(wit) };
  const kind = m[1] as 'constructor' | 'method' | 'static';
  const cls = upperCamel(m[2]!);
  if (kind === 'constructor') return { iface, wit, kind, cls };
  if (!m[3]) throw new UnsupportedComponent(`malformed function name ${wit}`);
  return { iface, wit, kind, cls, member: lowerCamel(m[3]) };
}

// ───────────────────────── binary reader ─────────────────────────

/** The shared reader, plus the component model's import/export name encoding. */
class Reader extends WasmReader {
  u8(): number {
    return this.byte();
  }
  /** import/export names: a discriminator byte (0x00 or the historical 0x01) then the name. */
  externName(): string {
    const d = this.u8();
    if (d !== 0x00 && d !== 0x01) throw new UnsupportedComponent(`unknown extern name form 0x${d.toString(16)}`);
    return this.str();
  }
}

// ───────────────────────── type syntax ─────────────────────────

const PRIMITIVES: Record<number, ValType['k']> = {
  0x7f: 'bool',
  0x7e: 's8',
  0x7d: 'u8',
  0x7c: 's16',
  0x7b: 'u16',
  0x7a: 's32',
  0x79: 'u32',
  0x78: 's64',
  0x77: 'u64',
  0x76: 'f32',
  0x75: 'f64',
  0x74: 'char',
  0x73: 'string',
};
const PRIM_CACHE = new Map<string, ValType>();
function prim(k: string): ValType {
  let t = PRIM_CACHE.get(k);
  if (!t) PRIM_CACHE.set(k, (t = { k } as ValType));
  return t;
}

/** A value type as written: a primitive or a type index. */
type VtSyntax = { readonly p: string } | { readonly i: number };

function readValType(r: Reader): VtSyntax {
  const b = r.peek();
  if ((b & 0x80) === 0 && b >= 0x40) {
    r.u8();
    const k = PRIMITIVES[b];
    if (!k) throw new UnsupportedComponent(`value type 0x${b.toString(16)}`);
    return { p: k };
  }
  return { i: r.u32() };
}

/** A type definition as written, resolved later against its index space. */
type DefSyntax =
  | { readonly d: 'val'; readonly v: VtSyntax }
  | { readonly d: 'record'; readonly fields: Array<[string, VtSyntax]> }
  | { readonly d: 'variant'; readonly cases: Array<[string, VtSyntax | undefined]> }
  | { readonly d: 'list' | 'option'; readonly of: VtSyntax }
  | { readonly d: 'tuple'; readonly of: VtSyntax[] }
  | { readonly d: 'flags' | 'enum'; readonly names: string[] }
  | { readonly d: 'result'; readonly ok?: VtSyntax; readonly err?: VtSyntax }
  | { readonly d: 'own' | 'borrow'; readonly i: number }
  | { readonly d: 'func'; readonly params: Array<[string, VtSyntax]>; readonly result?: VtSyntax }
  | { readonly d: 'instance'; readonly decls: InstanceDecl[] };

type InstanceDecl =
  | { readonly k: 'type'; readonly def: DefSyntax }
  | { readonly k: 'alias-outer'; readonly count: number; readonly index: number }
  | { readonly k: 'export'; readonly name: string; readonly desc: ExternDesc };

type ExternDesc =
  | { readonly s: 'func'; readonly i: number }
  | { readonly s: 'instance'; readonly i: number }
  | { readonly s: 'component'; readonly i: number }
  | { readonly s: 'type-eq'; readonly i: number }
  | { readonly s: 'type-sub-resource' };

function optional<T>(r: Reader, f: () => T): T | undefined {
  const b = r.u8();
  if (b === 0x00) return undefined;
  if (b === 0x01) return f();
  throw new UnsupportedComponent(`bad option byte 0x${b.toString(16)}`);
}

function readExternDesc(r: Reader): ExternDesc {
  const s = r.u8();
  switch (s) {
    case 0x01:
      return { s: 'func', i: r.u32() };
    case 0x03: {
      const bound = r.u8();
      if (bound === 0x00) return { s: 'type-eq', i: r.u32() };
      if (bound === 0x01) return { s: 'type-sub-resource' };
      throw new UnsupportedComponent(`type bound 0x${bound.toString(16)}`);
    }
    case 0x04:
      return { s: 'component', i: r.u32() };
    case 0x05:
      return { s: 'instance', i: r.u32() };
    default:
      throw new UnsupportedComponent(`import/export of sort 0x${s.toString(16)} (core modules or values)`);
  }
}

function readDefType(r: Reader): DefSyntax {
  const b = r.peek();
  if ((b & 0x80) === 0 && b >= 0x40 && PRIMITIVES[b]) return { d: 'val', v: readValType(r) };
  r.u8();
  switch (b) {
    case 0x72:
      return { d: 'record', fields: r.vec(() => [r.str(), readValType(r)] as [string, VtSyntax]) };
    case 0x71:
      return {
        d: 'variant',
        cases: r.vec(() => {
          const name = r.str();
          const t = optional(r, () => readValType(r));
          if (r.u8() !== 0x00) throw new UnsupportedComponent('variant case refinements');
          return [name, t] as [string, VtSyntax | undefined];
        }),
      };
    case 0x70:
      return { d: 'list', of: readValType(r) };
    case 0x6f:
      return { d: 'tuple', of: r.vec(() => readValType(r)) };
    case 0x6e:
      return { d: 'flags', names: r.vec(() => r.str()) };
    case 0x6d:
      return { d: 'enum', names: r.vec(() => r.str()) };
    case 0x6b:
      return { d: 'option', of: readValType(r) };
    case 0x6a: {
      const ok = optional(r, () => readValType(r));
      const err = optional(r, () => readValType(r));
      return { d: 'result', ...(ok ? { ok } : {}), ...(err ? { err } : {}) };
    }
    case 0x69:
      return { d: 'own', i: r.u32() };
    case 0x68:
      return { d: 'borrow', i: r.u32() };
    case 0x40: {
      const params = r.vec(() => [r.str(), readValType(r)] as [string, VtSyntax]);
      const form = r.u8();
      if (form === 0x00) return { d: 'func', params, result: readValType(r) };
      if (form === 0x01) {
        const named = r.vec(() => [r.str(), readValType(r)] as [string, VtSyntax]);
        if (named.length > 0) throw new UnsupportedComponent('functions with named results');
        return { d: 'func', params };
      }
      throw new UnsupportedComponent(`function result form 0x${form.toString(16)}`);
    }
    case 0x42:
      return { d: 'instance', decls: r.vec(() => readInstanceDecl(r)) };
    case 0x41:
      throw new UnsupportedComponent('component types');
    case 0x3f:
    case 0x3e:
      throw new UnsupportedComponent('resources defined by the guest');
    default:
      throw new UnsupportedComponent(`type form 0x${b.toString(16)}`);
  }
}

function readInstanceDecl(r: Reader): InstanceDecl {
  const k = r.u8();
  switch (k) {
    case 0x01:
      return { k: 'type', def: readDefType(r) };
    case 0x02: {
      const sort = r.u8();
      const target = r.u8();
      if (sort !== 0x03 || target !== 0x02) throw new UnsupportedComponent('instance-type alias other than an outer type');
      return { k: 'alias-outer', count: r.u32(), index: r.u32() };
    }
    case 0x04:
      return { k: 'export', name: r.externName(), desc: readExternDesc(r) };
    default:
      throw new UnsupportedComponent(`instance type declaration 0x${k.toString(16)}`);
  }
}

// ───────────────────────── elaboration ─────────────────────────

type TypeItem =
  | { readonly t: 'val'; readonly v: ValType }
  | { readonly t: 'resource'; readonly rt: number }
  | { readonly t: 'func'; readonly f: FuncType }
  | { readonly t: 'instance'; readonly decls: InstanceDecl[] };

type FuncItem = { readonly f: 'host'; readonly host: HostFunc; readonly type: FuncType } | { readonly f: 'lifted'; readonly lift: number; readonly type: FuncType };

type Item =
  | { readonly s: 'func'; readonly v: FuncItem }
  | { readonly s: 'type'; readonly v: TypeItem }
  | { readonly s: 'instance'; readonly v: InstanceItem }
  | { readonly s: 'component'; readonly v: ComponentDef };

interface InstanceItem {
  readonly exports: Map<string, Item>;
}

interface ComponentDef {
  readonly start: number;
  readonly end: number;
  readonly parent: Scope;
}

interface Scope {
  readonly parent: Scope | undefined;
  readonly coreModules: number[];
  readonly coreInstances: number[];
  readonly coreFuncs: CoreRef[];
  readonly coreTables: CoreRef[];
  readonly coreMemories: CoreRef[];
  readonly coreGlobals: CoreRef[];
  readonly funcs: FuncItem[];
  readonly types: TypeItem[];
  readonly components: ComponentDef[];
  readonly instances: InstanceItem[];
}

function newScope(parent: Scope | undefined): Scope {
  return { parent, coreModules: [], coreInstances: [], coreFuncs: [], coreTables: [], coreMemories: [], coreGlobals: [], funcs: [], types: [], components: [], instances: [] };
}

function at<T>(xs: readonly T[], i: number, what: string): T {
  const x = xs[i];
  if (x === undefined) throw new UnsupportedComponent(`${what} index ${i} out of range`);
  return x;
}

class Planner {
  readonly modules: string[] = [];
  readonly files = new Map<string, Uint8Array>();
  readonly instances: CoreInstancePlan[] = [];
  readonly trampolines: TrampolinePlan[] = [];
  readonly lifts: LiftPlan[] = [];
  readonly resources: ResourcePlan[] = [];
  readonly imports = new Set<string>();
  /** Drop trampolines by resource, so each is shared. */
  readonly drops = new Map<number, number>();

  constructor(readonly bytes: Uint8Array) {}

  resolveVal(v: VtSyntax, space: readonly TypeItem[]): ValType {
    if ('p' in v) return prim(v.p);
    const t = at(space, v.i, 'type');
    if (t.t !== 'val') throw new UnsupportedComponent(`type ${v.i} used as a value type is a ${t.t}`);
    return t.v;
  }

  resolveDef(d: DefSyntax, space: readonly TypeItem[]): TypeItem {
    const val = (v: VtSyntax): ValType => this.resolveVal(v, space);
    switch (d.d) {
      case 'val':
        return { t: 'val', v: val(d.v) };
      case 'record':
        return { t: 'val', v: { k: 'record', fields: d.fields.map(([name, t]) => ({ js: lowerCamel(name), type: val(t) })) } };
      case 'variant':
        return { t: 'val', v: { k: 'variant', cases: d.cases.map(([name, t]) => (t ? { name, type: val(t) } : { name })) } };
      case 'list':
        return { t: 'val', v: { k: 'list', of: val(d.of) } };
      case 'option':
        return { t: 'val', v: { k: 'option', of: val(d.of) } };
      case 'tuple':
        return { t: 'val', v: { k: 'tuple', of: d.of.map(val) } };
      case 'flags':
        return { t: 'val', v: { k: 'flags', js: d.names.map(lowerCamel) } };
      case 'enum':
        return { t: 'val', v: { k: 'enum', names: d.names } };
      case 'result':
        return { t: 'val', v: { k: 'result', ...(d.ok ? { ok: val(d.ok) } : {}), ...(d.err ? { err: val(d.err) } : {}) } };
      case 'own':
      case 'borrow': {
        const r = at(space, d.i, 'type');
        if (r.t !== 'resource') throw new UnsupportedComponent(`${d.d} of a non-resource type`);
        return { t: 'val', v: { k: d.d, rt: r.rt } };
      }
      case 'func':
        return { t: 'func', f: { params: d.params.map(([name, t]) => ({ name, type: val(t) })), ...(d.result ? { result: val(d.result) } : {}) } };
      case 'instance':
        return { t: 'instance', decls: d.decls };
    }
  }

  /** An imported host instance: fresh resources, host functions bound to the interface. */
  importInstance(name: string, type: TypeItem, scope: Scope): InstanceItem {
    if (type.t !== 'instance') throw new UnsupportedComponent(`import ${name} is not typed as an instance`);
    const iface = unversioned(name);
    const local: TypeItem[] = [];
    const exports = new Map<string, Item>();
    for (const decl of type.decls) {
      if (decl.k === 'type') {
        if (decl.def.d === 'instance') throw new UnsupportedComponent('nested instance types');
        local.push(this.resolveDef(decl.def, local));
      } else if (decl.k === 'alias-outer') {
        let s: Scope = scope;
        for (let c = 1; c < decl.count; c++) s = s.parent ?? (() => { throw new UnsupportedComponent('outer alias past the root'); })();
        if (decl.count < 1) throw new UnsupportedComponent('outer alias count 0 in an instance type');
        local.push(at(s.types, decl.index, 'outer type'));
      } else {
        const d = decl.desc;
        if (d.s === 'type-sub-resource') {
          const rt = this.resources.push({ iface, name: decl.name, cls: upperCamel(decl.name) }) - 1;
          const item: TypeItem = { t: 'resource', rt };
          local.push(item);
          exports.set(decl.name, { s: 'type', v: item });
        } else if (d.s === 'type-eq') {
          const item = at(local, d.i, 'type');
          local.push(item);
          exports.set(decl.name, { s: 'type', v: item });
        } else if (d.s === 'func') {
          const ft = at(local, d.i, 'type');
          if (ft.t !== 'func') throw new UnsupportedComponent(`${name}#${decl.name} is not typed as a function`);
          exports.set(decl.name, { s: 'func', v: { f: 'host', host: hostFunc(iface, decl.name), type: ft.f } });
          // Interfaces with only types (fermyon:spin/redis-types) need nothing from the host.
          this.imports.add(iface);
        } else {
          throw new UnsupportedComponent(`instance ${name} exports a ${d.s}`);
        }
      }
    }
    return { exports };
  }

  coreRef(scope: Scope, sort: number, idx: number): CoreRef {
    switch (sort) {
      case 0x00:
        return at(scope.coreFuncs, idx, 'core func');
      case 0x01:
        return at(scope.coreTables, idx, 'core table');
      case 0x02:
        return at(scope.coreMemories, idx, 'core memory');
      case 0x03:
        return at(scope.coreGlobals, idx, 'core global');
      default:
        throw new UnsupportedComponent(`core export of sort 0x${sort.toString(16)}`);
    }
  }

  pushCore(scope: Scope, sort: number, ref: CoreRef): void {
    switch (sort) {
      case 0x00:
        scope.coreFuncs.push(ref);
        break;
      case 0x01:
        scope.coreTables.push(ref);
        break;
      case 0x02:
        scope.coreMemories.push(ref);
        break;
      case 0x03:
        scope.coreGlobals.push(ref);
        break;
      default:
        throw new UnsupportedComponent(`core alias of sort 0x${sort.toString(16)}`);
    }
  }

  /** Reads a component sort + index and returns the item. */
  sortIdx(r: Reader, scope: Scope): Item {
    const sort = r.u8();
    if (sort === 0x00) throw new UnsupportedComponent('core items as component instantiation arguments');
    const idx = r.u32();
    return this.item(scope, sort, idx);
  }

  item(scope: Scope, sort: number, idx: number): Item {
    switch (sort) {
      case 0x01:
        return { s: 'func', v: at(scope.funcs, idx, 'func') };
      case 0x03:
        return { s: 'type', v: at(scope.types, idx, 'type') };
      case 0x04:
        return { s: 'component', v: at(scope.components, idx, 'component') };
      case 0x05:
        return { s: 'instance', v: at(scope.instances, idx, 'instance') };
      default:
        throw new UnsupportedComponent(`component items of sort 0x${sort.toString(16)}`);
    }
  }

  pushItem(scope: Scope, item: Item): void {
    switch (item.s) {
      case 'func':
        scope.funcs.push(item.v);
        break;
      case 'type':
        scope.types.push(item.v);
        break;
      case 'instance':
        scope.instances.push(item.v);
        break;
      case 'component':
        scope.components.push(item.v);
        break;
    }
  }

  readOpts(r: Reader, scope: Scope): CanonOpts {
    const n = r.u32();
    const opts: { memory?: CoreRef; realloc?: CoreRef; postReturn?: CoreRef } = {};
    for (let i = 0; i < n; i++) {
      const o = r.u8();
      switch (o) {
        case 0x00:
          break; // UTF-8, the default
        case 0x01:
        case 0x02:
          throw new UnsupportedComponent('string encodings other than UTF-8');
        case 0x03:
          opts.memory = at(scope.coreMemories, r.u32(), 'core memory');
          break;
        case 0x04:
          opts.realloc = at(scope.coreFuncs, r.u32(), 'core func');
          break;
        case 0x05:
          opts.postReturn = at(scope.coreFuncs, r.u32(), 'core func');
          break;
        default:
          throw new UnsupportedComponent(`canonical option 0x${o.toString(16)} (async ABI)`);
      }
    }
    return opts;
  }

  /** Elaborates one component body; returns its exports. `args` is undefined for the root. */
  component(start: number, end: number, parent: Scope | undefined, args: Map<string, Item> | undefined): Map<string, Item> {
    const b = this.bytes;
    if (end - start < 8 || b[start] !== 0 || b[start + 1] !== 0x61 || b[start + 2] !== 0x73 || b[start + 3] !== 0x6d || b[start + 6] !== 1 || b[start + 7] !== 0) {
      throw new UnsupportedComponent('not a component (bad header)');
    }
    const scope = newScope(parent);
    const exports = new Map<string, Item>();
    const r = new Reader(b, start + 8, end);
    while (!r.done) {
      const id = r.u8();
      const size = r.u32();
      const sectionEnd = r.pos + size;
      if (sectionEnd > end) throw new UnsupportedComponent('section past the end of the component');
      const s = new Reader(b, r.pos, sectionEnd);
      switch (id) {
        case 0:
          break;
        case 1: {
          const name = `core${this.modules.length}.wasm`;
          this.modules.push(name);
          this.files.set(name, b.subarray(s.pos, sectionEnd));
          scope.coreModules.push(this.modules.length - 1);
          break;
        }
        case 2:
          s.each(() => {
            const form = s.u8();
            if (form === 0x00) {
              const module = at(scope.coreModules, s.u32(), 'core module');
              const args2 = s.vec(() => {
                const name = s.str();
                if (s.u8() !== 0x12) throw new UnsupportedComponent('core instantiation argument that is not an instance');
                return [name, at(scope.coreInstances, s.u32(), 'core instance')] as const;
              });
              scope.coreInstances.push(this.instances.push({ k: 'module', module, args: args2 }) - 1);
            } else if (form === 0x01) {
              const items = s.vec(() => {
                const name = s.str();
                const sort = s.u8();
                return [name, this.coreRef(scope, sort, s.u32())] as const;
              });
              scope.coreInstances.push(this.instances.push({ k: 'inline', items }) - 1);
            } else throw new UnsupportedComponent(`core instance form 0x${form.toString(16)}`);
          });
          break;
        case 3:
          throw new UnsupportedComponent('core type sections');
        case 4:
          scope.components.push({ start: s.pos, end: sectionEnd, parent: scope });
          break;
        case 5:
          s.each(() => {
            const form = s.u8();
            if (form === 0x00) {
              const def = at(scope.components, s.u32(), 'component');
              const a = new Map<string, Item>();
              for (const [name, item] of s.vec(() => [s.str(), this.sortIdx(s, scope)] as const)) a.set(name, item);
              scope.instances.push({ exports: this.component(def.start, def.end, def.parent, a) });
            } else if (form === 0x01) {
              const ex = new Map<string, Item>();
              for (const [name, item] of s.vec(() => [s.externName(), this.sortIdx(s, scope)] as const)) ex.set(name, item);
              scope.instances.push({ exports: ex });
            } else throw new UnsupportedComponent(`instance form 0x${form.toString(16)}`);
          });
          break;
        case 6:
          s.each(() => {
            const sort = s.u8();
            const coreSort = sort === 0x00 ? s.u8() : undefined;
            const target = s.u8();
            if (target === 0x00) {
              const inst = at(scope.instances, s.u32(), 'instance');
              const name = s.str();
              const item = inst.exports.get(name);
              if (!item) throw new UnsupportedComponent(`alias of missing export ${name}`);
              this.pushItem(scope, item);
            } else if (target === 0x01) {
              if (coreSort === undefined) throw new UnsupportedComponent('core export alias without a core sort');
              const ns = at(scope.coreInstances, s.u32(), 'core instance');
              this.pushCore(scope, coreSort, { ns, name: s.str() });
            } else if (target === 0x02) {
              const count = s.u32();
              const index = s.u32();
              let outer: Scope | undefined = scope;
              for (let c = 0; c < count; c++) outer = outer?.parent;
              if (!outer) throw new UnsupportedComponent('outer alias past the root');
              if (sort === 0x03) scope.types.push(at(outer.types, index, 'outer type'));
              else if (sort === 0x04) scope.components.push(at(outer.components, index, 'outer component'));
              else throw new UnsupportedComponent(`outer alias of sort 0x${sort.toString(16)}`);
            } else throw new UnsupportedComponent(`alias target 0x${target.toString(16)}`);
          });
          break;
        case 7:
          s.each(() => {
            scope.types.push(this.resolveDef(readDefType(s), scope.types));
          });
          break;
        case 8:
          s.each(() => {
            const op = s.u8();
            if (op === 0x00) {
              if (s.u8() !== 0x00) throw new UnsupportedComponent('canon lift form');
              const core = at(scope.coreFuncs, s.u32(), 'core func');
              const opts = this.readOpts(s, scope);
              const ft = at(scope.types, s.u32(), 'type');
              if (ft.t !== 'func') throw new UnsupportedComponent('canon lift with a non-function type');
              const lift = this.lifts.push({ core, type: ft.f, wit: `lift${this.lifts.length}`, ...opts }) - 1;
              scope.funcs.push({ f: 'lifted', lift, type: ft.f });
            } else if (op === 0x01) {
              if (s.u8() !== 0x00) throw new UnsupportedComponent('canon lower form');
              const func = at(scope.funcs, s.u32(), 'func');
              const opts = this.readOpts(s, scope);
              if (func.f !== 'host') throw new UnsupportedComponent('lowering a function the component lifts itself (component-to-component calls)');
              scope.coreFuncs.push({ tramp: this.trampolines.push({ k: 'lower', host: func.host, type: func.type, ...opts }) - 1 });
            } else if (op === 0x03) {
              const t = at(scope.types, s.u32(), 'type');
              if (t.t !== 'resource') throw new UnsupportedComponent('resource.drop of a non-resource');
              let tramp = this.drops.get(t.rt);
              if (tramp === undefined) this.drops.set(t.rt, (tramp = this.trampolines.push({ k: 'drop', rt: t.rt }) - 1));
              scope.coreFuncs.push({ tramp });
            } else throw new UnsupportedComponent(`canonical built-in 0x${op.toString(16)}`);
          });
          break;
        case 10:
          s.each(() => {
            const name = s.externName();
            const desc = readExternDesc(s);
            if (!args) {
              if (desc.s !== 'instance') throw new UnsupportedComponent(`top-level import ${name} is not an instance`);
              scope.instances.push(this.importInstance(name, at(scope.types, desc.i, 'type'), scope));
              return;
            }
            if (desc.s === 'type-eq') {
              scope.types.push(at(scope.types, desc.i, 'type'));
              return;
            }
            const arg = args.get(name);
            if (!arg) throw new UnsupportedComponent(`nested component import ${name} has no argument`);
            const want = desc.s === 'type-sub-resource' ? 'type' : desc.s;
            if (arg.s !== want) throw new UnsupportedComponent(`nested component import ${name}: expected a ${want}, got a ${arg.s}`);
            this.pushItem(scope, arg);
          });
          break;
        case 11:
          s.each(() => {
            const name = s.externName();
            const item = this.sortIdx(s, scope);
            optional(s, () => readExternDesc(s));
            exports.set(name, item);
            this.pushItem(scope, item);
          });
          break;
        default:
          throw new UnsupportedComponent(`section ${id} (${id === 9 ? 'start function' : id === 12 ? 'values' : 'unknown'})`);
      }
      r.pos = sectionEnd;
    }
    return exports;
  }
}

/**
 * Plans a component, or throws `UnsupportedComponent` (caller falls back to jco) when it uses a
 * construct outside the plan's coverage.
 */
export function planComponent(bytes: Uint8Array): PlannedComponent {
  const p = new Planner(bytes);
  let top: Map<string, Item>;
  try {
    top = p.component(0, bytes.length, undefined, undefined);
  } catch (err) {
    // A truncated or malformed binary: let jco (the fallback) report it in its own words.
    if (err instanceof RangeError) throw new UnsupportedComponent(`malformed component: ${err.message}`);
    throw err;
  }
  const exports: Array<readonly [string, Array<readonly [string, number]>]> = [];
  const functions: Array<readonly [string, number]> = [];
  for (const [name, item] of top) {
    if (item.s === 'func') {
      if (item.v.f !== 'lifted') throw new UnsupportedComponent(`export ${name} re-exports an import`);
      functions.push([lowerCamel(name), item.v.lift] as const);
      continue;
    }
    if (item.s !== 'instance') continue;
    const funcs: Array<readonly [string, number]> = [];
    for (const [fname, fi] of item.v.exports) {
      if (fi.s !== 'func') continue;
      if (fi.v.f !== 'lifted') throw new UnsupportedComponent(`export ${name}#${fname} re-exports an import`);
      funcs.push([lowerCamel(fname), fi.v.lift] as const);
    }
    exports.push([name, funcs] as const);
  }
  const plan: LinkPlan = elideShims({
    format: 1,
    modules: p.modules,
    instances: p.instances,
    trampolines: p.trampolines,
    lifts: p.lifts,
    resources: p.resources,
    exports,
    functions,
  }, p.files);
  return { plan, files: p.files, imports: [...p.imports].sort(), exports: exports.map(([n]) => n) };
}
