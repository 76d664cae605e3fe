/**
 * Reading a component file in ranges, two at a time, while hashing the ranges that have arrived,
 * gives exactly what `fs.promises.readFile` gives and its sha256: the same bytes and digest for
 * every size around the range boundaries, for files that shrink or grow under the read, for files
 * that are not regular, and the same errors.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, truncateSync } from 'node:fs';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { COMPONENT_READ_RANGE, readComponentFileWithDigest } from '../../server/wasm/component-loader.js';
import { repoRoot } from '../helpers/gateway.js';

const R = COMPONENT_READ_RANGE;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Random bytes, so a misplaced, repeated or missing range shows. */
const pattern = (n: number): Buffer => randomBytes(n);

/** `FileHandle.read` as the reader calls it: (buffer, offset, length, position). */
type Read = (this: FileHandle, ...args: unknown[]) => Promise<unknown>;

/**
 * Runs `body` with every `FileHandle.read` going through `wrap` (the component reader's reads
 * included), so a test can act between reads or delay one; the original is put back afterwards.
 */
async function withReadsThrough(wrap: (original: Read, handle: FileHandle, args: unknown[]) => Promise<unknown>, body: () => Promise<void>): Promise<void> {
  const probe = await open(path.join(repoRoot, 'package.json'), 'r');
  const proto = Object.getPrototypeOf(probe) as { read: Read };
  await probe.close();
  const original = proto.read;
  proto.read = function (this: FileHandle, ...args: unknown[]) {
    return wrap(original, this, args);
  };
  try {
    await body();
  } finally {
    proto.read = original;
  }
}

t.test('bytes and digest are readFile’s bytes and their sha256 for every size around the range boundaries', async (t) => {
  const dir = t.testdir({});
  const sizes = [0, 1, 7, R - 1, R, R + 1, 2 * R - 1, 2 * R, 2 * R + 1, 3 * R - 1, 3 * R, 3 * R + 1, 13 * R + 123_457];
  for (const size of sizes) {
    const file = path.join(dir, `f${size}.wasm`);
    await writeFile(file, pattern(size));
    const theirs = await readFile(file);
    const got = await readComponentFileWithDigest(file);
    t.equal(got.bytes.length, size, `${size} bytes: the whole file`);
    t.ok(got.bytes.equals(theirs), `${size} bytes: the same bytes as readFile`);
    t.equal(got.digest, sha256(theirs), `${size} bytes: the sha256 of readFile’s bytes`);
  }
});

t.test('a real component reads and hashes the same as readFile and createHash', async (t) => {
  const file = path.join(repoRoot, 'components', 'hello', 'dist', 'hello.wasm');
  const theirs = await readFile(file);
  const got = await readComponentFileWithDigest(file);
  t.ok(got.bytes.equals(theirs));
  t.equal(got.digest, sha256(theirs));
});

t.test('each range is hashed while later ranges are still being read', async (t) => {
  const file = path.join(t.testdir({}), 'overlap.wasm');
  const content = pattern(6 * R);
  await writeFile(file, content);
  const hashProto = Object.getPrototypeOf(createHash('sha256')) as { update: (...args: unknown[]) => unknown };
  const update = hashProto.update;
  let inFlight = 0;
  const inFlightAtUpdates: number[] = [];
  hashProto.update = function (this: unknown, ...args: unknown[]) {
    inFlightAtUpdates.push(inFlight);
    return update.apply(this, args);
  };
  try {
    await withReadsThrough(
      async (read, fh, args) => {
        inFlight++;
        try {
          return await read.apply(fh, args);
        } finally {
          inFlight--;
        }
      },
      async () => {
        t.equal((await readComponentFileWithDigest(file)).digest, sha256(content), 'the sha256 of the file');
      },
    );
  } finally {
    hashProto.update = update;
  }
  t.ok(inFlightAtUpdates.length >= 6, `one update per range at least (${inFlightAtUpdates.length})`);
  t.ok(inFlightAtUpdates.slice(0, 4).every((n) => n > 0), `the first ranges were hashed with reads in flight (${inFlightAtUpdates.join(', ')})`);
});

t.test('ranges arriving out of order are still hashed in file order', async (t) => {
  const file = path.join(t.testdir({}), 'slow-start.wasm');
  const content = pattern(5 * R + 99);
  await writeFile(file, content);
  let got: Awaited<ReturnType<typeof readComponentFileWithDigest>> | undefined;
  // The first range arrives last: every other range has been read by then.
  await withReadsThrough(
    async (read, fh, args) => {
      if (args[3] === 0) await new Promise((r) => setTimeout(r, 50));
      return read.apply(fh, args);
    },
    async () => {
      got = await readComponentFileWithDigest(file);
    },
  );
  t.ok(got?.bytes.equals(content), 'the same bytes');
  t.equal(got?.digest, sha256(content), 'the sha256 of the file');
});

