/**
 * wasi:filesystem host: the guest sees exactly its mounted files, read-only, and no host fd outlives
 * the instance. Calls the classes directly the way jco's glue does.
 */
import t from 'tap';
import * as tap from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { InputStream, IoError } from '../../server/host/wasi-io.js';
import type { WitResult } from '../../server/host/wasi-io.js';
import {
  Descriptor,
  DirectoryEntryStream,
  MountedFilesystem,
  filesystemErrorCode,
  preopens,
  setActiveFilesystem,
  types,
} from '../../server/host/wasi-filesystem.js';
import type { ErrorCode } from '../../server/host/wasi-filesystem.js';
import type { MountedFile } from '../../server/manifest/types.js';

const HELLO = 'hello, world\n';
const SECRET = 'TOP SECRET';
const DEEP = '{"deep":true}';
const APP = 'console.log(1)';
const CSS = 'body{}';
const BIG = Buffer.alloc(100_000, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 8)) & 0xff;

const READ = { read: true };
const NO_FOLLOW = { symlinkFollow: false };
const NO_OPEN_FLAGS = {};

/** A test directory with mounted and unmounted files, and the MountedFile list for it. */
function fixture(t: { testdir: typeof tap.testdir }): { dir: string; files: MountedFile[] } {
  const dir = fs.realpathSync(
    t.testdir({
      'hello.txt': HELLO,
      'secret.txt': SECRET,
      'big.bin': BIG,
      data: { nested: { 'deep.json': DEEP }, 'other.txt': 'not mounted' },
      assets: { 'app.js': APP, 'site.css': CSS, 'unlisted.js': 'not mounted' },
    }),
  );
  const files: MountedFile[] = [
    { guestPath: '/hello.txt', hostPath: path.join(dir, 'hello.txt') },
    { guestPath: '/big.bin', hostPath: path.join(dir, 'big.bin') },
    { guestPath: '/data/nested/deep.json', hostPath: path.join(dir, 'data/nested/deep.json') },
    { guestPath: '/static/app.js', hostPath: path.join(dir, 'assets/app.js') },
    { guestPath: '/static/css/site.css', hostPath: path.join(dir, 'assets/site.css') },
  ];
  return { dir, files };
}

function ok<T>(r: WitResult<T, ErrorCode>): T {
  if (r.tag === 'err') throw new Error(`expected ok, got error ${r.val}`);
  return r.val;
}

function errOf(r: WitResult<unknown, ErrorCode>): ErrorCode | 'ok' {
  return r.tag === 'err' ? r.val : 'ok';
}

function rootOf(mfs: MountedFilesystem | undefined): Descriptor {
  setActiveFilesystem(mfs);
  const dirs = preopens.getDirectories();
  const first = dirs[0];
  if (!first) throw new Error('no preopen');
  return first[0];
}

function open(dir: Descriptor, p: string, flags: { read?: boolean } = READ): Descriptor {
  return ok(dir.openAt(NO_FOLLOW, p, NO_OPEN_FLAGS, flags));
}

function readAll(stream: InputStream, chunk = 7n): { data: string; end: unknown } {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const r = stream.blockingRead(chunk);
    if (!(r instanceof Uint8Array)) return { data: Buffer.concat(parts).toString('latin1'), end: r };
    parts.push(r);
  }
  throw new Error('stream never ended');
}

