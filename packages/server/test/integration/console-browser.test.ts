import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBrowser } from '../../../client/scripts/build-browser.mjs';
import { docExample, fill } from '../../../client/test/helpers/docs.js';
import { api, API_KEYS, KEYS } from '../helpers/api.js';
import { fitsWidth, launchPages, unlabelled, type Pages } from '../helpers/chromium.js';
import { closeAll, connect, next, request } from '../helpers/clients.js';
import { startTestServer } from '../helpers/in-process.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const DEMO_KEY = 'demo-key-0123456789abcdefghijklmnopqrstuvw';
/** Long enough for a loaded machine; the pages answer in well under a second when idle. */
const WAIT = { timeout: 20_000 };

let server: ServerProcess;
let pages: Pages;

beforeAll(async () => {
  // The server reads the bundle at start.
  await buildBrowser();
  // No JWT_SECRET: the generated secret of a development server, so the pages can mint tokens.
  server = await startServerProcess({ JWT_SECRET: '', API_KEYS: `${API_KEYS},demo:${DEMO_KEY}` });
  pages = await launchPages();
});

afterAll(async () => {
  await pages?.close();
  await server?.stop();
});

/** Problems of the pages (console errors, CSP violations, uncaught errors, failed requests) since the test began. */
let problemsBefore = 0;
const problems = () => pages.problems.slice(problemsBefore);

beforeEach((ctx) => {
  problemsBefore = pages.problems.length;
  ctx.onTestFailed(async () => {
    await pages.screenshots(ctx.task.name);
  });
});

afterEach(() => closeAll());

async function signIn(page: Page, user: string): Promise<void> {
  await page.fill('#mint-user', user);
  await page.fill('#mint-tenant', 'demo');
  await page.press('#mint-tenant', 'Enter');
  await page.locator('#state', { hasText: /^connected$/ }).waitFor(WAIT);
}

