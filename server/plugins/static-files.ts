/**
 * Native replacement for Spin's spin-fileserver component: a route whose component is
 * `spin_static_fs.wasm` is answered from the component's `files` with @fastify/static (content types,
 * ETag / Last-Modified / 304, Range, precompressed `.br`/`.gz` siblings), with no Wasm on the path.
 *
 * Only files in the component's resolved mount list can be served: the request path is decoded,
 * checked and then looked up in that list, never joined onto a directory, so `..`, encoded dots,
 * backslashes and NUL bytes cannot reach anything else.
 */
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StaticSite } from '../tenants/loaded-app.js';

/** Adds `reply.sendFile` (no routes of its own: the HTTP trigger decides what is static). */
export async function registerStaticFiles(fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyStatic, {
    root: path.parse(process.cwd()).root,
    serve: false,
    preCompressed: true,
    // Cache-Control comes from the site (spin-fileserver's CACHE_CONTROL), not from send's default.
    cacheControl: false,
    // Which files may be served is decided by the site's file map (servableFiles), not by send.
    dotfiles: 'allow',
  });
}

/**
 * Whether a mounted file may be served: not a dotfile, nor inside a dot directory, except under
 * `/.well-known/` (RFC 8615). A fileserver that mounts the app's root would otherwise serve `.env`
 * (which `spinet deploy` carries with the app: its secrets), `.git/` or `.spin/` to anyone.
 * spin-fileserver serves whatever is mounted; spinet withholds these, as Express's serve-static does
 * by default, and says so when the app loads.
 */
export function servableGuestPath(guestPath: string): boolean {
  const segments = guestPath.split('/').filter((s) => s !== '');
  const from = segments[0] === '.well-known' ? 1 : 0;
  for (let i = from; i < segments.length; i++) if (segments[i]!.startsWith('.')) return false;
  return true;
}

/** A site's mounted files split into those it serves and the dotfiles it withholds (servableGuestPath). */
export function servableFiles(files: ReadonlyArray<{ readonly guestPath: string; readonly hostPath: string }>): { files: Map<string, string>; withheld: string[] } {
  const served = new Map<string, string>();
  const withheld: string[] = [];
  for (const f of files) {
    if (servableGuestPath(f.guestPath)) served.set(f.guestPath, f.hostPath);
    else withheld.push(f.guestPath);
  }
  return { files: served, withheld };
}

/** Why a request path cannot name a file, or the guest path it names. */
export function guestPathOf(pathInfo: string): { ok: true; path: string } | { ok: false; status: 400 | 404 } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathInfo);
  } catch {
    return { ok: false, status: 400 };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400 };
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return { ok: false, status: 404 };
  let p = decoded === '' ? '/' : decoded.startsWith('/') ? decoded : `/${decoded}`;
  p = p.replace(/\/{2,}/g, '/');
  return { ok: true, path: p };
}

/** The host file for a guest path, with spin-fileserver's index.html rules; undefined when none. */
export function lookupStatic(site: StaticSite, guestPath: string): string | undefined {
  const direct = guestPath.endsWith('/') ? undefined : site.files.get(guestPath);
  if (direct) return direct;
  const dir = guestPath.endsWith('/') ? guestPath : `${guestPath}/`;
  return site.files.get(`${dir}index.html`);
}

/** Answers one request for a static site; `pathInfo` is the route's `spin-path-info`. */
export function serveStatic(request: FastifyRequest, reply: FastifyReply, site: StaticSite, pathInfo: string): FastifyReply {
  const method = request.raw.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return reply.code(405).header('allow', 'GET, HEAD').send();
  const guest = guestPathOf(pathInfo);
  if (!guest.ok) return reply.code(guest.status).send();
  let file = lookupStatic(site, guest.path);
  let status = 200;
  if (!file && site.fallbackPath) file = site.files.get(site.fallbackPath);
  if (!file && site.custom404Path) {
    file = site.files.get(site.custom404Path);
    // spin-fileserver answers its custom 404 page with 200; a 404 page should say 404.
    status = 404;
  }
  if (!file) return reply.code(404).type('text/plain').send('Not Found');
  reply.code(status).header('cache-control', site.cacheControl);
  return reply.sendFile(path.basename(file), path.dirname(file));
}
