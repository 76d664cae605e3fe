/**
 * wasi:filesystem (types, preopens) for guests: a read-only view of the component's mounted files,
 * preopened at guest `/` as Spin does.
 *
 * The guest sees a virtual tree built from its `MountedFile` list (the files plus the directories
 * their guest paths imply) and nothing else. Paths are resolved in that tree only, never on the host,
 * so `..`, absolute paths and host symlinks cannot reach another host file; the host is touched only
 * to open or stat a mounted file's own `hostPath`, with `O_NOFOLLOW` so a symlink swapped in later is
 * refused rather than followed.
 *
 * One jco `imports` object serves every instance on a worker, so the classes here are stateless
 * exports and the running instance's filesystem is installed with `setActiveFilesystem()`. Every
 * descriptor captures the session it was created in, so it never sees another instance's files, and
 * ending the session closes every host fd it opened (a guest that leaks descriptors leaks nothing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Buffer } from 'node:buffer';
import { InputStream } from './wasi-io.js';
import type { ByteSource, IoError, WitResult } from './wasi-io.js';
import type { MountedFile } from '../manifest/types.js';

/** WIT `error-code` (the subset this read-only filesystem can produce is listed first). */
export type ErrorCode =
  | 'access'
  | 'bad-descriptor'
  | 'insufficient-memory'
  | 'invalid'
  | 'io'
  | 'is-directory'
  | 'loop'
  | 'name-too-long'
  | 'no-entry'
  | 'not-directory'
  | 'not-permitted'
  | 'overflow'
  | 'read-only'
  | 'unsupported'
  | 'would-block'
  | 'already'
  | 'busy'
  | 'deadlock'
  | 'quota'
  | 'exist'
  | 'file-too-large'
  | 'illegal-byte-sequence'
  | 'in-progress'
  | 'interrupted'
  | 'too-many-links'
  | 'message-size'
  | 'no-device'
  | 'no-lock'
  | 'insufficient-space'
  | 'not-empty'
  | 'not-recoverable'
  | 'no-tty'
  | 'no-such-device'
  | 'pipe'
  | 'invalid-seek'
  | 'text-file-busy'
  | 'cross-device';

/** WIT `descriptor-type` (only `directory` and `regular-file` exist in the virtual tree). */
export type DescriptorType =
  | 'unknown'
  | 'block-device'
  | 'character-device'
  | 'directory'
  | 'fifo'
  | 'symbolic-link'
  | 'regular-file'
  | 'socket';

/** WIT `descriptor-flags` as jco passes flags: an object of booleans. */
export interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}

/** WIT `path-flags`. */
export interface PathFlags {
  symlinkFollow?: boolean;
}

/** WIT `open-flags`. */
export interface OpenFlags {
  create?: boolean;
  directory?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
}

/** WIT `datetime` (wall clock). */
export interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}

/** WIT `descriptor-stat`. */
export interface DescriptorStat {
  type: DescriptorType;
  linkCount: bigint;
  size: bigint;
  dataAccessTimestamp: Datetime | undefined;
  dataModificationTimestamp: Datetime | undefined;
  statusChangeTimestamp: Datetime | undefined;
}

/** WIT `directory-entry`. */
export interface DirectoryEntry {
  type: DescriptorType;
  name: string;
}

/** WIT `metadata-hash-value`. */
export interface MetadataHashValue {
  lower: bigint;
  upper: bigint;
}

type Result<T> = WitResult<T, ErrorCode>;

/** Open host files one instance may hold at once: the worker shares the gateway's fd table. */
export const DEFAULT_MAX_OPEN_FILES = 256;

/** Per-read allocation bound: a guest asking for 2^64 bytes must not make us allocate them. */
const MAX_READ = 4 * 1024 * 1024;

const U64_MASK = (1n << 64n) - 1n;
const NS_PER_S = 1_000_000_000n;

function ok<T>(val: T): { tag: 'ok'; val: T } {
  return { tag: 'ok', val };
}

function err(code: ErrorCode): { tag: 'err'; val: ErrorCode } {
  return { tag: 'err', val: code };
}

const READ_ONLY = Object.freeze(err('read-only'));
const BAD_DESCRIPTOR = Object.freeze(err('bad-descriptor'));
const UNIT_OK = Object.freeze(ok(undefined));

