/** Headless Chromium for tests of the pages the server serves: console errors collected, screenshots of failures. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Pages {
  /** A new page in a context of its own (its own sessionStorage, like another window), 390 px wide when `phone`. */
  open(name: string, url: string, opts?: { phone?: boolean }): Promise<Page>;
  /** Console errors (CSP violations included), uncaught exceptions and failed requests of every page so far. */
  readonly problems: string[];
  /** Saves a screenshot of every open page in a new temp directory, and prints where. */
  screenshots(test: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchPages(): Promise<Pages> {
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  const open = new Map<string, Page>();
  const problems: string[] = [];
  return {
    problems,
    async open(name, url, opts = {}) {
      const context = await browser.newContext(opts.phone ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : {});
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
      });
      page.on('pageerror', (err) => problems.push(`${name}: uncaught: ${String(err)}`));
      page.on('requestfailed', (r) => {
        // A navigation away aborts what was in flight: not a problem of the page.
        if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`${name}: request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
      });
      await page.goto(url);
      await page.waitForSelector('body[data-ready="true"]');
      open.set(name, page);
      return page;
    },
    async screenshots(test) {
      const dir = mkdtempSync(join(tmpdir(), 'console-failure-'));
      for (const [name, page] of open) {
        if (!page.isClosed()) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true }).catch(() => undefined);
      }
      console.error(`"${test}" failed: screenshots in ${dir}`);
      return dir;
    },
    close: () => browser.close(),
  };
}

/** The inputs, selects and textareas of the page without a label (by `<label>` or aria-label): their ids. */
export function unlabelled(page: Page): Promise<string[]> {
  // Evaluated in the page (a string: the test's own types have no DOM).
  return page.evaluate<string[]>(`[...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
    .map((e) => e.id || e.outerHTML)`);
}

/** Whether the page is no wider than its window (nothing to scroll sideways). */
export function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');
}
