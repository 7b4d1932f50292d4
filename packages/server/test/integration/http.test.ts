import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf, isErrorCode, type ErrorCode } from '@intelgraph/websocket-protocol';
import { closeAll, connect, connectError, next, request } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

const SEED_METRICS = [
  'websocket_active_connections',
  'websocket_connections_total',
  'websocket_messages_sent_total',
  'websocket_messages_received_total',
  'websocket_message_latency_ms',
  'websocket_active_rooms',
  'websocket_room_subscriptions',
  'websocket_errors_total',
  'websocket_redis_latency_ms',
  'websocket_event_loop_lag_ms',
];

describe('HTTP endpoints', () => {
  let srv: TestServer;
  const API_KEY = 'publish-key-for-tests-0123456789';
  beforeAll(async () => {
    srv = await startTestServer({ API_KEY, CORS_ORIGIN: 'https://app.example.com,https://admin.example.com' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('GET /health, /health/live and /health/ready answer 200', async () => {
    const health = await fetch(`${srv.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', engine: 'memory', lifecycle: 'running', dependencies: {} });
    expect((await fetch(`${srv.url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${srv.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics exports every metric name of the product description, with tenant labels', async () => {
    const { socket } = await connect(srv.url, { claims: { tenantId: 'metrics-tenant' } });
    await request(socket, 'room:join', { room: 'm' });
    await request(socket, 'room:send', { room: 'm', payload: 1 });
    await request(socket, 'room:send', { room: 'm', payload: 2, persistent: true });
    await request(socket, 'room:send', { room: 'nope', payload: 1 });
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    for (const name of SEED_METRICS) expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(text).toMatch(/websocket_active_connections\{[^}]*tenant="metrics-tenant"[^}]*status="online"[^}]*\} 1/);
    expect(text).toMatch(/websocket_messages_received_total\{[^}]*tenant="metrics-tenant"[^}]*event="room:send"[^}]*\} 3/);
    expect(text).toMatch(/websocket_messages_sent_total\{[^}]*tenant="metrics-tenant"[^}]*\} 2/);
    expect(text).toMatch(/websocket_messages_persisted_total\{[^}]*tenant="metrics-tenant"[^}]*\} 1/);
    // Counted from one scrape to the next, not again.
    expect(await (await fetch(`${srv.url}/metrics`)).text()).toMatch(/websocket_messages_sent_total\{[^}]*tenant="metrics-tenant"[^}]*\} 2/);
    expect(text).toMatch(/websocket_errors_total\{[^}]*type="NOT_IN_ROOM"[^}]*\} [1-9]/);
    expect(text).toMatch(/websocket_active_rooms\{[^}]*\} 1/);
    expect(text).toMatch(/websocket_room_subscriptions\{[^}]*\} 1/);
  });

  it('GET /stats is open in development and test, with connection statistics', async () => {
    await connect(srv.url, { claims: { tenantId: 'stats-tenant' } });
    const res = await fetch(`${srv.url}/stats`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { connections: { total: number; byTenant: Record<string, number> } };
    expect(body.connections.byTenant['stats-tenant']).toBe(1);
  });

  it('POST /api/publish refuses without or with a wrong API key', async () => {
    const body = JSON.stringify({ tenantId: 'acme', room: 'news', payload: 1 });
    const none = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'AUTH_REQUIRED' });
    const wrong = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' }, body });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'AUTH_INVALID' });
  });

  it.each([
    ['invalid JSON', '{nope', 'INVALID_PAYLOAD', 400],
    ['a missing tenantId', JSON.stringify({ room: 'news', payload: 1 }), 'INVALID_PAYLOAD', 400],
    ['an invalid room', JSON.stringify({ tenantId: 'acme', room: 'bad room', payload: 1 }), 'INVALID_ROOM', 400],
    ['a missing payload', JSON.stringify({ tenantId: 'acme', room: 'news' }), 'INVALID_PAYLOAD', 400],
    ['an oversized body', JSON.stringify({ tenantId: 'acme', room: 'news', payload: 'x'.repeat(200_000) }), 'PAYLOAD_TOO_LARGE', 413],
  ])('POST /api/publish answers %s with a coded error', async (_n, body, code, status) => {
    const res = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error: code, message: expect.any(String) });
  });

  it('POST /api/publish delivers into the tenant\'s room only', async () => {
    const a = await connect(srv.url, { claims: { tenantId: 'acme' } });
    const g = await connect(srv.url, { claims: { tenantId: 'globex' } });
    await request(a.socket, 'room:join', { room: 'news' });
    await request(g.socket, 'room:join', { room: 'news' });
    const got = next(a.socket, 'room:message');
    const other: unknown[] = [];
    g.socket.on('room:message', (m) => other.push(m));
    const res = await fetch(`${srv.url}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ tenantId: 'acme', room: 'news', payload: { headline: 'up' }, persistent: true }),
    });
    expect(res.status).toBe(200);
    const { messageId } = (await res.json()) as { messageId: string };
    expect(await got).toEqual({ id: messageId, room: 'news', from: 'system', payload: { headline: 'up' }, timestamp: expect.any(Number), persistent: true });
    const hist = await request<{ messages: { id: string }[] }>(a.socket, 'room:history', { room: 'news' });
    expect(hist.messages.map((m) => m.id)).toContain(messageId);
    expect(other).toEqual([]);
  });

  it('answers unknown routes 404 NOT_FOUND, and known paths with another method 405 METHOD_NOT_ALLOWED with Allow', async () => {
    for (const path of ['/nope', '/health/', '/api/publish/x', '/constructor', '/__proto__']) {
      const res = await fetch(`${srv.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
    }
    const cases = [
      ['GET', '/api/publish', 'POST, OPTIONS'],
      ['PUT', '/api/publish', 'POST, OPTIONS'],
      ['POST', '/health', 'GET, HEAD, OPTIONS'],
      ['DELETE', '/stats', 'GET, HEAD, OPTIONS'],
      ['PATCH', '/metrics', 'GET, HEAD, OPTIONS'],
    ] as const;
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${srv.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(await res.json()).toEqual({ error: 'METHOD_NOT_ALLOWED', message: expect.any(String) });
    }
  });

  it('answers HEAD wherever GET is answered, without a body', async () => {
    for (const path of ['/health', '/health/live', '/health/ready', '/metrics', '/stats']) {
      const res = await fetch(`${srv.url}${path}`, { method: 'HEAD' });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe('');
    }
  });

  it('gives every HTTP error answer the status the protocol gives its code', async () => {
    const answers = await Promise.all([
      fetch(`${srv.url}/nope`),
      fetch(`${srv.url}/health`, { method: 'POST' }),
      fetch(`${srv.url}/health`, { headers: { origin: 'https://evil.example.com' } }),
      fetch(`${srv.url}/api/publish`, { method: 'POST', body: '{}' }),
      fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' }),
      fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: '{}' }),
      fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{"tenantId":"acme","room":"a b","payload":1}' }),
    ]);
    const seen = new Set<string>();
    for (const res of answers) {
      const body = (await res.json()) as { error: string };
      expect(isErrorCode(body.error), body.error).toBe(true);
      expect(res.status, body.error).toBe(httpStatusOf(body.error as ErrorCode));
      seen.add(body.error);
    }
    expect(seen).toEqual(new Set(['NOT_FOUND', 'METHOD_NOT_ALLOWED', 'FORBIDDEN', 'AUTH_REQUIRED', 'AUTH_INVALID', 'INVALID_PAYLOAD', 'INVALID_ROOM']));
  });

  it('sends CORS headers for allowed origins only, and refuses others', async () => {
    const ok = await fetch(`${srv.url}/health`, { headers: { origin: 'https://app.example.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const pre = await fetch(`${srv.url}/api/publish`, { method: 'OPTIONS', headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    const bad = await fetch(`${srv.url}/health`, { headers: { origin: 'https://evil.example.com' } });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses Socket.IO handshakes and WebSocket upgrades from origins not allowed (cross-site WebSocket hijacking)', async () => {
    for (const transports of [['websocket'], ['polling']] as const) {
      const r = await connectError(srv.url, { extraHeaders: { origin: 'https://evil.example.com' }, transports: [...transports] });
      expect(r.message).toMatch(/websocket error|xhr poll error/);
      const ok = await connect(srv.url, { extraHeaders: { origin: 'https://app.example.com' }, transports: [...transports] });
      expect(ok.established.userId).toBe('alice');
    }
  });
});

describe('Origin checks after the handshake', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ CORS_ORIGIN: 'https://app.example.com' });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('refuses polling requests and WebSocket upgrades carrying a session id from an origin not allowed', async () => {
    const { socket } = await connect(srv.url, { transports: ['polling'], extraHeaders: { origin: 'https://app.example.com' } });
    const sid = (socket as unknown as { io: { engine: { id: string } } }).io.engine.id;
    const poll = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { headers: { origin: 'https://evil.example.com' } });
    expect(poll.status).toBe(403);
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${sid}`, { headers: { origin: 'https://evil.example.com' } });
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
      ws.once('error', () => resolve('error'));
    });
    ws.terminate();
    expect(outcome).toBe('status 403');
    expect(socket.connected).toBe(true);
  });
});

describe('HTTP endpoints in production', () => {
  let srv: TestServer;
  const STATS_TOKEN = 'stats-token-for-tests';
  beforeAll(async () => {
    srv = await startTestServer({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(64), CORS_ORIGIN: 'https://app.example.com', STATS_TOKEN });
  });
  afterAll(async () => srv.close());

  it('GET /stats requires the STATS_TOKEN', async () => {
    expect((await fetch(`${srv.url}/stats`)).status).toBe(401);
    expect((await fetch(`${srv.url}/stats`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${srv.url}/stats`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } })).status).toBe(200);
  });

  it('POST /api/publish is disabled without API_KEY', async () => {
    const res = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: '{}' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'FORBIDDEN' });
  });
});

describe('metric label cardinality', () => {
  afterEach(() => closeAll());

  it('gives the first METRICS_MAX_TENANTS tenants a label of their own and the rest _other', async () => {
    const srv = await startTestServer({ METRICS_MAX_TENANTS: '2' });
    try {
      for (const tenantId of ['t1', 't2', 't3', 't4']) await connect(srv.url, { claims: { tenantId } });
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      const tenants = new Set([...text.matchAll(/^websocket_active_connections\{[^}]*tenant="([^"]+)"/gm)].map((m) => m[1]));
      expect(tenants).toEqual(new Set(['t1', 't2', '_other']));
      expect(text).toMatch(/websocket_active_connections\{[^}]*tenant="_other"[^}]*\} 2/);
    } finally {
      await srv.close();
    }
  });
});