async function join(page: Page, room: string): Promise<void> {
  await page.fill('#room', room);
  await page.press('#room', 'Enter');
  await page.locator('#current-room', { hasText: room }).waitFor(WAIT);
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

const message = (page: Page, text: string | RegExp) => page.locator('#messages li', { hasText: text });

describe('the demo at /', () => {
  let alice: Page;
  let bob: Page;

  it('two windows chat, see each other’s presence and status, and page through older history', async () => {
    // History before anyone opens the room: more than one page of 20.
    const seeded = Array.from({ length: 25 }, (_, i) => ({ room: 'lobby', payload: { text: `seed ${i + 1}` }, persistent: true }));
    expect((await api(server.url, 'POST', '/messages?tenantId=demo', { key: KEYS.operator, body: { messages: seeded } })).status).toBe(200);

    alice = await pages.open('alice', `${server.url}/`);
    bob = await pages.open('bob', `${server.url}/`, { phone: true });
    expect(await unlabelled(alice)).toEqual([]);
    await signIn(alice, 'alice');
    await signIn(bob, 'bob');
    expect(await alice.textContent('#whoami')).toContain('alice @ demo');
    await join(alice, 'lobby');
    await join(bob, 'lobby');

    // The newest page first; older ones on request, until there are none.
    await message(alice, 'seed 25').waitFor(WAIT);
    expect(await alice.locator('#messages li').count()).toBe(20);
    expect(await message(alice, /seed 5\b/).count()).toBe(0);
    await alice.click('#older');
    await message(alice, /seed 1\b/).first().waitFor(WAIT);
    expect(await alice.locator('#messages li').count()).toBe(25);
    await alice.locator('#older', { hasText: 'No older messages' }).waitFor(WAIT);
    expect(await alice.isDisabled('#older')).toBe(true);

    await say(alice, 'hello bob');
    await message(bob, 'alice: hello bob').waitFor(WAIT);
    await say(bob, 'hi alice');
    await message(alice, 'bob: hi alice').waitFor(WAIT);
    const id = await message(alice, 'bob: hi alice').getAttribute('data-id');
    expect(id).toMatch(/^\d{16}-/);
    expect(await message(alice, 'bob: hi alice').textContent()).toContain(id);

    await alice.locator('#presence li[data-user="bob"]', { hasText: 'bob: online' }).waitFor(WAIT);
    await bob.locator('#presence li[data-user="alice"]', { hasText: 'alice: online' }).waitFor(WAIT);
    await bob.focus('#status');
    await bob.selectOption('#status', 'busy');
    await alice.locator('#presence li[data-user="bob"]', { hasText: 'bob: busy' }).waitFor(WAIT);
    await alice.locator('#changes li', { hasText: 'bob is busy' }).waitFor(WAIT);

    // A message not kept in history is delivered and marked so.
    await bob.uncheck('#persistent');
    await say(bob, 'just passing');
    await message(alice, 'bob: just passing').waitFor(WAIT);
    expect(await message(alice, 'bob: just passing').textContent()).toContain('not kept');
    await bob.check('#persistent');

    // Readable on a phone-sized window: nothing wider than the screen.
    expect(await fitsWidth(bob)).toBe(true);
    expect(await unlabelled(bob)).toEqual([]);
    expect(problems()).toEqual([]);
  });

  it('a reload shows the history again, and recovers what was sent while the page was gone', async () => {
    await alice.reload();
    await alice.waitForSelector('body[data-ready="true"]');
    await alice.locator('#state', { hasText: /^connected$/ }).waitFor(WAIT);
    await message(alice, 'bob: hi alice').waitFor(WAIT);
    await alice.locator('#recovered', { hasText: 'yes (0 new since the reload)' }).waitFor(WAIT);

    // Gone: the tab shows another page while bob writes, then comes back to the demo.
    await alice.goto('about:blank');
    await bob.locator('#presence li[data-user="alice"]').waitFor({ state: 'detached', ...WAIT });
    await say(bob, 'while you were away 1');
    await message(bob, 'while you were away 1').waitFor(WAIT);
    await say(bob, 'while you were away 2');
    await message(bob, 'while you were away 2').waitFor(WAIT);
    await alice.goto(`${server.url}/`);
    await alice.waitForSelector('body[data-ready="true"]');
    await message(alice, 'bob: while you were away 2').waitFor(WAIT);
    await message(alice, 'bob: while you were away 1').waitFor(WAIT);
    await alice.locator('#recovered', { hasText: 'yes (2 new since the reload)' }).waitFor(WAIT);
    // Presence is loaded again with the room: bob is still busy.
    await alice.locator('#presence li[data-user="bob"]', { hasText: 'bob: busy' }).waitFor(WAIT);
    expect(problems()).toEqual([]);
  });

  it('a network outage: reconnecting, then connected again with what was missed, counted and flagged recovered', async () => {
    await alice.context().setOffline(true);
    await alice.locator('#state', { hasText: 'reconnecting' }).waitFor(WAIT);
    await say(bob, 'during the outage');
    await message(bob, 'during the outage').waitFor(WAIT);
    await alice.context().setOffline(false);
    await alice.locator('#state', { hasText: /^connected$/ }).waitFor(WAIT);
    await message(alice, 'bob: during the outage').waitFor(WAIT);
    expect(await alice.textContent('#reconnects')).toBe('1');
    await alice.locator('#recovered', { hasText: 'yes (after reconnect)' }).waitFor(WAIT);
    // The outage itself shows in the console as failed connections; nothing else may.
    const outage = /ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|ERR_NAME_NOT_RESOLVED/;
    expect(problems().filter((p) => !(p.startsWith('alice:') && outage.test(p)))).toEqual([]);
  });

  it('signs in with a token pasted into the page', async () => {
    const res = await fetch(`${server.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'carol', tenantId: 'demo' }) });
    const { token } = (await res.json()) as { token: string };
    const carol = await pages.open('carol', `${server.url}/`);
    await carol.fill('#token', token);
    await carol.press('#token', 'Enter');
    await carol.locator('#state', { hasText: /^connected$/ }).waitFor(WAIT);
    expect(await carol.textContent('#whoami')).toContain('carol @ demo');
    await join(carol, 'lobby');
    await alice.locator('#presence li[data-user="carol"]').waitFor(WAIT);
    await carol.click('#signout');
    await alice.locator('#presence li[data-user="carol"]').waitFor({ state: 'detached', ...WAIT });
    expect(await carol.isVisible('#signin')).toBe(true);
    expect(problems()).toEqual([]);
  });

  it('leaving a room: the others see the user leave', async () => {
    await bob.click('#leave');
    await bob.locator('#room-view').waitFor({ state: 'hidden', ...WAIT });
    await alice.locator('#presence li[data-user="bob"]').waitFor({ state: 'detached', ...WAIT });
    await alice.locator('#changes li', { hasText: 'bob left' }).waitFor(WAIT);
    expect(await bob.locator('#tabs button').count()).toBe(0);
    expect(problems()).toEqual([]);
  });
});

describe('docs/sdk.md: a page of the development server minting its own token', () => {
  it('connects and joins with a token from POST /dev/token', async () => {
    const page = await pages.open('dev-token', `${server.url}/`);
    // The example is a module; evaluated here, its static import becomes a dynamic one.
    const code = fill(docExample('dev-token'), {
      "import { WebSocketClient } from '/client/websocket-client.js';": "const { WebSocketClient } = await import('/client/websocket-client.js');",
    });
    const state = await page.evaluate<{ status: string; rooms: string[]; user: string | undefined }>(
      `(async () => { ${code}; return { status: client.status, rooms: client.joinedRooms, user: client.connectionInfo?.userId }; })()`,
    );
    expect(state).toEqual({ status: 'connected', rooms: ['lobby'], user: 'alice' });
    expect(problems()).toEqual([]);
  });
});

describe('the admin view at /admin', () => {
  it('lists a room a Node client created, shows its tenant\'s message rate, tails it, publishes into it and disconnects its user', async () => {
    const res = await fetch(`${server.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'nodeuser', tenantId: 'demo' }) });
    const { token } = (await res.json()) as { token: string };
    const { socket } = await connect(server.url, { token });
    await request(socket, 'room:join', { room: 'ops/node' });
    expect(await request(socket, 'room:send', { room: 'ops/node', payload: { text: 'from node 1' }, persistent: true })).toMatchObject({ success: true });

    const admin = await pages.open('admin', `${server.url}/admin`);
    expect(await unlabelled(admin)).toEqual([]);
    await admin.fill('#key', KEYS.operator);
    await admin.press('#key', 'Enter');
    await admin.locator('#keyinfo', { hasText: 'Operator key' }).waitFor(WAIT);
    await admin.locator('#instances td', { hasText: 'running' }).waitFor(WAIT);
    await admin.locator('#tenants td', { hasText: /^demo$/ }).waitFor(WAIT);
    await admin.click('button[aria-label="Show tenant demo"]');
    await admin.locator('#rooms td', { hasText: /^ops\/node$/ }).waitFor(WAIT);

    await admin.click('button[aria-label="Open room ops/node"]');
    await admin.locator('#tail li', { hasText: 'nodeuser: from node 1' }).waitFor(WAIT);
    await admin.locator('#room-presence li[data-user="nodeuser"]', { hasText: 'online' }).waitFor(WAIT);
    await request(socket, 'room:send', { room: 'ops/node', payload: { text: 'from node 2' }, persistent: true });
    await admin.locator('#tail li', { hasText: 'nodeuser: from node 2' }).waitFor(WAIT);

    // Rates come from two reads of the tenants' counters: keep sending until one refresh sees them grow.
    const rate = admin.locator('#tenants tr:has(button[aria-label="Show tenant demo"]) td:nth-child(3)');
    const deadline = Date.now() + 40_000;
    let sent = 0;
    while (!(Number(await rate.textContent()) > 0)) {
      if (Date.now() > deadline) throw new Error(`no message rate for tenant demo after ${sent} messages: ${await rate.textContent()}`);
      await request(socket, 'room:send', { room: 'ops/node', payload: { text: `tick ${++sent}` } });
      await new Promise((r) => setTimeout(r, 250));
    }

    const published = next<{ from: string; payload: unknown }>(socket, 'room:message', (m) => m.from === 'system', 20_000);
    await admin.fill('#publish-text', 'from the admin view');
    await admin.press('#publish-text', 'Enter');
    expect((await published).payload).toEqual({ text: 'from the admin view' });

    await admin.fill('#user', 'nodeuser');
    await admin.press('#user', 'Enter');
    await admin.locator('#user-view', { hasText: 'nodeuser is online: 1 connection(s)' }).waitFor(WAIT);
    const closed = next<{ code: string; disconnect?: boolean }>(socket, 'system:error', () => true, 20_000);
    await admin.click('#disconnect button');
    expect(await closed).toMatchObject({ code: 'FORBIDDEN', disconnect: true });
    await admin.locator('#user-view', { hasText: 'closed with FORBIDDEN' }).waitFor(WAIT);

    // This server has no webhooks: the panel says so instead of failing.
    await admin.locator('#dead-letters', { hasText: 'not configured or not available' }).waitFor(WAIT);
    expect(problems()).toEqual([]);
  });

  it('with a tenant key shows that tenant only, without instances or other tenants', async () => {
    const admin = await pages.open('tenant-admin', `${server.url}/admin`);
    await admin.fill('#key', DEMO_KEY);
    await admin.press('#key', 'Enter');
    await admin.locator('#keyinfo', { hasText: 'Tenant key: demo' }).waitFor(WAIT);
    await admin.locator('#rooms-tenant', { hasText: 'demo' }).waitFor(WAIT);
    expect(await admin.isHidden('#instances-section')).toBe(true);
    expect(await admin.isHidden('#tenants-section')).toBe(true);
    expect(await admin.inputValue('#tenant')).toBe('demo');
    expect(problems()).toEqual([]);
  });

  it('says how to enable it on a server without API keys', async () => {
    const bare = await startTestServer({});
    try {
      const admin = await pages.open('no-keys', `${bare.url}/admin`);
      await admin.locator('#disabled', { hasText: 'API_KEYS' }).waitFor(WAIT);
      expect(await admin.isHidden('#signin')).toBe(true);
      expect(problems()).toEqual([]);
    } finally {
      await bare.close();
    }
  });
});