function listDir(d: Descriptor): Array<{ type: string; name: string }> {
  const stream = ok(d.readDirectory());
  const out: Array<{ type: string; name: string }> = [];
  for (;;) {
    const e = ok(stream.readDirectoryEntry());
    if (!e) return out;
    out.push(e);
  }
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

t.afterEach(() => setActiveFilesystem(undefined));

t.test('exports for jco', async (t) => {
  t.equal(types.Descriptor, Descriptor);
  t.equal(types.DirectoryEntryStream, DirectoryEntryStream);
  t.equal(types.filesystemErrorCode, filesystemErrorCode);
  t.equal(typeof preopens.getDirectories, 'function');
  t.equal(filesystemErrorCode(new IoError('x')), undefined);
});

t.test('preopens', async (t) => {
  const { files } = fixture(t);
  setActiveFilesystem(undefined);
  t.same(preopens.getDirectories(), [], 'no filesystem: no preopens');
  setActiveFilesystem(new MountedFilesystem([]));
  t.same(preopens.getDirectories(), [], 'a component without files gets no preopens');

  const mfs = new MountedFilesystem(files);
  t.equal(mfs.fileCount, 5);
  setActiveFilesystem(mfs);
  const dirs = preopens.getDirectories();
  t.equal(dirs.length, 1);
  t.ok(dirs[0]![0] instanceof Descriptor);
  t.equal(dirs[0]![1], '/');
  t.same(dirs[0]![0].getType(), { tag: 'ok', val: 'directory' });
  t.same(ok(dirs[0]![0].getFlags()), {
    read: true,
    write: false,
    fileIntegritySync: false,
    dataIntegritySync: false,
    requestedWriteSync: false,
    mutateDirectory: false,
  });
  mfs.closeAll();
});

t.test('read a whole file through read-via-stream', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const hello = open(root, 'hello.txt');
  const whole = readAll(ok(hello.readViaStream(0n)));
  t.equal(whole.data, HELLO);
  t.same(whole.end, { tag: 'err', val: { tag: 'closed' } }, 'stream ends with closed, not a failure');
  t.equal(readAll(ok(hello.readViaStream(7n))).data, HELLO.slice(7), 'offset is honoured');
  t.equal(readAll(ok(hello.readViaStream(1000n))).data, '', 'offset past the end: empty');

  const big = open(root, 'big.bin');
  const stream = ok(big.readViaStream(0n));
  t.ok(stream instanceof InputStream, 'stream is the wasi-io InputStream class');
  t.ok(Buffer.from(readAll(stream, 4096n).data, 'latin1').equals(BIG), '100 kB file read intact');
  t.equal(readAll(ok(open(root, 'static/app.js').readViaStream(0n))).data, APP, 'deeper mount destination');
  t.equal(readAll(ok(open(root, 'data/nested/deep.json').readViaStream(0n))).data, DEEP);
  t.equal(readAll(ok(open(root, 'static/css/site.css').readViaStream(0n))).data, CSS);
  t.equal(stream.subscribe().ready(), true, 'a file stream is always ready');
  mfs.closeAll();
});

t.test('read(length, offset) and end of file', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const hello = open(rootOf(mfs), 'hello.txt');
  const asText = (r: WitResult<[Uint8Array, boolean], ErrorCode>): [string, boolean] => {
    const [bytes, eof] = ok(r);
    return [Buffer.from(bytes).toString(), eof];
  };
  t.same(asText(hello.read(5n, 0n)), ['hello', false]);
  t.same(asText(hello.read(100n, 5n)), [HELLO.slice(5), true], 'short read means end of file');
  t.same(asText(hello.read(BigInt(HELLO.length), 0n)), [HELLO, false], 'exact length: eof not yet seen');
  t.same(asText(hello.read(1n, BigInt(HELLO.length))), ['', true]);
  t.same(asText(hello.read(4n, 1_000_000n)), ['', true], 'offset past the end');
  const big = open(rootOf(mfs), 'big.bin');
  const [bytes, eof] = ok(big.read((1n << 64n) - 1n, 0n));
  t.equal(bytes.length, BIG.length, 'a huge length is bounded, not allocated');
  t.ok(Buffer.from(bytes).equals(BIG));
  t.equal(eof, true);
  mfs.closeAll();
});

