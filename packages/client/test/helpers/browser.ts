/** A real page in headless Chromium, served by a test's own HTTP server, with a real server process it may reach. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Answers a request of the page's origin; false (or nothing) for a 404. */
export type Routes = (req: IncomingMessage, res: ServerResponse) => boolean | void;

/** What serves the pages: started before the real-time server, whose CORS_ORIGIN is its origin. */
export type StartApp = () => Promise<{ origin: string; close(): Promise<void> }>;

/** An app served by a node:http server of the test process. */
export function httpApp(routes: Routes): StartApp {
  return async () => {
    const http: Server = createServer((req, res) => {
      if (!routes(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return {
      origin: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => http.close(() => resolve())),
    };
  };
}

export interface BrowserSuite {
  /** The page's origin (`http://127.0.0.1:<port>`), allowed by the server's CORS_ORIGIN. */
  origin(): string;
  server(): ServerProcess;
  page(): Page;
  /** Uncaught errors of the page so far. */
  readonly pageErrors: string[];
}

/** Before the file's tests: `prepare()`, the app, the server process, Chromium and a page; all closed after them. */
export function browserSuite(startApp: StartApp, prepare?: () => Promise<void>): BrowserSuite {
  let app: Awaited<ReturnType<StartApp>> | undefined;
  let origin: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started yet`);
    return value;
  };

  beforeAll(async () => {
    await prepare?.();
    app = await startApp();
    origin = app.origin;
    server = await startServerProcess({ CORS_ORIGIN: origin });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage();
    page.on('pageerror', (err) => {
      pageErrors.push(String(err));
      console.error('page error:', err);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await app?.close();
  });

  return {
    origin: () => started(origin, 'the HTTP server'),
    server: () => started(server, 'the server process'),
    page: () => started(page, 'the browser'),
    pageErrors,
  };
}
