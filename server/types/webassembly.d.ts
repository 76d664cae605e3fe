/**
 * The WebAssembly JS API surface spinet uses. TypeScript ships these types only in lib.dom, which a
 * Node program should not pull in, and @types/node 20 does not declare them.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
    static exports(module: Module): Array<{ name: string; kind: string }>;
    static imports(module: Module): Array<{ module: string; name: string; kind: string }>;
  }
  class Instance {
    constructor(module: Module, importObject?: Imports);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class RuntimeError extends Error {}
  class CompileError extends Error {}
  class LinkError extends Error {}
  type Imports = Record<string, Record<string, unknown>>;
  type BufferSource = ArrayBufferView | ArrayBuffer;
  function compile(bytes: BufferSource): Promise<Module>;
  function validate(bytes: BufferSource): boolean;
  const promising: ((f: unknown) => unknown) | undefined;
}