t.test('a file that shrinks under the read is returned as far as it went, with the digest of what is returned', async (t) => {
  const dir = t.testdir({});
  // Truncated when the first read starts (nothing read yet), or when the read of the fourth range
  // starts (the first three may still be under way, but lie wholly before the new end).
  const cases = [
    { name: 'before any range is read, to the middle of the third', to: 2 * R + R / 2, when: 0 },
    { name: 'before any range is read, to nothing', to: 0, when: 0 },
    { name: 'as the fourth range starts, to just past the third', to: 3 * R + 5, when: 3 * R },
    { name: 'as the fourth range starts, to its end', to: 4 * R, when: 3 * R },
  ];
  for (const c of cases) {
    const file = path.join(dir, `shrinks-${c.to}.wasm`);
    const content = pattern(10 * R + 17);
    await writeFile(file, content);
    let reads = 0;
    let got: Awaited<ReturnType<typeof readComponentFileWithDigest>> | undefined;
    await withReadsThrough(
      (read, fh, args) => {
        if (reads++ === 0 ? c.when === 0 : c.when > 0 && args[3] === c.when) truncateSync(file, c.to);
        return read.apply(fh, args);
      },
      async () => {
        got = await readComponentFileWithDigest(file);
      },
    );
    const expected = content.subarray(0, c.to);
    t.ok(reads < Math.ceil(content.length / R), `${c.name}: no range is started once one came back short (${reads} reads)`);
    t.equal(got?.bytes.length, c.to, `${c.name}: ${c.to} bytes`);
    t.ok(got?.bytes.equals(expected), `${c.name}: the bytes the file still had`);
    t.equal(got?.digest, sha256(expected), `${c.name}: the digest of the bytes returned`);
  }
});

t.test('a file that grows under the read is returned at the size it had when opened', async (t) => {
  const file = path.join(t.testdir({}), 'grows.wasm');
  const content = pattern(3 * R + 1);
  await writeFile(file, content);
  let reads = 0;
  let got: Awaited<ReturnType<typeof readComponentFileWithDigest>> | undefined;
  await withReadsThrough(
    async (read, fh, args) => {
      if (reads++ === 0) appendFileSync(file, pattern(R));
      return read.apply(fh, args);
    },
    async () => {
      got = await readComponentFileWithDigest(file);
    },
  );
  t.ok(got?.bytes.equals(content), 'the bytes it had');
  t.equal(got?.digest, sha256(content));
});

t.test('a read that fails fails the whole read with its error, after the other reads have settled', async (t) => {
  const file = path.join(t.testdir({}), 'eio.wasm');
  await writeFile(file, pattern(6 * R));
  const failure = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
  let inFlight = 0;
  let inFlightAtRejection = -1;
  await withReadsThrough(
    async (read, fh, args) => {
      inFlight++;
      try {
        // The second range is still being read when the third fails.
        if (args[3] === R) await new Promise((r) => setTimeout(r, 50));
        if (args[3] === 2 * R) throw failure;
        return await read.apply(fh, args);
      } finally {
        inFlight--;
      }
    },
    async () => {
      await readComponentFileWithDigest(file).then(
        () => t.fail('the read should fail'),
        (err: unknown) => {
          inFlightAtRejection = inFlight;
          t.equal(err, failure, 'the read’s own error');
        },
      );
    },
  );
  t.equal(inFlightAtRejection, 0, 'no read was left writing into the buffer');
});

t.test('a file that is not regular is read to its end by readFile’s loop and hashed', async (t) => {
  const dir = t.testdir({});
  const fifo = path.join(dir, 'component.fifo');
  execFileSync('mkfifo', [fifo]);
  // More than a pipe's buffer, so it arrives in several reads.
  const content = pattern(300_000);
  const reading = readComponentFileWithDigest(fifo);
  await writeFile(fifo, content);
  const got = await reading;
  t.ok(got.bytes.equals(content), 'a FIFO: everything written to it');
  t.equal(got.digest, sha256(content), 'a FIFO: the sha256 of what was written');

  // A /proc file reports size 0 but has content.
  const status = await readComponentFileWithDigest('/proc/self/status');
  t.match(status.bytes.toString('utf8'), /^Name:/, '/proc/self/status: its content');
  t.equal(status.digest, sha256(status.bytes), '/proc/self/status: the sha256 of the bytes returned');
});

t.test('errors are readFile’s: same code and message', async (t) => {
  const dir = t.testdir({});
  const sub = path.join(dir, 'a-directory.wasm');
  await mkdir(sub);
  for (const file of [path.join(dir, 'missing.wasm'), sub]) {
    const theirs = await readFile(file).then(() => undefined, (err: NodeJS.ErrnoException) => err);
    const ours = await readComponentFileWithDigest(file).then(() => undefined, (err: NodeJS.ErrnoException) => err);
    t.ok(theirs && ours, `${path.basename(file)}: both fail`);
    t.equal(ours?.code, theirs?.code, `${path.basename(file)}: ${theirs?.code}`);
    t.equal(ours?.message, theirs?.message);
  }
});
