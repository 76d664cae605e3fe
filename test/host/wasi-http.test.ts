/**
 * The wasi:http resource rules guests rely on, checked on the host classes directly (as jco calls
 * them): header validation, immutability, one-time children, status codes, the outparam contract.
 */
import t from 'tap';
import { Fields, OutgoingResponse, OutgoingBody, ResponseOutparam, IncomingRequest } from '../../server/host/wasi-http.js';
import type { ResponseTarget } from '../../server/host/wasi-http.js';
import { EMPTY_SOURCE } from '../../server/host/wasi-io.js';
import type { ByteSink } from '../../server/host/wasi-io.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('fields validate names and values and forbid hop-by-hop headers', async (t) => {
  const f = new Fields();
  t.equal(f.append('X-Good', enc('v')), undefined);
  t.same(f.get('x-good').map((v) => Buffer.from(v).toString()), ['v'], 'names are case-insensitive');
  const bad: Array<[string, string, string]> = [
    ['bad name', 'v', 'invalid-syntax'],
    ['', 'v', 'invalid-syntax'],
    ['x-crlf', 'a\r\nInjected: yes', 'invalid-syntax'],
    ['x-nul', 'a\0b', 'invalid-syntax'],
    ['connection', 'close', 'forbidden'],
    ['Transfer-Encoding', 'chunked', 'forbidden'],
    ['host', 'evil', 'forbidden'],
  ];
  for (const [name, value, tag] of bad) t.same(f.append(name, enc(value)), { tag: 'err', val: { tag } }, `${JSON.stringify(name)}: ${JSON.stringify(value)}`);
  t.same(Fields.fromList([['upgrade', enc('h2c')]]), { tag: 'err', val: { tag: 'forbidden' } });
  t.ok(Fields.fromList([['a', enc('1')], ['a', enc('2')]]) instanceof Fields);
});

t.test('set replaces, delete removes, clone is independent and mutable', async (t) => {
  const f = new Fields();
  f.append('a', enc('1'));
  f.append('a', enc('2'));
  f.set('a', [enc('3')]);
  t.same(f.get('a').map((v) => Buffer.from(v).toString()), ['3']);
  const c = f.clone();
  c.append('b', enc('x'));
  t.notOk(f.has('b'), 'the clone does not write through');
  f.delete('a');
  t.notOk(f.has('a'));
});

t.test('request headers and a response’s headers are immutable', async (t) => {
  const req = new IncomingRequest({ method: 'GET', pathWithQuery: '/', scheme: 'http', authority: 'h', headers: ['x', 'y'] }, EMPTY_SOURCE);
  const h = req.headers();
  t.same(h.set('x', [enc('z')]), { tag: 'err', val: { tag: 'immutable' } });
  t.same(h.append('q', enc('z')), { tag: 'err', val: { tag: 'immutable' } });
  const resp = new OutgoingResponse(new Fields());
  t.same(resp.headers().append('a', enc('b')), { tag: 'err', val: { tag: 'immutable' } });
});

t.test('methods map to WIT variants, unknown ones to other', async (t) => {
  const m = (method: string): unknown => new IncomingRequest({ method, pathWithQuery: '/', scheme: 'http', authority: 'h', headers: [] }, EMPTY_SOURCE).method();
  t.same(m('GET'), { tag: 'get' });
  t.same(m('PATCH'), { tag: 'patch' });
  t.same(m('PURGE'), { tag: 'other', val: 'PURGE' });
});

t.test('the body of a request, a response and an outgoing body are handed out once', async (t) => {
  const req = new IncomingRequest({ method: 'GET', pathWithQuery: '/', scheme: 'http', authority: 'h', headers: [] }, EMPTY_SOURCE);
  t.notSame(req.consume(), { tag: 'err', val: undefined });
  t.same(req.consume(), { tag: 'err', val: undefined });
  const resp = new OutgoingResponse(new Fields());
  const body = resp.body();
  t.ok(body instanceof OutgoingBody);
  t.same(resp.body(), { tag: 'err', val: undefined });
  const b = body as OutgoingBody;
  t.notSame(b.write(), { tag: 'err', val: undefined });
  t.same(b.write(), { tag: 'err', val: undefined });
});

t.test('status codes outside 100–999 are refused', async (t) => {
  const resp = new OutgoingResponse(new Fields());
  for (const bad of [0, 99, 1000, 65535]) t.same(resp.setStatusCode(bad), { tag: 'err', val: undefined }, String(bad));
  t.equal(resp.setStatusCode(404), undefined);
  t.equal(resp.statusCode(), 404);
});

function recorder(): ResponseTarget & { events: string[] } {
  const events: string[] = [];
  const body: ByteSink = {
    ready: () => true,
    block: () => {},
    capacity: () => 1 << 20,
    write: (b) => void events.push(`write ${Buffer.from(b).toString()}`),
    flush: () => {},
  };
  return {
    events,
    body,
    head: (status, headers) => void events.push(`head ${status} ${headers.join(',')}`),
    error: (m) => void events.push(`error ${m}`),
    end: () => void events.push('end'),
    abort: (r) => void events.push(`abort ${r}`),
  };
}

t.test('the outparam commits the head once; body bytes written before set are kept in order', async (t) => {
  const target = recorder();
  const headers = new Fields();
  headers.append('content-type', enc('text/plain'));
  const resp = new OutgoingResponse(headers);
  resp.setStatusCode(201);
  const body = resp.body() as OutgoingBody;
  const stream = body.write() as { blockingWriteAndFlush(b: Uint8Array): unknown };
  stream.blockingWriteAndFlush(enc('early '));
  const param = new ResponseOutparam(target);
  ResponseOutparam.set(param, { tag: 'ok', val: resp });
  stream.blockingWriteAndFlush(enc('late'));
  OutgoingBody.finish(body);
  t.same(target.events, ['head 201 content-type,text/plain', 'write early ', 'write late', 'end']);
  t.throws(() => ResponseOutparam.set(param, { tag: 'ok', val: resp }), /set called twice/, 'a second set traps the guest');
});

t.test('an error set on the outparam, and a body dropped unfinished, reach the gateway', async (t) => {
  const target = recorder();
  ResponseOutparam.set(new ResponseOutparam(target), { tag: 'err', val: { tag: 'internal-error', val: 'boom' } });
  t.same(target.events, ['error internal-error: boom']);
  const t2 = recorder();
  const resp = new OutgoingResponse(new Fields());
  const body = resp.body() as OutgoingBody;
  ResponseOutparam.set(new ResponseOutparam(t2), { tag: 'ok', val: resp });
  body[Symbol.dispose]();
  t.same(t2.events, ['head 200 ', 'abort outgoing-body dropped without finish']);
});
