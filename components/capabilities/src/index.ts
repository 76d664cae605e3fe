// Exercises Spin's host capabilities through spinet's guest SDK. Routes (after the component's prefix):
//   /kv/count                  increments "count" in the store (?store=label, default "default")
//   /kv/get/<key> /kv/set/<key> (body) /kv/delete/<key> /kv/exists/<key> /kv/keys
//   /var/<name>                a component variable
//   /log/<name>                prints the variable to stdout (the gateway must redact secrets from its log)
//   /fetch?url=<url>           forwards the method and body to url, streams the answer back
//   /redis/<op>?addr=<address>&key=&value=&channel=   publish | incr | set | get | del | sadd | smembers | srem | execute
// Answers are JSON: { ok: true, value } or { ok: false, tag, detail } for a host error.
import { Kv, Redis, SpinError, Variables } from '../../sdk/spin.js';

const decoder = new TextDecoder();

function answer(fn: () => unknown): Response {
  try {
    return Response.json({ ok: true, value: fn() }, { headers: { 'content-type': 'application/json' } });
  } catch (err) {
    if (err instanceof SpinError) return Response.json({ ok: false, tag: err.tag, detail: err.detail ?? null });
    throw err;
  }
}

function plain(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return decoder.decode(value);
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  // Drop the component prefix (/full, /none, /self).
  const path = url.pathname.replace(/^\/[^/]+/, '');
  const q = url.searchParams;
  const [, area, op, ...rest] = path.split('/');
  const arg = decodeURIComponent(rest.join('/'));

  if (area === 'kv') {
    const body = request.method === 'POST' || request.method === 'PUT' ? new Uint8Array(await request.arrayBuffer()) : undefined;
    return answer(() => {
      const store = Kv.open(q.get('store') ?? 'default');
      switch (op) {
        case 'count': {
          const n = Number(store.getString('count') ?? '0') + 1;
          store.set('count', String(n));
          return n;
        }
        case 'get':
          return store.getString(arg);
        case 'set':
          store.set(arg, body ?? new Uint8Array(0));
          return null;
        case 'delete':
          store.delete(arg);
          return null;
        case 'exists':
          return store.exists(arg);
        case 'keys':
          return store.getKeys().sort();
        default:
          throw new Error(`unknown kv op ${op}`);
      }
    });
  }

  if (area === 'var') {
    return answer(() => Variables.get(op ?? ''));
  }

  if (area === 'log') {
    console.log(`variable ${op} is ${Variables.get(op ?? '') ?? '(unset)'}`);
    return new Response('logged\n');
  }

  if (area === 'fetch') {
    const target = q.get('url') ?? '';
    let upstream: Response;
    try {
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
      upstream = await fetch(target, {
        method: request.method,
        headers: { 'x-from-guest': 'capabilities' },
        ...(hasBody ? { body: await request.arrayBuffer() } : {}),
      });
    } catch (err) {
      return Response.json({ ok: false, tag: 'fetch-failed', detail: String(err) }, { status: 502 });
    }
    const headers = new Headers();
    headers.set('x-upstream-status', String(upstream.status));
    const type = upstream.headers.get('content-type');
    if (type) headers.set('content-type', type);
    return new Response(upstream.body, { status: upstream.status, headers });
  }

  if (area === 'redis') {
    const addr = q.get('addr') ?? '';
    const key = q.get('key') ?? 'k';
    const value = q.get('value') ?? '';
    return answer(() => {
      const conn = Redis.open(addr);
      switch (op) {
        case 'open':
          return null;
        case 'publish':
          conn.publish(q.get('channel') ?? 'ch', value);
          return null;
        case 'incr':
          return Number(conn.incr(key));
        case 'set':
          conn.set(key, value);
          return null;
        case 'get':
          return conn.getString(key);
        case 'del':
          return conn.del(...key.split(','));
        case 'sadd':
          return conn.sadd(key, ...value.split(','));
        case 'smembers':
          return conn.smembers(key).sort();
        case 'srem':
          return conn.srem(key, ...value.split(','));
        case 'execute': {
          const args = q.getAll('arg').map((a) => (/^-?\d+$/.test(a) ? BigInt(a) : a));
          return plain(conn.execute(q.get('cmd') ?? 'PING', ...args));
        }
        default:
          throw new Error(`unknown redis op ${op}`);
      }
    });
  }

  return new Response('not found\n', { status: 404 });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