// ---------------------------------------------------------------------------------------------
// The virtual tree

interface DirNode {
  readonly kind: 'directory';
  readonly id: number;
  readonly parent: DirNode | undefined;
  // A Map, not an object, so names like `__proto__` or `constructor` are plain names.
  readonly children: Map<string, TreeNode>;
}

interface FileNode {
  readonly kind: 'file';
  readonly id: number;
  readonly parent: DirNode;
  hostPath: string;
}

type TreeNode = DirNode | FileNode;

function nodeType(node: TreeNode): DescriptorType {
  return node.kind === 'directory' ? 'directory' : 'regular-file';
}

/**
 * Resolves a guest path relative to `start` purely in the virtual tree. Absolute paths and `..`
 * above the tree's root are refused; nothing here touches the host.
 */
function resolvePath(start: DirNode, guestPath: unknown): TreeNode | ErrorCode {
  if (typeof guestPath !== 'string') return 'invalid';
  if (guestPath.length === 0) return 'no-entry';
  // A NUL would truncate the name in any C API a path might later reach; WASI treats it as invalid.
  if (guestPath.includes('\0')) return 'invalid';
  if (guestPath.startsWith('/')) return 'not-permitted';
  let node: TreeNode = start;
  for (const part of guestPath.split('/')) {
    // Any further component (even `.`, `..` or a trailing slash) needs a directory, as in POSIX.
    if (node.kind === 'file') return 'not-directory';
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!node.parent) return 'not-permitted';
      node = node.parent;
      continue;
    }
    const child: TreeNode | undefined = node.children.get(part);
    if (!child) return 'no-entry';
    node = child;
  }
  return node;
}

function errnoToCode(e: unknown): ErrorCode {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no-entry';
    case 'ELOOP':
      return 'loop';
    case 'EACCES':
      return 'access';
    case 'EPERM':
      return 'not-permitted';
    case 'EISDIR':
      return 'is-directory';
    case 'ENOTDIR':
      return 'not-directory';
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
      return 'insufficient-memory';
    case 'EINVAL':
      return 'invalid';
    case 'EOVERFLOW':
      return 'overflow';
    case 'ENAMETOOLONG':
      return 'name-too-long';
    default:
      return 'io';
  }
}

/** What a mounted path must still be on the host: a regular file, not something swapped in. */
function checkRegular(st: fs.BigIntStats): ErrorCode | undefined {
  if (st.isFile()) return undefined;
  if (st.isSymbolicLink()) return 'loop';
  if (st.isDirectory()) return 'is-directory';
  return 'io';
}

function toDatetime(ns: bigint): Datetime {
  // `datetime.seconds` is a u64: pre-1970 timestamps are clamped rather than wrapped.
  const n = ns < 0n ? 0n : ns;
  return { seconds: n / NS_PER_S, nanoseconds: Number(n % NS_PER_S) };
}

let treeSerial = 0;

// ---------------------------------------------------------------------------------------------
// Host files, sessions, and the per-component filesystem

/**
 * One host fd, shared by a descriptor and the streams read from it. Closed when the last of them is
 * dropped or when its session ends, whichever comes first; after closing, the number is never used
 * again (the OS may have handed it to another file).
 */
class OpenFile {
  #fd: number | undefined;
  #refs = 1;
  readonly #onClose: (file: OpenFile) => void;
  constructor(fd: number, onClose: (file: OpenFile) => void) {
    this.#fd = fd;
    this.#onClose = onClose;
  }
  get fd(): number | undefined {
    return this.#fd;
  }
  retain(): void {
    this.#refs++;
  }
  release(): void {
    if (--this.#refs <= 0) this.close();
  }
  close(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      fs.closeSync(fd);
    } catch {
      // Closing a read-only fd cannot lose data; nothing useful to report.
    }
    this.#onClose(this);
  }
}

/**
 * The host fds one guest instance opened. `end()` closes them all, so a guest that never drops its
 * descriptors leaks nothing past its instance; descriptors of an ended session fail with
 * `bad-descriptor`.
 */
