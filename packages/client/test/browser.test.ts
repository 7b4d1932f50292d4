import { readFile } from 'node:fs/promises';
import type { PresenceUpdate, RoomMessage } from '@intelgraph/websocket-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../server/test/helpers/server-process.js';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { WebSocketClient } from '../src/index.js';
import { browserSuite, httpApp } from './helpers/browser.js';
import { nextEvent, record, token, until } from './helpers/harness.js';

/** The page of docs/sdk.md's browser usage: the bundle imported from a module script. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sdk</title></head>
<body>
<script type="module">
  import WebSocketClient from '/websocket-client.js';
  window.WebSocketClient = WebSocketClient;
  window.sdkLoaded = true;
</script>
</body></html>`;

let bundle = '';
let bob: WebSocketClient | undefined;

const suite = browserSuite(
  httpApp((req, res) => {
    if (req.url === '/websocket-client.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else return false;
    return true;
  }),
  async () => {
    const built = await buildBrowser();
    bundle = await readFile(built.outfile, 'utf8');
  },
);

afterAll(() => bob?.disconnect());

describe('the browser bundle', () => {
  it('has no Node built-in imports', () => {
    expect(bundle).not.toMatch(/\b(?:from|import|require)\s*\(?\s*["']node:/);
    expect(bundle).not.toMatch(/require\(["'](?:fs|net|tls|http|https|crypto|stream|zlib|url)["']\)/);
  });

  it('connects from Chromium and exchanges messages and presence with a Node client', async () => {
    const server = suite.server();
    const page = suite.page();
    await page.goto(`${suite.origin()}/`);
    await page.waitForFunction(() => (window as unknown as { sdkLoaded?: boolean }).sdkLoaded === true);

    bob = new WebSocketClient({ url: server.url, token: await token('bob'), tenantId: 'acme' });
    const bobSeen = record(bob);
    await bob.joinRoom('browser');
    const joined = nextEvent(bob, 'presence:join');

    const browserToken = await token('carol');
    const result = await page.evaluate(
      async ({ url, token }) => {
        type Sdk = new (options: object) => {
          on(event: string, fn: (...args: unknown[]) => void): unknown;
          joinRoom(room: string): Promise<unknown>;
          sendMessage(room: string, payload: unknown, persistent?: boolean): Promise<string>;
          status: string;
        };
        const w = window as unknown as { WebSocketClient: Sdk; client: InstanceType<Sdk>; received: unknown[]; states: string[] };
        w.received = [];
        w.states = [];
        // A long backoff: after a network loss, only the browser's `online` event brings the client back soon.
        const client = new w.WebSocketClient({ url, token, tenantId: 'acme', idleTimeoutMs: 1500, backoff: { minDelayMs: 120_000, maxDelayMs: 120_000 } });
        w.client = client;
        client.on('status:change', (s) => w.states.push(s as string));
        client.on('room:message', (m) => w.received.push(m));
        await client.joinRoom('browser');
        const id = await client.sendMessage('browser', { text: 'from the browser' }, true);
        return { id, status: client.status };
      },
      { url: server.url, token: browserToken },
    );
    expect(result.status).toBe('connected');
    expect(result.id).toMatch(/^\d{16}-/);

    const [presence] = await joined;
    expect(presence.user).toMatchObject({ userId: 'carol', status: 'online' });
    await until(() => bobSeen.messages.length === 1, 'the browser message at bob');
    expect(bobSeen.messages[0]).toMatchObject({ id: result.id, from: 'carol', payload: { text: 'from the browser' } });

    const reply = await bob.sendMessage('browser', { text: 'from node' });
    const received = (await page.waitForFunction(
      () => {
        const w = window as unknown as { received: RoomMessage[] };
        return w.received.length > 0 ? w.received : false;
      },
      undefined,
      { timeout: 10_000 },
    ).then((h) => h.jsonValue())) as RoomMessage[];
    expect(received).toEqual([expect.objectContaining({ id: reply, from: 'bob', payload: { text: 'from node' } })]);

    // Idle detection: no input for idleTimeoutMs sets away, input sets online again.
    const away = (await nextEvent(bob, 'presence:update')) as [PresenceUpdate];
    expect(away[0].presence).toEqual([expect.objectContaining({ userId: 'carol', status: 'away' })]);
    const back = nextEvent(bob, 'presence:update');
    await page.mouse.move(20, 20);
    await page.keyboard.press('a');
    const [online] = (await back) as [PresenceUpdate];
    expect(online.presence).toEqual([expect.objectContaining({ userId: 'carol', status: 'online' })]);

    // The network goes away and comes back: the client reconnects on the `online` event, recovering what it missed.
    await page.context().setOffline(true);
    await page.waitForFunction(() => (window as unknown as { states: string[] }).states.includes('reconnecting'), undefined, { timeout: 10_000 });
    const missed = await bob.sendMessage('browser', { text: 'while offline' }, true);
    await page.context().setOffline(false);
    await page.waitForFunction(() => (window as unknown as { states: string[] }).states.at(-1) === 'connected', undefined, { timeout: 10_000 });
    const afterOutage = (await page.waitForFunction(
      () => {
        const w = window as unknown as { received: RoomMessage[] };
        return w.received.length > 1 ? w.received : false;
      },
      undefined,
      { timeout: 10_000 },
    ).then((h) => h.jsonValue())) as RoomMessage[];
    expect(afterOutage.map((m) => m.id)).toEqual([reply, missed]);

    const presenceSeen = await bob.queryPresence('browser');
    expect(presenceSeen.map((p) => p.userId).sort()).toEqual(['bob', 'carol']);
    const left = nextEvent(bob, 'presence:leave');
    await page.evaluate(() => (window as unknown as { client: { disconnect(): void } }).client.disconnect());
    expect((await left)[0]).toEqual({ room: 'browser', userId: 'carol' });
    const states = await page.evaluate(() => (window as unknown as { states: string[] }).states);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected', 'disconnected']);
  });
});

describe('a page on an origin the server does not allow', () => {
  let refusing: ServerProcess;
  beforeAll(async () => {
    // The page's origin is not in this server's CORS_ORIGIN (the default, http://localhost:3000).
    refusing = await startServerProcess();
  });
  afterAll(async () => refusing?.stop());

  it('fails for good with ORIGIN_NOT_ALLOWED naming the page origin, over websocket and over polling', async () => {
    const page = suite.page();
    const origin = suite.origin();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { sdkLoaded?: boolean }).sdkLoaded === true);
    const browserToken = await token('carol');
    for (const transports of [undefined, ['polling']]) {
      const result = await page.evaluate(
        async ({ url, token, transports }) => {
          type Sdk = new (options: object) => {
            on(event: string, fn: (...args: unknown[]) => void): unknown;
            connect(): Promise<void>;
            status: string;
          };
          const w = window as unknown as { WebSocketClient: Sdk };
          const client = new w.WebSocketClient({ url, token, tenantId: 'acme', autoConnect: false, backoff: { minDelayMs: 50, maxDelayMs: 200 }, ...(transports && { transports }) });
          const codes: string[] = [];
          client.on('connect_error', (e) => codes.push((e as { code: string }).code));
          const error = (await client.connect().then(
            () => ({ code: 'connected', message: '' }),
            (e: { code: string; message: string }) => e,
          )) as { code: string; message: string };
          return { code: error.code, message: error.message, status: client.status, codes };
        },
        { url: refusing.url, token: browserToken, transports },
      );
      expect(result, String(transports)).toEqual({ code: 'ORIGIN_NOT_ALLOWED', message: expect.stringContaining(origin), status: 'failed', codes: ['ORIGIN_NOT_ALLOWED'] });
      expect(result.message).toContain('CORS_ORIGIN');
    }
    expect(refusing.output()).toContain(`"origin":"${origin}"`);
  });
});
