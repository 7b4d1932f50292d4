import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/test/helpers/ports.js';
import { TEST_JWT_SECRET } from '../../server/test/helpers/tokens.js';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { WebSocketClient } from '../src/index.js';
import { browserSuite, type StartApp } from './helpers/browser.js';
import { docExample, fill } from './helpers/docs.js';
import { nextEvent, record, token, until } from './helpers/harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
const REAL_TIME_URL = "'https://realtime.example.com'";
const reactPage = (script: string) => `<!doctype html><html><head><meta charset="utf-8"><title>React</title></head>
<body><div id="root"></div><script type="module" src="/assets/${script}"></script></body></html>`;

/** Two components using one room: the room is left when the last of them unmounts. */
const SHARED_ROOM_APP = `
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { WebSocketClient } from '@intelgraph/websocket-client';
import { ClientProvider, useRoom } from '@intelgraph/websocket-client/react';

const client = new WebSocketClient({
  url: ${REAL_TIME_URL},
  getToken: async () => (await fetch('/api/realtime-token', { method: 'POST' })).text(),
  tenantId: 'acme',
});

function Panel({ id }: { id: string }) {
  const { joined, messages } = useRoom('investigation:123');
  return <p id={id}>{joined ? 'joined' : 'joining'} {messages.length}</p>;
}

function App() {
  const [first, setFirst] = useState(true);
  const [second, setSecond] = useState(true);
  return (
    <ClientProvider client={client}>
      {first && <Panel id="first" />}
      {second && <Panel id="second" />}
      <button id="close-first" onClick={() => setFirst(false)}>1</button>
      <button id="close-second" onClick={() => setSecond(false)}>2</button>
    </ClientProvider>
  );
}

createRoot(document.getElementById('root')!).render(<App />);
`;

let dir: string;
let bob: WebSocketClient | undefined;