export class FilesystemSession {
  readonly #filesystem: MountedFilesystem;
  readonly #files = new Set<OpenFile>();
  readonly #maxOpenFiles: number;
  readonly #onEnd: (s: FilesystemSession) => void;
  #ended = false;

  /** Host-internal: sessions come from `MountedFilesystem.beginSession()`. */
  constructor(filesystem: MountedFilesystem, maxOpenFiles: number, onEnd: (s: FilesystemSession) => void) {
    this.#filesystem = filesystem;
    this.#maxOpenFiles = maxOpenFiles;
    this.#onEnd = onEnd;
  }

  /** The filesystem whose tree this session's descriptors see. */
  get filesystem(): MountedFilesystem {
    return this.#filesystem;
  }

  /** Whether `end()` has run. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Host fds currently open in this session. */
  get openFileCount(): number {
    return this.#files.size;
  }

  /** Host-internal: opens a mounted file's host path read-only without following a final symlink. */
  openHostFile(hostPath: string): OpenFile | ErrorCode {
    if (this.#ended) return 'bad-descriptor';
    if (this.#files.size >= this.#maxOpenFiles) return 'insufficient-memory';
    let fd: number;
    try {
      // O_NONBLOCK: if a FIFO were swapped in, opening it must not hang the worker.
      fd = fs.openSync(hostPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (e) {
      return errnoToCode(e);
    }
    let bad: ErrorCode | undefined;
    try {
      bad = checkRegular(fs.fstatSync(fd, { bigint: true }));
    } catch (e) {
      bad = errnoToCode(e);
    }
    if (bad !== undefined) {
      fs.closeSync(fd);
      return bad;
    }
    const file = new OpenFile(fd, (f) => this.#files.delete(f));
    this.#files.add(file);
    return file;
  }

  /** Closes every host fd opened in this session; idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const file of [...this.#files]) file.close();
    this.#files.clear();
    this.#onEnd(this);
  }
}

/** Options for `MountedFilesystem`. */
export interface MountedFilesystemOptions {
  /** Host fds one session may hold at once (default `DEFAULT_MAX_OPEN_FILES`). */
  readonly maxOpenFiles?: number;
}

/**
 * A component's files as a virtual read-only tree, built once per component config. Per instance,
 * call `beginSession()` before the guest runs and end the session afterwards.
 */
export class MountedFilesystem {
  readonly #root: DirNode;
  readonly #fileCount: number;
  readonly #serial = ++treeSerial;
  /** Directories are virtual: they report the time the tree was built. */
  readonly #builtAtNs = BigInt(Date.now()) * 1_000_000n;
  readonly #maxOpenFiles: number;
  readonly #sessions = new Set<FilesystemSession>();
  #current: FilesystemSession | undefined;

  /**
   * Builds the tree. Throws on guest paths that are not absolute and normalised, on non-absolute
   * host paths, and on a path that would be both a file and a directory; a later mount of the same
   * guest path replaces an earlier one, as copying files in order would.
   */
  constructor(files: readonly MountedFile[], options: MountedFilesystemOptions = {}) {
    let nextId = 0;
    const root: DirNode = { kind: 'directory', id: nextId++, parent: undefined, children: new Map() };
    const fileNodes = new Set<FileNode>();
    for (const file of files) {
      const { guestPath, hostPath } = file;
      if (typeof guestPath !== 'string' || !guestPath.startsWith('/') || guestPath.includes('\0')) {
        throw new TypeError(`mounted file guest path must be absolute: ${JSON.stringify(guestPath)}`);
      }
      if (typeof hostPath !== 'string' || !path.isAbsolute(hostPath) || hostPath.includes('\0')) {
        throw new TypeError(`mounted file host path must be absolute: ${JSON.stringify(hostPath)}`);
      }
      const parts = guestPath.split('/').filter((p) => p !== '');
      if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) {
        throw new TypeError(`mounted file guest path is not a normalised file path: ${JSON.stringify(guestPath)}`);
      }
      let dir = root;
      for (let i = 0; i < parts.length - 1; i++) {
        const part = parts[i]!;
        const existing = dir.children.get(part);
        if (existing?.kind === 'file') {
          throw new TypeError(`mounted file ${guestPath} lies under /${parts.slice(0, i + 1).join('/')}, which is a mounted file`);
        }
        if (existing) {
          dir = existing;
        } else {
          const created: DirNode = { kind: 'directory', id: nextId++, parent: dir, children: new Map() };
          dir.children.set(part, created);
          dir = created;
        }
      }
      const name = parts[parts.length - 1]!;
      const existing = dir.children.get(name);
      if (existing?.kind === 'directory') {
        throw new TypeError(`mounted file ${guestPath} would replace a directory of other mounted files`);
      }
      if (existing) {
        existing.hostPath = hostPath;
      } else {
        const node: FileNode = { kind: 'file', id: nextId++, parent: dir, hostPath };
        dir.children.set(name, node);
        fileNodes.add(node);
      }
    }
    this.#root = root;
    this.#fileCount = fileNodes.size;
    const max = options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxOpenFiles must be a positive integer, got ${max}`);
    this.#maxOpenFiles = max;
  }

  /** Number of distinct guest-visible files. */
  get fileCount(): number {
    return this.#fileCount;
  }

  /** Host fds open across all live sessions. */
  get openFileCount(): number {
    let n = 0;
    for (const s of this.#sessions) n += s.openFileCount;
    return n;
  }

  /** Host-internal: the tree's root directory. */
  get root(): DirNode {
    return this.#root;
  }

  /** Host-internal: identifies this tree in metadata hashes. */
  get serial(): number {
    return this.#serial;
  }

  /** Host-internal: the timestamp virtual directories report. */
  get builtAtNs(): bigint {
    return this.#builtAtNs;
  }

  /** Starts tracking the fds of one guest instance; `preopens.getDirectories` uses the newest session. */
  beginSession(): FilesystemSession {
    const session = new FilesystemSession(this, this.#maxOpenFiles, (s) => {
      this.#sessions.delete(s);
      if (this.#current === s) this.#current = undefined;
    });
    this.#sessions.add(session);
    this.#current = session;
    return session;
  }

  /** Host-internal: the session new preopens belong to, starting one if the executor did not. */
  currentSession(): FilesystemSession {
    return this.#current ?? this.beginSession();
  }

  /** Ends every live session, closing all host fds this filesystem opened (e.g. when its config is dropped). */
  closeAll(): void {
    for (const s of [...this.#sessions]) s.end();
  }
}

let active: MountedFilesystem | undefined;

/** Installs the running instance's filesystem (undefined: the component has no files). */
export function setActiveFilesystem(filesystem: MountedFilesystem | undefined): void {
  active = filesystem;
}

// ---------------------------------------------------------------------------------------------
// Streams

/** Reads a host file at increasing positions; ends at EOF or when its fd is closed. */
class FileSource implements ByteSource {
  readonly #file: OpenFile;
  #position: bigint;
  #failure: string | undefined;
  #released = false;
  constructor(file: OpenFile, offset: bigint) {
    this.#file = file;
    this.#position = offset;
    file.retain();
  }
  get failure(): string | undefined {
    return this.#failure;
  }
  ready(): boolean {
    return true;
  }
  block(): void {
    // Regular files never block: every read returns data or EOF at once.
  }
  take(max: number): Uint8Array | null {
    if (this.#failure !== undefined) return null;
    const fd = this.#file.fd;
    if (fd === undefined) {
      this.#failure = 'file was closed (its descriptor or instance ended)';
      return null;
    }
    const buf = Buffer.allocUnsafe(max);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, max, this.#position);
    } catch (e) {
      this.#failure = `read failed: ${errnoToCode(e)}`;
      return null;
    }
    if (n === 0) return null;
    this.#position += BigInt(n);
    return new Uint8Array(buf.buffer, buf.byteOffset, n);
  }
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#file.release();
  }
}

/** An input stream over a mounted file; dropping it releases its hold on the host fd. */
class FileInputStream extends InputStream {
  readonly #source: FileSource;
  constructor(source: FileSource) {
    super(source);
    this.#source = source;
  }
  override [Symbol.dispose](): void {
    super[Symbol.dispose]();
    this.#source.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Resources

/** WIT `directory-entry-stream`: a snapshot of one virtual directory, sorted by name. */
export class DirectoryEntryStream {
  readonly #session: FilesystemSession;
  readonly #entries: DirectoryEntry[];
  #next = 0;
  /** Host-internal: streams come from `Descriptor.readDirectory`. */
  constructor(session: FilesystemSession, entries: DirectoryEntry[]) {
    this.#session = session;
    this.#entries = entries;
  }
  /** WIT `read-directory-entry`: the next entry, or undefined at the end. */
  readDirectoryEntry(): Result<DirectoryEntry | undefined> {
    if (this.#session.ended) return BAD_DESCRIPTOR;
    const entry = this.#entries[this.#next];
    if (entry) this.#next++;
    return ok(entry ? { ...entry } : undefined);
  }
  [Symbol.dispose](): void {
    this.#next = this.#entries.length;
  }
}

/** WIT `descriptor`: a file or directory of the virtual tree, bound to the session that opened it. */
export class Descriptor {
  readonly #session: FilesystemSession;
  readonly #node: TreeNode;
  readonly #flags: Required<DescriptorFlags>;
  #file: OpenFile | undefined;

  /** Host-internal: descriptors come from `preopens.getDirectories` and `openAt`. */
  constructor(session: FilesystemSession, node: TreeNode, flags: DescriptorFlags, file?: OpenFile) {
    this.#session = session;
    this.#node = node;
    // Only reading and the (no-op on a read-only file) sync flags can have been granted.
    this.#flags = {
      read: flags.read === true,
      write: false,
      fileIntegritySync: flags.fileIntegritySync === true,
      dataIntegritySync: flags.dataIntegritySync === true,
      requestedWriteSync: flags.requestedWriteSync === true,
      mutateDirectory: false,
    };
    this.#file = file;
  }

  /** The directory to resolve paths from, or the error a path operation on this descriptor gets. */
  #dir(): DirNode | ErrorCode {
    if (this.#session.ended) return 'bad-descriptor';
    return this.#node.kind === 'directory' ? this.#node : 'not-directory';
  }

  /** The open fd of a file descriptor that may be read, or the error reading it gets. */
  #readableFd(): number | ErrorCode {
    if (this.#session.ended) return 'bad-descriptor';
    if (this.#node.kind === 'directory') return 'is-directory';
    if (!this.#flags.read) return 'bad-descriptor';
    return this.#file?.fd ?? 'bad-descriptor';
  }

  #fileStat(): fs.BigIntStats | ErrorCode {
    if (this.#session.ended) return 'bad-descriptor';
    const fd = this.#file?.fd;
    if (fd === undefined) return 'bad-descriptor';
    try {
      return fs.fstatSync(fd, { bigint: true });
    } catch (e) {
      return errnoToCode(e);
    }
  }

  /** Host-internal: the host metadata of a node, by path (no fd needed; never follows a symlink). */
  #nodeStat(node: TreeNode): fs.BigIntStats | ErrorCode | undefined {
    if (node.kind === 'directory') return undefined;
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(node.hostPath, { bigint: true });
    } catch (e) {
      return errnoToCode(e);
    }
    return checkRegular(st) ?? st;
  }

  #statOf(node: TreeNode, st: fs.BigIntStats | undefined): DescriptorStat {
    if (!st) {
      const t = toDatetime(this.#session.filesystem.builtAtNs);
      return {
        type: nodeType(node),
        linkCount: 1n,
        size: 0n,
        dataAccessTimestamp: t,
        dataModificationTimestamp: { ...t },
        statusChangeTimestamp: { ...t },
      };
    }
    return {
      type: 'regular-file',
      // The tree has no hard links, whatever the host file's link count.
      linkCount: 1n,
      size: st.size,
      dataAccessTimestamp: toDatetime(st.atimeNs),
      dataModificationTimestamp: toDatetime(st.mtimeNs),
      statusChangeTimestamp: toDatetime(st.ctimeNs),
    };
  }

  #hashOf(node: TreeNode, st: fs.BigIntStats | undefined): MetadataHashValue {
    // Same object ⇒ same hash (tree + node); a changed file (mtime, size) gets a different one.
    const upper = ((BigInt(this.#session.filesystem.serial) << 32n) | BigInt(node.id)) & U64_MASK;
    const lower = st ? (st.mtimeNs ^ (st.size << 20n) ^ st.ino) & U64_MASK : this.#session.filesystem.builtAtNs & U64_MASK;
    return { lower, upper };
  }

  #resolve(pathArg: unknown): TreeNode | ErrorCode {
    const dir = this.#dir();
    return typeof dir === 'string' ? dir : resolvePath(dir, pathArg);
  }

  /** WIT `read-via-stream`. */
  readViaStream(offset: bigint): Result<InputStream> {
    const fd = this.#readableFd();
    if (typeof fd === 'string') return err(fd);
    return ok(new FileInputStream(new FileSource(this.#file!, offset)));
  }

  /** WIT `write-via-stream`: the filesystem is read-only. */
  writeViaStream(_offset: bigint): Result<never> {
    return READ_ONLY;
  }

  /** WIT `append-via-stream`: the filesystem is read-only. */
  appendViaStream(): Result<never> {
    return READ_ONLY;
  }

  /** WIT `advise`: accepted and ignored. */
  advise(_offset: bigint, _length: bigint, _advice: string): Result<undefined> {
    return this.#session.ended ? BAD_DESCRIPTOR : UNIT_OK;
  }

  /** WIT `sync-data`: nothing is ever written, so there is nothing to sync. */
  syncData(): Result<undefined> {
    return this.#session.ended ? BAD_DESCRIPTOR : UNIT_OK;
  }

  /** WIT `get-flags`. */
  getFlags(): Result<Required<DescriptorFlags>> {
    return this.#session.ended ? BAD_DESCRIPTOR : ok({ ...this.#flags });
  }

  /** WIT `get-type`. */
  getType(): Result<DescriptorType> {
    return this.#session.ended ? BAD_DESCRIPTOR : ok(nodeType(this.#node));
  }

  /** WIT `set-size`: the filesystem is read-only. */
  setSize(_size: bigint): Result<never> {
    return READ_ONLY;
  }

  /** WIT `set-times`: the filesystem is read-only. */
  setTimes(_atime: unknown, _mtime: unknown): Result<never> {
    return READ_ONLY;
  }

  /** WIT `read`: up to `length` bytes at `offset`; the flag is true once end of file was reached. */
  read(length: bigint, offset: bigint): Result<[Uint8Array, boolean]> {
    const fd = this.#readableFd();
    if (typeof fd === 'string') return err(fd);
    const want = length > BigInt(MAX_READ) ? MAX_READ : Number(length);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    let eof = false;
    try {
      // pread may return short reads; fill the buffer so a short result always means end of file.
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, offset + BigInt(got));
        if (n === 0) {
          eof = true;
          break;
        }
        got += n;
      }
    } catch (e) {
      return err(errnoToCode(e));
    }
    return ok<[Uint8Array, boolean]>([new Uint8Array(buf.buffer, buf.byteOffset, got), eof]);
  }

  /** WIT `write`: the filesystem is read-only. */
  write(_buffer: Uint8Array, _offset: bigint): Result<never> {
    return READ_ONLY;
  }

  /** WIT `read-directory`: the entries of a virtual directory (`.` and `..` are not listed). */
  readDirectory(): Result<DirectoryEntryStream> {
    const dir = this.#dir();
    if (typeof dir === 'string') return err(dir);
    const names = [...dir.children.keys()].sort();
    const entries = names.map((name) => ({ type: nodeType(dir.children.get(name)!), name }));
    return ok(new DirectoryEntryStream(this.#session, entries));
  }

  /** WIT `sync`: nothing is ever written, so there is nothing to sync. */
  sync(): Result<undefined> {
    return this.#session.ended ? BAD_DESCRIPTOR : UNIT_OK;
  }

  /** WIT `create-directory-at`: the filesystem is read-only. */
  createDirectoryAt(_path: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `stat`. */
  stat(): Result<DescriptorStat> {
    if (this.#session.ended) return BAD_DESCRIPTOR;
    if (this.#node.kind === 'directory') return ok(this.#statOf(this.#node, undefined));
    const st = this.#fileStat();
    return typeof st === 'string' ? err(st) : ok(this.#statOf(this.#node, st));
  }

  /** WIT `stat-at`. */
  statAt(_pathFlags: PathFlags, pathArg: string): Result<DescriptorStat> {
    const node = this.#resolve(pathArg);
    if (typeof node === 'string') return err(node);
    const st = this.#nodeStat(node);
    return typeof st === 'string' ? err(st) : ok(this.#statOf(node, st));
  }

  /** WIT `set-times-at`: the filesystem is read-only. */
  setTimesAt(_pathFlags: PathFlags, _path: string, _atime: unknown, _mtime: unknown): Result<never> {
    return READ_ONLY;
  }

  /** WIT `link-at`: the filesystem is read-only. */
  linkAt(_oldPathFlags: PathFlags, _oldPath: string, _newDescriptor: Descriptor, _newPath: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `open-at`: opens a file or directory of the tree; anything that would write is refused. */
  openAt(_pathFlags: PathFlags, pathArg: string, openFlags: OpenFlags, flags: DescriptorFlags): Result<Descriptor> {
    if (this.#session.ended) return BAD_DESCRIPTOR;
    if (openFlags?.create || openFlags?.truncate || flags?.write || flags?.mutateDirectory) return READ_ONLY;
    const node = this.#resolve(pathArg);
    if (typeof node === 'string') return err(node);
    if (node.kind === 'directory') return ok(new Descriptor(this.#session, node, flags ?? {}));
    if (openFlags?.directory) return err('not-directory');
    const file = this.#session.openHostFile(node.hostPath);
    if (typeof file === 'string') return err(file);
    return ok(new Descriptor(this.#session, node, flags ?? {}, file));
  }

  /** WIT `readlink-at`: the tree has no symlinks. */
  readlinkAt(pathArg: string): Result<string> {
    const node = this.#resolve(pathArg);
    return err(typeof node === 'string' ? node : 'invalid');
  }

  /** WIT `remove-directory-at`: the filesystem is read-only. */
  removeDirectoryAt(_path: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `rename-at`: the filesystem is read-only. */
  renameAt(_oldPath: string, _newDescriptor: Descriptor, _newPath: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `symlink-at`: the filesystem is read-only. */
  symlinkAt(_oldPath: string, _newPath: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `unlink-file-at`: the filesystem is read-only. */
  unlinkFileAt(_path: string): Result<never> {
    return READ_ONLY;
  }

  /** WIT `is-same-object`: same node of the same tree. */
  isSameObject(other: Descriptor): boolean {
    return (
      other instanceof Descriptor &&
      other.#node === this.#node &&
      other.#session.filesystem === this.#session.filesystem
    );
  }

  /** WIT `metadata-hash`. */
  metadataHash(): Result<MetadataHashValue> {
    if (this.#session.ended) return BAD_DESCRIPTOR;
    if (this.#node.kind === 'directory') return ok(this.#hashOf(this.#node, undefined));
    const st = this.#fileStat();
    return typeof st === 'string' ? err(st) : ok(this.#hashOf(this.#node, st));
  }

  /** WIT `metadata-hash-at`. */
  metadataHashAt(_pathFlags: PathFlags, pathArg: string): Result<MetadataHashValue> {
    const node = this.#resolve(pathArg);
    if (typeof node === 'string') return err(node);
    const st = this.#nodeStat(node);
    return typeof st === 'string' ? err(st) : ok(this.#hashOf(node, st));
  }

  /** Resource drop: releases the host fd (streams read from it keep it until they are dropped). */
  [Symbol.dispose](): void {
    const file = this.#file;
    this.#file = undefined;
    file?.release();
  }
}

/** WIT `filesystem-error-code`: stream errors here carry no filesystem error code. */
export function filesystemErrorCode(_err: IoError): ErrorCode | undefined {
  return undefined;
}

/** `wasi:filesystem/types` for jco's imports object. */
export const types = {
  Descriptor,
  DirectoryEntryStream,
  filesystemErrorCode,
};

/** `wasi:filesystem/preopens` for jco's imports object. */
export const preopens = {
  /** The component's files at `/`, or nothing when it has none. */
  getDirectories(): Array<[Descriptor, string]> {
    const filesystem = active;
    if (!filesystem || filesystem.fileCount === 0) return [];
    return [[new Descriptor(filesystem.currentSession(), filesystem.root, { read: true }), '/']];
  },
};