t.test('stat and stat-at', async (t) => {
  const { dir, files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const hostStat = fs.statSync(path.join(dir, 'hello.txt'), { bigint: true });
  const st = ok(open(root, 'hello.txt').stat());
  t.equal(st.type, 'regular-file');
  t.equal(st.size, BigInt(HELLO.length));
  t.equal(st.linkCount, 1n);
  t.same(st.dataModificationTimestamp, {
    seconds: hostStat.mtimeNs / 1_000_000_000n,
    nanoseconds: Number(hostStat.mtimeNs % 1_000_000_000n),
  });
  t.same(st.dataAccessTimestamp, {
    seconds: hostStat.atimeNs / 1_000_000_000n,
    nanoseconds: Number(hostStat.atimeNs % 1_000_000_000n),
  });

  t.equal(ok(root.statAt(NO_FOLLOW, 'big.bin')).size, BigInt(BIG.length));
  t.equal(ok(root.statAt(NO_FOLLOW, 'static/app.js')).size, BigInt(APP.length));
  t.equal(ok(root.statAt(NO_FOLLOW, 'data/nested/deep.json')).type, 'regular-file');
  t.equal(ok(root.statAt(NO_FOLLOW, 'data/nested')).type, 'directory');
  t.equal(ok(root.statAt(NO_FOLLOW, '.')).type, 'directory');
  const rootStat = ok(root.stat());
  t.equal(rootStat.type, 'directory');
  t.equal(rootStat.linkCount, 1n);
  t.type(rootStat.dataModificationTimestamp?.seconds, 'bigint');
  t.same(ok(open(root, 'static').stat()).type, 'directory');
  mfs.closeAll();
});

t.test('read-directory lists the implied directories and nothing else', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  t.same(listDir(root), [
    { type: 'regular-file', name: 'big.bin' },
    { type: 'directory', name: 'data' },
    { type: 'regular-file', name: 'hello.txt' },
    { type: 'directory', name: 'static' },
  ]);
  t.same(listDir(open(root, 'data')), [{ type: 'directory', name: 'nested' }], 'unmounted data/other.txt is absent');
  t.same(listDir(open(root, 'data/nested')), [{ type: 'regular-file', name: 'deep.json' }]);
  t.same(
    listDir(open(root, 'static')),
    [
      { type: 'regular-file', name: 'app.js' },
      { type: 'directory', name: 'css' },
    ],
    'two mounts share /static; unmounted assets/unlisted.js is absent',
  );
  t.same(listDir(open(root, 'static/css')), [{ type: 'regular-file', name: 'site.css' }]);
  const stream = ok(root.readDirectory());
  for (let i = 0; i < 4; i++) ok(stream.readDirectoryEntry());
  t.same(stream.readDirectoryEntry(), { tag: 'ok', val: undefined }, 'end of listing');
  t.same(stream.readDirectoryEntry(), { tag: 'ok', val: undefined }, 'stays at the end');
  mfs.closeAll();
});

t.test('hostile paths cannot leave the mounted files', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const table: Array<[string, ErrorCode]> = [
    ['..', 'not-permitted'],
    ['../..', 'not-permitted'],
    ['../hello.txt', 'not-permitted'],
    ['./..', 'not-permitted'],
    ['data/../..', 'not-permitted'],
    ['data/nested/../../../secret.txt', 'not-permitted'],
    ['static/../../etc/passwd', 'not-permitted'],
    ['/etc/passwd', 'not-permitted'],
    ['/hello.txt', 'not-permitted'],
    ['//hello.txt', 'not-permitted'],
    ['%2e%2e', 'no-entry'],
    ['%2e%2e/secret.txt', 'no-entry'],
    ['..\\secret.txt', 'no-entry'],
    ['secret.txt', 'no-entry'],
    ['static/../secret.txt', 'no-entry'],
    ['assets/app.js', 'no-entry'],
    ['data/other.txt', 'no-entry'],
    ['static/unlisted.js', 'no-entry'],
    ['__proto__', 'no-entry'],
    ['constructor', 'no-entry'],
    ['...', 'no-entry'],
    ['', 'no-entry'],
    ['hello.txt\0', 'invalid'],
    ['hello.txt\0/../../secret.txt', 'invalid'],
    ['\0', 'invalid'],
    ['hello.txt/', 'not-directory'],
    ['hello.txt/.', 'not-directory'],
    ['hello.txt/..', 'not-directory'],
    ['hello.txt/../secret.txt', 'not-directory'],
  ];
  for (const [p, code] of table) {
    const label = JSON.stringify(p);
    t.equal(errOf(root.openAt(NO_FOLLOW, p, NO_OPEN_FLAGS, READ)), code, `open-at ${label}`);
    t.equal(errOf(root.statAt(NO_FOLLOW, p)), code, `stat-at ${label}`);
    t.equal(errOf(root.metadataHashAt(NO_FOLLOW, p)), code, `metadata-hash-at ${label}`);
    t.equal(errOf(root.readlinkAt(p)), code, `readlink-at ${label}`);
  }
  t.equal(mfs.openFileCount, 0, 'no hostile open left a host fd behind');

  // Positive controls: the same resolver does allow `.`, `..` inside the tree and repeated slashes.
  t.equal(readAll(ok(open(root, './data/../hello.txt').readViaStream(0n))).data, HELLO);
  t.equal(readAll(ok(open(root, 'static//app.js').readViaStream(0n))).data, APP);
  const stat = open(root, 'static');
  t.equal(readAll(ok(open(stat, '../hello.txt').readViaStream(0n))).data, HELLO, '.. from a subdirectory stays in the tree');
  t.equal(ok(stat.statAt(NO_FOLLOW, '..')).type, 'directory');
  t.equal(errOf(stat.openAt(NO_FOLLOW, '../..', NO_OPEN_FLAGS, READ)), 'not-permitted');
  t.equal(errOf(stat.openAt(NO_FOLLOW, '../secret.txt', NO_OPEN_FLAGS, READ)), 'no-entry');
  mfs.closeAll();
});

