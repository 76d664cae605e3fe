/**
 * A real browser for tests: Debian's Chromium driven by playwright-core, with what every browser test
 * checks collected as it happens (requests to other origins, console errors, uncaught exceptions).
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { repoRoot } from './gateway.js';

/** Where screenshots go (test artifacts; gitignored). */
export const ARTIFACTS = path.join(repoRoot, '.spinet', 'artifacts');

const CHROMIUM = process.env.SPINET_CHROMIUM ?? '/usr/bin/chromium';

/** A page on `base`, plus what it did that tests assert on; `close` ends the browser. */
export interface BrowserPage {
  readonly page: Page;
  /** Requests to anything but `base` (and data: URLs). */
  readonly foreign: string[];
  /** Console errors and uncaught exceptions. */
  readonly consoleErrors: string[];
  close(): Promise<void>;
}

/**
 * Launches Chromium and opens a page that watches for foreign requests and errors. Throws with the fix
 * when Chromium is missing (.ci/run installs it).
 */
export async function openBrowserPage(base: string, viewport = { width: 1280, height: 900 }): Promise<BrowserPage> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: .ci/run installs Debian's chromium (or set SPINET_CHROMIUM)`);
  await mkdir(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage({ viewport });
  const foreign: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  return { page, foreign, consoleErrors, close: () => browser.close() };
}
