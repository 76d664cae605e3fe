/**
 * The registry of loaded apps (tenants) and `identify(request)`: the one place that decides which app
 * a request belongs to. The core serves one app; the multi-tenancy issue adds host and path routing.
 * Swaps are atomic: a request sees either the old or the new set of apps, never a mix.
 */
import type { FastifyRequest } from 'fastify';
import type { LoadedApp } from './loaded-app.js';

/** Loaded apps, swapped atomically. */
export class TenantRegistry {
  #apps: ReadonlyMap<string, LoadedApp> = new Map();
  #default: LoadedApp | undefined;

  /** Replace every app at once; with one app, it serves all hosts. */
  replaceAll(apps: readonly LoadedApp[]): void {
    this.#apps = new Map(apps.map((a) => [a.name, a]));
    this.#default = apps.length === 1 ? apps[0] : undefined;
  }

  /** The app a request is for, or undefined (→ 404). */
  identify(_request: FastifyRequest): LoadedApp | undefined {
    return this.#default;
  }

  /** All loaded apps. */
  list(): LoadedApp[] {
    return [...this.#apps.values()];
  }
}