t.test('every mutating call is refused as read-only and the host is untouched', async (t) => {
  const { dir, files } = fixture(t);
  const listing = (): string[] => fs.readdirSync(dir, { recursive: true }).map(String).sort();
  const before = listing();
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const file = open(root, 'hello.txt');
  const now = { tag: 'now' } as const;
  for (const [name, d] of [
    ['root', root],
    ['file', file],
  ] as const) {
    const calls: Array<[string, () => WitResult<unknown, ErrorCode>]> = [
      ['writeViaStream', () => d.writeViaStream(0n)],
      ['appendViaStream', () => d.appendViaStream()],
      ['write', () => d.write(Buffer.from('pwned'), 0n)],
      ['setSize', () => d.setSize(0n)],
      ['setTimes', () => d.setTimes(now, now)],
      ['setTimesAt', () => d.setTimesAt(NO_FOLLOW, 'hello.txt', now, now)],
      ['createDirectoryAt', () => d.createDirectoryAt('newdir')],
      ['linkAt', () => d.linkAt(NO_FOLLOW, 'hello.txt', root, 'link.txt')],
      ['removeDirectoryAt', () => d.removeDirectoryAt('data')],
      ['renameAt', () => d.renameAt('hello.txt', root, 'moved.txt')],
      ['symlinkAt', () => d.symlinkAt('/etc/passwd', 'passwd')],
      ['unlinkFileAt', () => d.unlinkFileAt('hello.txt')],
    ];
    for (const [call, fn] of calls) t.equal(errOf(fn()), 'read-only', `${name}.${call}`);
  }
  const openCases: Array<[string, object, object]> = [
    ['create', { create: true }, READ],
    ['create exclusive of a new file', { create: true, exclusive: true }, READ],
    ['truncate', { truncate: true }, READ],
    ['write flag', {}, { read: true, write: true }],
    ['mutate-directory flag', {}, { read: true, mutateDirectory: true }],
  ];
  for (const [label, oflags, dflags] of openCases) {
    t.equal(errOf(root.openAt(NO_FOLLOW, label.includes('new') ? 'new.txt' : 'hello.txt', oflags, dflags)), 'read-only', `open-at ${label}`);
  }
  t.equal(errOf(root.readlinkAt('hello.txt')), 'invalid', 'readlink-at on a file: not a symlink');
  t.equal(errOf(root.readlinkAt('data')), 'invalid', 'readlink-at on a directory: not a symlink');
  t.same(listing(), before, 'no host file was created, moved or removed');
  t.equal(fs.readFileSync(path.join(dir, 'hello.txt'), 'utf8'), HELLO, 'content unchanged');
  mfs.closeAll();
});

