import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBrowser } from '../scripts/build-browser.mjs';
import { WebSocketClient } from '../src/index.js';
import { browserSuite } from './helpers/browser.js';
import { nextEvent, record, token, until } from './helpers/harness.js';

/** A React application as a user writes it: React and the SDK from their packages, bundled with esbuild. */
const APP = `
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { WebSocketClient } from '@intelgraph/websocket-client';
import { ClientProvider, useConnectionState, usePresence, useRoom } from '@intelgraph/websocket-client/react';

interface Chat { text: string }

function Status() {
  return <p id="state">{useConnectionState()}</p>;
}

function Lobby() {
  const { messages, joined, error, send } = useRoom<Chat>('lobby', { history: 2 });
  const presence = usePresence('lobby');
  return (
    <section>
      <p id="joined">{joined ? 'joined' : 'not joined'}{error ? ' ' + error.code : ''}</p>
      <ul id="messages">{messages.map((m) => <li key={m.id}>{m.from}: {m.payload.text}</li>)}</ul>
      <ul id="presence">{presence.map((p) => <li key={p.userId}>{p.userId} {p.status}</li>)}</ul>
      <button id="send" onClick={() => void send({ text: 'hello from react' }, { persistent: true })}>send</button>
    </section>
  );
}

function App({ client }: { client: WebSocketClient }) {
  const [open, setOpen] = useState(true);
  return (
    <ClientProvider client={client}>
      <Status />
      {open && <Lobby />}
      <button id="close" onClick={() => setOpen(false)}>close</button>
    </ClientProvider>
  );
}

const client = new WebSocketClient({
  url: new URLSearchParams(location.search).get('server')!,
  getToken: async () => (await fetch('/api/realtime-token', { method: 'POST' })).text(),
  tenantId: 'acme',
  echo: true,
});
createRoot(document.getElementById('root')!).render(<App client={client} />);
`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>react</title></head>
<body><div id="root"></div><script type="module" src="/app.js"></script></body></html>`;

let app = '';
let bob: WebSocketClient | undefined;

const suite = browserSuite(
  (req, res) => {
    if (req.url === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(app);
    else if (req.url?.startsWith('/?')) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else if (req.url === '/api/realtime-token' && req.method === 'POST') {
      // The application's backend: it knows its user (here always carol) and mints her a token.
      void token('carol').then((t) => res.writeHead(200, { 'content-type': 'text/plain' }).end(t));
    } else return false;
    return true;
  },
  async () => {
    await buildBrowser();
    const bundled = await build({
      stdin: { contents: APP, loader: 'tsx', resolveDir: fileURLToPath(new URL('.', import.meta.url)), sourcefile: 'app.tsx' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'warning',
    });
    app = bundled.outputFiles[0]?.text ?? '';
  },
);

afterAll(() => bob?.disconnect());

const texts = (selector: string) => suite.page().locator(`${selector} li`).allTextContents();

describe('the React hooks on a real React page', () => {
  it('show the connection state, the newest history, live messages, presence; send; leave on unmount', async () => {
    const server = suite.server();
    const page = suite.page();
    bob = new WebSocketClient({ url: server.url, token: await token('bob'), tenantId: 'acme' });
    const bobSeen = record(bob);
    await bob.joinRoom('lobby');
    for (const text of ['one', 'two', 'three']) await bob.sendMessage('lobby', { text }, true);
    const carolJoined = nextEvent(bob, 'presence:join');

    await page.goto(`${suite.origin()}/?server=${encodeURIComponent(server.url)}`);
    await page.locator('#state', { hasText: 'connected' }).waitFor();
    await page.locator('#joined', { hasText: 'joined' }).waitFor();
    expect((await carolJoined)[0].user.userId).toBe('carol');
    // The two newest stored messages, oldest first.
    await until(async () => (await texts('#messages')).length === 2, 'the history on the page');
    expect(await texts('#messages')).toEqual(['bob: two', 'bob: three']);
    await page.locator('#presence li', { hasText: 'carol online' }).waitFor();
    expect(await texts('#presence')).toEqual(['bob online', 'carol online']);

    await bob.sendMessage('lobby', { text: 'four' });
    await page.locator('#messages li', { hasText: 'bob: four' }).waitFor();

    await page.click('#send');
    await until(() => bobSeen.messages.length === 1, 'the page’s message at bob');
    expect(bobSeen.messages[0]).toMatchObject({ from: 'carol', payload: { text: 'hello from react' }, persistent: true });
    // With echo, the page shows its own message too.
    await page.locator('#messages li', { hasText: 'carol: hello from react' }).waitFor();
    expect(await texts('#messages')).toEqual(['bob: two', 'bob: three', 'bob: four', 'carol: hello from react']);

    await bob.setPresenceStatus('busy');
    await page.locator('#presence li', { hasText: 'bob busy' }).waitFor();

    const carolLeft = nextEvent(bob, 'presence:leave');
    await page.click('#close');
    expect((await carolLeft)[0]).toEqual({ room: 'lobby', userId: 'carol' });
    expect(await page.locator('#state').textContent()).toBe('connected');
    expect(suite.pageErrors).toEqual([]);
  });
});
