/**
 * The precompile cache: single-flight loading, one entry per digest whoever asks, eviction by bytes
 * (with the executor told), and clear errors for bytes that are not a component.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { ComponentCache } from '../../server/wasm/component-cache.js';
import { digestOf, componentHeaderProblem, requireHttpHandler } from '../../server/wasm/component-loader.js';
import { sharedWasm } from '../helpers/gateway.js';
import { watComponent, exportlessComponent } from '../helpers/wat-components.js';

t.test('concurrent first requests for one component compile it once', async (t) => {
  const bytes = await readFile(sharedWasm('hello_wasi_http.wasm'));
  const cache = new ComponentCache({ maxBytes: 64 * 1024 * 1024 });
  const digest = digestOf(bytes);
  const results = await Promise.all(Array.from({ length: 8 }, () => cache.get(digest, bytes, 'hello')));
  t.equal(cache.stats.misses, 1, 'one load for eight callers');
  t.ok(results.every((r) => r === results[0]), 'every caller gets the same compiled entry');
  t.equal(requireHttpHandler(results[0]!, 'hello'), 'wasi:http/incoming-handler@0.2.1');
  t.equal(cache.size.entries, 1);
});

t.test('identical bytes used by two apps share one entry (the key is the sha256 digest)', async (t) => {
  const a = await readFile(sharedWasm('hello_wasi_http.wasm'));
  const b = Buffer.from(a); // a different buffer with the same bytes, as a second app would read
  const cache = new ComponentCache({ maxBytes: 64 * 1024 * 1024 });
  const first = await cache.get(digestOf(a), a, 'app-one');
  const second = await cache.get(digestOf(b), b, 'app-two');
  t.equal(first, second);
  t.equal(cache.stats.misses, 1);
  t.equal(cache.stats.hits, 1);
  t.equal(digestOf(a), 'a6b989c8bf787a46c9c51d96256c4007885314434a0a1551aca64893ac89f22b', 'digest is the documented sha256');
});

t.test('the cache is bounded in bytes: the least recently used entry is evicted and the executor told', async (t) => {
  const files = await Promise.all([watComponent('loop'), watComponent('trap'), watComponent('no-response')]);
  const comps = await Promise.all(files.map((f) => readFile(f)));
  const evicted: string[] = [];
  const probe = new ComponentCache({ maxBytes: 1024 * 1024 * 1024 });
  const size = (await probe.get(digestOf(comps[0]!), comps[0]!, 'probe')).byteSize;
  // Room for two entries of this size, not three.
  const cache = new ComponentCache({ maxBytes: Math.floor(size * 2.5), onEvict: (d) => evicted.push(d) });
  for (const [i, c] of comps.entries()) await cache.get(digestOf(c), c, `c${i}`);
  t.equal(cache.stats.evictions, 1);
  t.same(evicted, [digestOf(comps[0]!)], 'the oldest entry went first');
  t.ok(cache.size.bytes <= size * 2.5, 'bytes stay within the bound');
  t.notOk(cache.peek(digestOf(comps[0]!)), 'the evicted entry is gone');
  await cache.get(digestOf(comps[0]!), comps[0]!, 'again');
  t.equal(cache.stats.misses, 4, 'an evicted component is loaded again on demand');
});

t.test('a failed load is not cached: fixing the input makes the next load work', async (t) => {
  const cache = new ComponentCache({ maxBytes: 64 * 1024 * 1024 });
  const junk = Buffer.from('not wasm at all');
  await t.rejects(cache.get(digestOf(junk), junk, 'junk.wasm'), { code: 'SPINET_ERR_WASM_COMPILE', message: /junk\.wasm: it is not a WebAssembly file/ });
  await t.rejects(cache.get(digestOf(junk), junk, 'junk.wasm'), { code: 'SPINET_ERR_WASM_COMPILE' }, 'tried again, not served from a cached failure');
  t.equal(cache.stats.misses, 2);
});

t.test('component headers are told apart from core modules and junk', async (t) => {
  t.equal(componentHeaderProblem(Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])), undefined);
  t.match(componentHeaderProblem(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), /core WebAssembly module/);
  t.match(componentHeaderProblem(Buffer.from('hello world')), /not a WebAssembly file/);
  t.match(componentHeaderProblem(Buffer.from([0, 0x61, 0x73])), /not a WebAssembly file/);
});

t.test('a component without wasi:http/incoming-handler is refused with what it exports', async (t) => {
  const bytes = await readFile(await exportlessComponent());
  const cache = new ComponentCache({ maxBytes: 64 * 1024 * 1024 });
  const c = await cache.get(digestOf(bytes), bytes, 'exportless');
  t.throws(() => requireHttpHandler(c, 'app/spin.toml: component.x'), {
    code: 'SPINET_ERR_WASM_EXPORT',
    message: /component\.x: the component does not export wasi:http\/incoming-handler@0\.2\.x \(it exports: nothing\)/,
  });
});