t.test('wrong kinds of descriptor', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const file = open(root, 'hello.txt');
  t.equal(errOf(root.readViaStream(0n)), 'is-directory');
  t.equal(errOf(root.read(10n, 0n)), 'is-directory');
  t.equal(errOf(file.readDirectory()), 'not-directory');
  t.equal(errOf(file.openAt(NO_FOLLOW, '.', NO_OPEN_FLAGS, READ)), 'not-directory');
  t.equal(errOf(file.statAt(NO_FOLLOW, 'x')), 'not-directory');
  t.equal(errOf(root.openAt(NO_FOLLOW, 'hello.txt', { directory: true }, READ)), 'not-directory', 'directory flag on a file');
  t.equal(ok(ok(root.openAt(NO_FOLLOW, 'data', { directory: true }, READ)).getType()), 'directory', 'directory flag on a directory');
  t.same(ok(open(root, 'data').getType()), 'directory');
  t.same(ok(file.getType()), 'regular-file');
  const pathOnly = open(root, 'hello.txt', {});
  t.equal(errOf(pathOnly.read(1n, 0n)), 'bad-descriptor', 'a file opened without read cannot be read');
  t.equal(errOf(pathOnly.readViaStream(0n)), 'bad-descriptor');
  t.equal(ok(pathOnly.stat()).size, BigInt(HELLO.length), 'but it can be stat-ed');
  t.equal(ok(pathOnly.getFlags()).read, false);
  t.same(file.advise(0n, 10n, 'sequential'), { tag: 'ok', val: undefined });
  t.same(file.sync(), { tag: 'ok', val: undefined });
  t.same(file.syncData(), { tag: 'ok', val: undefined });
  mfs.closeAll();
});

t.test('is-same-object and metadata hashes', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const a1 = open(root, 'hello.txt');
  const a2 = open(open(root, 'static'), '../hello.txt');
  const b = open(root, 'big.bin');
  t.equal(a1.isSameObject(a2), true);
  t.equal(a1.isSameObject(b), false);
  t.equal(root.isSameObject(open(root, '.')), true);
  t.equal(root.isSameObject(open(root, 'data')), false);
  t.same(ok(a1.metadataHash()), ok(a2.metadataHash()));
  t.same(ok(a1.metadataHash()), ok(root.metadataHashAt(NO_FOLLOW, 'hello.txt')));
  t.notSame(ok(a1.metadataHash()), ok(b.metadataHash()));
  t.notSame(ok(root.metadataHash()), ok(root.metadataHashAt(NO_FOLLOW, 'data')));
  const other = new MountedFilesystem(files);
  const otherHello = open(rootOf(other), 'hello.txt');
  t.equal(a1.isSameObject(otherHello), false, 'another filesystem is another object');
  mfs.closeAll();
  other.closeAll();
});

t.test('a symlink swapped in after the tree was built is refused', async (t) => {
  const { dir, files } = fixture(t);
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  const hello = path.join(dir, 'hello.txt');
  fs.unlinkSync(hello);
  fs.symlinkSync(path.join(dir, 'secret.txt'), hello);
  t.equal(errOf(root.openAt(NO_FOLLOW, 'hello.txt', NO_OPEN_FLAGS, READ)), 'loop', 'open-at refuses the symlink');
  t.equal(errOf(root.openAt({ symlinkFollow: true }, 'hello.txt', NO_OPEN_FLAGS, READ)), 'loop', 'even when asked to follow');
  t.equal(errOf(root.statAt({ symlinkFollow: true }, 'hello.txt')), 'loop', 'stat-at does not follow it');
  t.equal(errOf(root.metadataHashAt(NO_FOLLOW, 'hello.txt')), 'loop');
  t.equal(mfs.openFileCount, 0);

  // A directory swapped in is not a file either.
  const app = path.join(dir, 'assets/app.js');
  fs.unlinkSync(app);
  fs.mkdirSync(app);
  t.equal(errOf(root.openAt(NO_FOLLOW, 'static/app.js', NO_OPEN_FLAGS, READ)), 'is-directory');
  t.equal(errOf(root.statAt(NO_FOLLOW, 'static/app.js')), 'is-directory');
  // A deleted file is simply gone.
  fs.unlinkSync(path.join(dir, 'big.bin'));
  t.equal(errOf(root.openAt(NO_FOLLOW, 'big.bin', NO_OPEN_FLAGS, READ)), 'no-entry');
  t.equal(mfs.openFileCount, 0, 'refused opens hold no fd');
  mfs.closeAll();
});