/** docs/sdk.md's backend example, run as written as a process of its own: the application's server. */
const backend: StartApp = async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdk-docs-app-'));
  await mkdir(join(dir, 'assets'));
  const port = await freePort();
  const program = `import { serveApp } from ${JSON.stringify(join(HERE, 'helpers/static-app.ts'))};\n${fill(docExample('backend'), { '.listen(3000)': `.listen(${port}, '127.0.0.1')` })}`;
  const file = join(ROOT, 'packages/client/dist', `backend-${process.pid}.ts`);
  await writeFile(file, program);
  let out = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, APP_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const origin = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`the backend example exited: ${out}`);
    return fetch(`${origin}/`).then(() => true, () => false);
  }, 'the backend example listening');
  return {
    origin,
    close: async () => {
      child.kill();
      await rm(file, { force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
};

const suite = browserSuite(backend);

// After the suite's start: the pages need the real-time server's address.
beforeAll(async () => {
  const server = suite.server();
  const browserBundle = await buildBrowser();
  await copyFile(browserBundle.outfile, join(dir, 'assets/websocket-client.js'));
  await writeFile(join(dir, 'index.html'), fill(docExample('browser'), { [REAL_TIME_URL]: `'${server.url}'` }));
  const bundle = async (name: string, app: string): Promise<void> => {
    const built = await build({
      stdin: { contents: fill(app, { [REAL_TIME_URL]: `'${server.url}'` }), loader: 'tsx', resolveDir: HERE, sourcefile: `${name}.tsx` },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'warning',
    });
    await writeFile(join(dir, `assets/${name}.js`), built.outputFiles[0]?.text ?? '');
    await writeFile(join(dir, `${name}.html`), reactPage(`${name}.js`));
  };
  await bundle('react', docExample('react'));
  await bundle('shared', SHARED_ROOM_APP);
  await suite.page().context().addCookies([{ name: 'user', value: 'carol', url: suite.origin() }]);
});

afterAll(() => bob?.disconnect());

describe('docs/sdk.md browser examples, served by its backend example', () => {
  it('the token endpoint answers the signed-in user only', async () => {
    expect((await fetch(`${suite.origin()}/api/realtime-token`, { method: 'POST' })).status).toBe(401);
    const res = await fetch(`${suite.origin()}/api/realtime-token`, { method: 'POST', headers: { cookie: 'user=carol' } });
    expect(res.status).toBe(200);
    const [, claims] = (await res.text()).split('.');
    expect(JSON.parse(Buffer.from(claims ?? '', 'base64url').toString())).toMatchObject({ sub: 'carol', tenantId: 'acme', rooms: ['investigation:*'] });
  });

  it('the page without a build step gets a token from the backend, joins and shows messages', async () => {
    const server = suite.server();
    const page = suite.page();
    bob = new WebSocketClient({ url: server.url, token: await token('bob'), tenantId: 'acme' });
    await bob.joinRoom('investigation:123');
    const carolJoined = nextEvent(bob, 'presence:join');
    await page.goto(`${suite.origin()}/`);
    expect((await carolJoined)[0].user.userId).toBe('carol');
    await bob.sendMessage('investigation:123', { text: 'hello page' }, true);
    await page.locator('#messages li', { hasText: 'bob: hello page' }).waitFor();
    expect(suite.pageErrors).toEqual([]);
  });

  it('the React application: connection banner, the newest 50 stored messages, live ones, presence, sending, leaving on unmount', async () => {
    const page = suite.page();
    const sender = bob as WebSocketClient;
    const bobSeen = record(sender);
    const ids: string[] = [];
    for (let i = 1; i <= 55; i++) ids.push(await sender.sendMessage('investigation:123', { text: `m${i}` }, true));
    const carolJoined = nextEvent(sender, 'presence:join');
    await page.goto(`${suite.origin()}/react`);
    expect((await carolJoined)[0].user.userId).toBe('carol');
    const items = page.locator('.messages li');
    await until(async () => (await items.count()) === 50, 'the newest 50 messages');
    const shown = await items.allTextContents();
    expect(shown).toEqual(Array.from({ length: 50 }, (_, i) => `bob: m${i + 6}`));
    expect(await page.locator('.banner').count()).toBe(0);
    await page.locator('.people', { hasText: 'bob (online), carol (online)' }).waitFor();

    await sender.sendMessage('investigation:123', { text: 'live' });
    await page.locator('.messages li', { hasText: 'bob: live' }).waitFor();
    await sender.setPresenceStatus('busy');
    await page.locator('.people', { hasText: 'bob (busy), carol (online)' }).waitFor();

    await page.fill('input', 'from the page');
    await page.click('button:has-text("Send")');
    await until(() => bobSeen.messages.some((m) => m.from === 'carol'), 'the page’s message at bob');
    expect(bobSeen.messages.find((m) => m.from === 'carol')).toMatchObject({ payload: { text: 'from the page' }, persistent: true });
    // echo: true in the example, so the page lists its own message.
    await page.locator('.messages li', { hasText: 'carol: from the page' }).waitFor();
    expect(await items.count()).toBe(52);

    const carolLeft = nextEvent(sender, 'presence:leave');
    await page.click('button.close');
    expect((await carolLeft)[0]).toEqual({ room: 'investigation:123', userId: 'carol' });
    // The client stays connected: only the room was left.
    expect(await page.locator('.banner').count()).toBe(0);
    expect(suite.pageErrors).toEqual([]);
  });

  it('useRoom: the room stays joined until the last component using it unmounts', async () => {
    const page = suite.page();
    const sender = bob as WebSocketClient;
    const carolJoined = nextEvent(sender, 'presence:join');
    await page.goto(`${suite.origin()}/shared`);
    expect((await carolJoined)[0].user.userId).toBe('carol');
    await page.locator('#first', { hasText: 'joined' }).waitFor();
    await page.locator('#second', { hasText: 'joined' }).waitFor();
    await sender.sendMessage('investigation:123', { text: 'to both' });
    await page.locator('#first', { hasText: 'joined 1' }).waitFor();
    await page.locator('#second', { hasText: 'joined 1' }).waitFor();

    await page.click('#close-first');
    await page.locator('#first').waitFor({ state: 'detached' });
    await sender.sendMessage('investigation:123', { text: 'to the second' });
    await page.locator('#second', { hasText: 'joined 2' }).waitFor();
    expect((await sender.queryPresence('investigation:123')).map((p) => p.userId).sort()).toEqual(['bob', 'carol']);

    const carolLeft = nextEvent(sender, 'presence:leave');
    await page.click('#close-second');
    expect((await carolLeft)[0]).toEqual({ room: 'investigation:123', userId: 'carol' });
    expect(suite.pageErrors).toEqual([]);
  });
});
