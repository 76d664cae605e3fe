/**
 * The WASI interfaces guests import directly. componentize-js exposes every interface of the world (and
 * its dependencies) as a module named by its versioned WIT name; only what guests use is declared here.
 */
declare module 'wasi:cli/environment@0.2.10' {
  export function getEnvironment(): Array<[string, string]>;
}

declare module 'wasi:filesystem/preopens@0.2.10' {
  interface InputStream {
    blockingRead(len: bigint): Uint8Array;
  }
  interface Descriptor {
    openAt(pathFlags: { symlinkFollow?: boolean }, path: string, openFlags: Record<string, boolean>, flags: { read?: boolean }): Descriptor;
    stat(): { size: bigint };
    readViaStream(offset: bigint): InputStream;
  }
  export function getDirectories(): Array<[Descriptor, string]>;
}

declare module 'wasi:http/types@0.2.10' {
  /** A wasi:http `fields` resource; `[Symbol.dispose]` drops its handle. */
  export class Fields {
    constructor();
    entries(): Array<[string, Uint8Array]>;
    [Symbol.dispose](): void;
  }
}