t.test('a FIFO swapped in does not hang the worker', async (t) => {
  const { dir, files } = fixture(t);
  const deep = path.join(dir, 'data/nested/deep.json');
  fs.unlinkSync(deep);
  try {
    execFileSync('mkfifo', [deep]);
  } catch {
    t.plan(0, 'mkfifo is not available');
    return;
  }
  const mfs = new MountedFilesystem(files);
  const root = rootOf(mfs);
  t.equal(errOf(root.openAt(NO_FOLLOW, 'data/nested/deep.json', NO_OPEN_FLAGS, READ)), 'io');
  t.equal(errOf(root.statAt(NO_FOLLOW, 'data/nested/deep.json')), 'io');
  t.equal(mfs.openFileCount, 0);
  mfs.closeAll();
});

t.test('host fds: closed on drop, on session end, and by closeAll', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files);

  const base = fdCount();
  const session = mfs.beginSession();
  const root = rootOf(mfs);
  const a = open(root, 'hello.txt');
  const b = open(root, 'big.bin');
  open(root, 'static/app.js');
  open(root, 'data'); // directories hold no fd
  const stream = ok(a.readViaStream(0n));
  t.equal(fdCount(), base + 3, 'one host fd per open file');
  t.equal(session.openFileCount, 3);
  t.equal(mfs.openFileCount, 3);

  b[Symbol.dispose]();
  t.equal(fdCount(), base + 2, 'dropping a descriptor closes its fd');

  session.end();
  t.equal(fdCount(), base, 'ending the session closes every leaked fd');
  t.equal(session.openFileCount, 0);
  t.equal(session.ended, true);
  t.equal(errOf(a.read(1n, 0n)), 'bad-descriptor', 'descriptors of an ended session are dead');
  t.equal(errOf(a.stat()), 'bad-descriptor');
  t.equal(errOf(root.openAt(NO_FOLLOW, 'hello.txt', NO_OPEN_FLAGS, READ)), 'bad-descriptor');
  t.equal(errOf(root.readDirectory()), 'bad-descriptor');
  const r = stream.blockingRead(10n);
  t.equal(r instanceof Uint8Array, false, 'a stream of an ended session yields no bytes');
  t.equal((r as { val: { tag: string } }).val.tag, 'last-operation-failed');
  t.equal(fdCount(), base, 'nothing was reopened');
  session.end(); // idempotent
  a[Symbol.dispose](); // dropping after the end is harmless
  t.equal(fdCount(), base);

  // A stream keeps the file open after its descriptor is dropped, until the stream is dropped.
  mfs.beginSession();
  const root2 = rootOf(mfs);
  const c = open(root2, 'hello.txt');
  const s2 = ok(c.readViaStream(0n));
  c[Symbol.dispose]();
  t.equal(fdCount(), base + 1, 'the stream still holds the fd');
  t.equal(readAll(s2).data, HELLO, 'and still reads');
  s2[Symbol.dispose]();
  t.equal(fdCount(), base, 'dropping the stream closes it');

  // Without an explicit session, getDirectories starts one; closeAll still closes its fds.
  const mfs2 = new MountedFilesystem(files);
  const root3 = rootOf(mfs2);
  open(root3, 'hello.txt');
  open(root3, 'big.bin');
  t.equal(fdCount(), base + 2);
  mfs2.closeAll();
  t.equal(fdCount(), base, 'closeAll closes an implicit session');
  t.equal(errOf(root3.stat()), 'bad-descriptor');
  mfs.closeAll();
  t.equal(mfs.openFileCount, 0);
});

