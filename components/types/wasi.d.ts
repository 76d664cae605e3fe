/** The WASI imports guests call directly (componentize-js binds them by their versioned names). */
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
