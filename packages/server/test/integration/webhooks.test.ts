import { afterEach, describe, expect, it } from 'vitest';
import { api, API_KEYS, KEYS } from '../helpers/api.js';
import { closeAll, connect, request, sleep, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { about, startWebhookReceiver, type ReceivedEvent, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Webhooks on the embedded engine (one instance): every event kind, signed, batched, in order per
 * room; the grace window; retries and dead letters for a receiver answering 500 or not at all; the
 * dead-letter routes; the per-tenant endpoints of WEBHOOKS_FILE with their filters.
 */
const SECRET = 'webhook-secret-0123456789abcdefghijklmnop';
const GRACE = 800;

let srv: TestServer | undefined;
let receivers: WebhookReceiver[] = [];

async function receiver(mode: 'ok' | 'fail' | 'hang' = 'ok'): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(SECRET, mode);
  receivers.push(r);
  return r;
}

afterEach(async () => {
  closeAll();
  await srv?.close();
  srv = undefined;
  await Promise.all(receivers.map((r) => r.close()));
  receivers = [];
});

const types = (events: readonly ReceivedEvent[]) => events.map((e) => e.type);

describe('webhooks (embedded engine)', { timeout: 90_000 }, () => {
  it('sends every kind of event, signed, batched, once each, in order per room', async () => {
    const rx = await receiver();
    srv = await startTestServer({
      API_KEYS,
      WEBHOOK_URL: rx.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_EVENTS: 'room.occupied,room.vacated,member.joined,member.left,user.online,user.offline,presence.changed,message.published',
      WEBHOOK_BATCH_WAIT: '200',
      WEBHOOK_LEAVE_GRACE: String(GRACE),
    });
    const alice = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    await request(alice.socket, 'room:join', { room: 'lobby' });
    const bob = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    await request(bob.socket, 'room:join', { room: 'lobby' });
    await request(bob.socket, 'presence:status', { status: 'away' });
    await request(alice.socket, 'room:send', { room: 'lobby', payload: { text: 'hi' } });
    const published = await api(srv.url, 'POST', '/rooms/lobby/messages', { key: KEYS.acme, body: { payload: 'from the backend' } });
    expect(published.status).toBe(200);
    await request(alice.socket, 'room:leave', { room: 'lobby' });
    bob.socket.disconnect();
    await until(() => about(rx.unique(), 'user.offline', { userId: 'bob' }).length === 1, 15_000, 'bob offline');
    alice.socket.disconnect();
    await until(() => about(rx.unique(), 'user.offline', { userId: 'alice' }).length === 1, 15_000, 'alice offline');

    expect(rx.requests.every((r) => r.signed)).toBe(true);
    const events = rx.unique();
    expect(rx.all()).toHaveLength(events.length);
    expect(types(events.filter((e) => e.data.room === 'lobby'))).toEqual([
      'room.occupied',
      'member.joined',
      'member.joined',
      'presence.changed',
      'message.published',
      'message.published',
      'member.left',
      'member.left',
      'room.vacated',
    ]);
    expect(types(events.filter((e) => e.data.room === undefined)).sort()).toEqual(['user.offline', 'user.offline', 'user.online', 'user.online']);
    for (const e of events) {
      expect(e.tenantId).toBe('acme');
      expect(e.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    }
    expect(about(events, 'member.joined', { userId: 'alice' })[0]?.data).toMatchObject({ room: 'lobby', user: { userId: 'alice', status: 'online', connections: 1 } });
    expect(about(events, 'presence.changed', { userId: 'bob' })[0]?.data).toMatchObject({ room: 'lobby', user: { userId: 'bob', status: 'away' } });
    expect(about(events, 'member.left', { userId: 'alice' })[0]?.data).toEqual({ room: 'lobby', userId: 'alice' });
    const messages = about(events, 'message.published', { room: 'lobby' }).map((e) => e.data.message as { from: string; payload: unknown });
    expect(messages.map((m) => [m.from, m.payload])).toEqual([
      ['alice', { text: 'hi' }],
      ['system', 'from the backend'],
    ]);
    // Batching: fewer requests than events.
    expect(rx.requests.length).toBeLessThan(events.length);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/websocket_webhook_deliveries_total\{outcome="delivered"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/websocket_webhook_delivery_latency_ms_count\{[^}]*\} [1-9]/);
  });

  it('reports neither leave nor return for a reconnect within the grace window', async () => {
    const rx = await receiver();
    srv = await startTestServer({ WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET, WEBHOOK_BATCH_WAIT: '50', WEBHOOK_LEAVE_GRACE: '3000' });
    const first = await connect(srv.url, { claims: { sub: 'carol', tenantId: 'acme' } });
    await request(first.socket, 'room:join', { room: 'desk' });
    await until(() => about(rx.unique(), 'member.joined', { userId: 'carol' }).length === 1, 10_000, 'carol joined');
    first.socket.disconnect();
    await sleep(300);
    const again = await connect(srv.url, { claims: { sub: 'carol', tenantId: 'acme' } });
    await request(again.socket, 'room:join', { room: 'desk' });
    // Past the window: a leave not cancelled would have been sent by now.
    await sleep(4000);
    const events = rx.unique();
    expect(types(events).sort()).toEqual(['member.joined', 'room.occupied', 'user.online']);
    // A leave that stays is sent once its window ends.
    again.socket.disconnect();
    await until(() => about(rx.unique(), 'user.offline').length === 1, 15_000, 'carol offline');
    expect(types(rx.unique()).slice(3).sort()).toEqual(['member.left', 'room.vacated', 'user.offline']);
  });

  it('retries a receiver answering 500, dead-letters the batch, and replays it on request with the same ids', async () => {
    const rx = await receiver('fail');
    srv = await startTestServer({
      API_KEYS,
      WEBHOOK_URL: rx.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BATCH_WAIT: '0',
      WEBHOOK_LEAVE_GRACE: '0',
      WEBHOOK_RETRY_FOR: '2',
      WEBHOOK_RETRY_BASE: '100',
      WEBHOOK_RETRY_MAX_DELAY: '400',
      WEBHOOK_EVENTS: 'user.online',
    });
    await connect(srv.url, { claims: { sub: 'dave', tenantId: 'acme' } });
    type Letters = { deadLetters: { id: string; tenantId: string; url: string; events: ReceivedEvent[]; attempts: number; lastError: string; failedAt: number }[]; cursor: string | null };
    const list = async (key: string, query = '') => (await api<Letters>(srv?.url as string, 'GET', `/webhooks/dead-letters${query}`, { key })).body;
    await until(async () => (await list(KEYS.acme)).deadLetters.length === 1, 20_000, 'a dead letter');
    const [letter] = (await list(KEYS.acme)).deadLetters;
    expect(letter).toMatchObject({ tenantId: 'acme', url: rx.url, lastError: 'status 500' });
    expect(letter?.attempts).toBeGreaterThanOrEqual(2);
    expect(types(letter?.events ?? [])).toEqual(['user.online']);
    const id = letter?.events[0]?.id as string;
    // Every attempt carried the same event (same id), and nothing else came.
    expect(rx.requests.length).toBe(letter?.attempts);
    expect(new Set(rx.all().map((e) => e.id))).toEqual(new Set([id]));
    // Tenant keys see their own letters only; an operator key sees all.
    expect((await list(KEYS.globex)).deadLetters).toEqual([]);
    expect((await list(KEYS.operator)).deadLetters.map((l) => l.id)).toEqual([letter?.id]);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/websocket_webhook_dead_letters_total\{[^}]*\} 1/);
    expect(metrics).toMatch(/websocket_webhook_retries_total\{[^}]*\} [1-9]/);

    rx.mode = 'ok';
    const replay = await api(srv.url, 'POST', `/webhooks/dead-letters/${letter?.id}/replay`, { key: KEYS.acme });
    expect(replay).toMatchObject({ status: 200, body: { id: letter?.id, replayed: 1 } });
    const attempts = letter?.attempts ?? 0;
    await until(() => rx.all().filter((e) => e.id === id).length === attempts + 1, 10_000, 'the replayed event');
    expect((await list(KEYS.acme)).deadLetters).toEqual([]);
    await sleep(500);
    expect(rx.all()).toHaveLength(attempts + 1);
  });

  it('gives up on a receiver that does not answer within WEBHOOK_TIMEOUT', async () => {
    const rx = await receiver('hang');
    srv = await startTestServer({
      API_KEYS,
      WEBHOOK_URL: rx.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BATCH_WAIT: '0',
      WEBHOOK_TIMEOUT: '300',
      WEBHOOK_RETRY_FOR: '1',
      WEBHOOK_RETRY_BASE: '50',
      WEBHOOK_RETRY_MAX_DELAY: '200',
      WEBHOOK_EVENTS: 'user.online',
    });
    await connect(srv.url, { claims: { sub: 'erin', tenantId: 'acme' } });
    type Letters = { deadLetters: { attempts: number; lastError: string }[] };
    let letters: Letters['deadLetters'] = [];
    await until(async () => (letters = (await api<Letters>(srv?.url as string, 'GET', '/webhooks/dead-letters', { key: KEYS.operator })).body.deadLetters).length === 1, 20_000, 'a dead letter');
    expect(letters[0]?.lastError).toBe('no answer within 300 ms');
    expect(letters[0]?.attempts).toBeGreaterThanOrEqual(2);
    expect(rx.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('lists no dead letters, saying so, and finds none to replay on a server without webhook endpoints', async () => {
    srv = await startTestServer({ API_KEYS });
    const list = await api(srv.url, 'GET', '/webhooks/dead-letters', { key: KEYS.operator });
    expect(list).toMatchObject({ status: 200, body: { deadLetters: [], cursor: null, configured: false } });
    const replay = await api(srv.url, 'POST', '/webhooks/dead-letters/dl_1733026300512_9c0e1f2a3b4c/replay', { key: KEYS.acme });
    expect(replay).toMatchObject({ status: 404, body: { error: 'NOT_FOUND', message: 'Webhooks are not configured on this server' } });
  });

  it("sends each tenant's events to its endpoints of WEBHOOKS_FILE, filtered by event and room prefix", async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const all = await receiver();
    const acme = await receiver();
    const dir = await mkdtemp(join(tmpdir(), 'webhooks-'));
    const file = join(dir, 'webhooks.yaml');
    await writeFile(file, ['endpoints:', '  - tenantId: acme', `    url: ${acme.url}`, `    secret: ${SECRET}`, '    events: [member.joined, message.published]', '    roomPrefixes: [support/]', ''].join('\n'));
    srv = await startTestServer({ WEBHOOK_URL: all.url, WEBHOOK_SECRET: SECRET, WEBHOOKS_FILE: file, WEBHOOK_BATCH_WAIT: '50', WEBHOOK_LEAVE_GRACE: '0' });
    const a = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    const g = await connect(srv.url, { claims: { sub: 'gus', tenantId: 'globex' } });
    await request(a.socket, 'room:join', { room: 'support/1' });
    await request(a.socket, 'room:join', { room: 'sales/1' });
    await request(g.socket, 'room:join', { room: 'support/1' });
    await request(a.socket, 'room:send', { room: 'support/1', payload: 1 });
    await request(a.socket, 'room:send', { room: 'sales/1', payload: 2 });
    await until(() => about(acme.unique(), 'message.published').length === 1 && about(all.unique(), 'member.joined').length === 3, 10_000, 'events');
    await sleep(500);
    expect(acme.requests.every((r) => r.signed)).toBe(true);
    expect(acme.unique().map((e) => [e.type, e.tenantId, e.data.room])).toEqual([
      ['member.joined', 'acme', 'support/1'],
      ['message.published', 'acme', 'support/1'],
    ]);
    // WEBHOOK_URL: every tenant, the default events (message.published is opt-in).
    expect(new Set(all.unique().map((e) => e.tenantId))).toEqual(new Set(['acme', 'globex']));
    expect(about(all.unique(), 'message.published')).toEqual([]);
    expect(about(all.unique(), 'user.online')).toHaveLength(2);
  });
});