t.test('open files per session are capped', async (t) => {
  const { files } = fixture(t);
  const mfs = new MountedFilesystem(files, { maxOpenFiles: 2 });
  const root = rootOf(mfs);
  const a = open(root, 'hello.txt');
  open(root, 'hello.txt');
  t.equal(errOf(root.openAt(NO_FOLLOW, 'big.bin', NO_OPEN_FLAGS, READ)), 'insufficient-memory');
  t.equal(errOf(root.openAt(NO_FOLLOW, 'data', NO_OPEN_FLAGS, READ)), 'ok', 'directories do not count');
  a[Symbol.dispose]();
  t.equal(errOf(root.openAt(NO_FOLLOW, 'big.bin', NO_OPEN_FLAGS, READ)), 'ok', 'a dropped file frees its slot');
  mfs.closeAll();
  t.throws(() => new MountedFilesystem(files, { maxOpenFiles: 0 }), RangeError);
});

t.test('descriptors never see another instance', async (t) => {
  const { dir, files } = fixture(t);
  const mine = new MountedFilesystem(files);
  const theirs = new MountedFilesystem([{ guestPath: '/secret.txt', hostPath: path.join(dir, 'secret.txt') }]);
  const s1 = mine.beginSession();
  const myRoot = rootOf(mine);
  setActiveFilesystem(theirs);
  const theirRoot = rootOf(theirs);
  t.same(listDir(theirRoot), [{ type: 'regular-file', name: 'secret.txt' }]);
  t.equal(errOf(myRoot.openAt(NO_FOLLOW, 'secret.txt', NO_OPEN_FLAGS, READ)), 'no-entry', 'my root is still my tree');
  t.equal(readAll(ok(open(myRoot, 'hello.txt').readViaStream(0n))).data, HELLO);
  t.equal(errOf(theirRoot.openAt(NO_FOLLOW, 'hello.txt', NO_OPEN_FLAGS, READ)), 'no-entry');

  // A later instance of the same component: the old descriptors stay dead.
  s1.end();
  mine.beginSession();
  const next = rootOf(mine);
  t.equal(errOf(myRoot.openAt(NO_FOLLOW, 'hello.txt', NO_OPEN_FLAGS, READ)), 'bad-descriptor');
  t.equal(errOf(next.openAt(NO_FOLLOW, 'hello.txt', NO_OPEN_FLAGS, READ)), 'ok');
  mine.closeAll();
  theirs.closeAll();
});

t.test('building the tree', async (t) => {
  const { dir, files } = fixture(t);
  const host = path.join(dir, 'hello.txt');
  const bad: Array<[string, MountedFile[]]> = [
    ['relative guest path', [{ guestPath: 'hello.txt', hostPath: host }]],
    ['.. in guest path', [{ guestPath: '/a/../hello.txt', hostPath: host }]],
    ['. in guest path', [{ guestPath: '/./hello.txt', hostPath: host }]],
    ['root as a file', [{ guestPath: '/', hostPath: host }]],
    ['NUL in guest path', [{ guestPath: '/a\0b', hostPath: host }]],
    ['relative host path', [{ guestPath: '/hello.txt', hostPath: 'hello.txt' }]],
    ['file then file under it', [{ guestPath: '/a', hostPath: host }, { guestPath: '/a/b', hostPath: host }]],
    ['file under it then file', [{ guestPath: '/a/b', hostPath: host }, { guestPath: '/a', hostPath: host }]],
  ];
  for (const [label, list] of bad) t.throws(() => new MountedFilesystem(list), TypeError, label);

  const dup = new MountedFilesystem([
    { guestPath: '/x.txt', hostPath: host },
    { guestPath: '/x.txt', hostPath: path.join(dir, 'data/nested/deep.json') },
  ]);
  t.equal(dup.fileCount, 1, 'the same guest path counts once');
  t.equal(readAll(ok(open(rootOf(dup), 'x.txt').readViaStream(0n))).data, DEEP, 'the later mount wins');
  dup.closeAll();
  t.equal(new MountedFilesystem(files).fileCount, 5);
});
