/**
 * The origin policy on every Socket.IO request, as a client sees it over real sockets to a server
 * process: absent, own, listed and foreign origins on both transports, the documented 403 refusal,
 * the metric and the rate-limited log line; and the Socket.IO path answering every request.
 */
import { connect as tcpConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAll, connect, request } from '../helpers/clients.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const REFUSAL = { code: 4, message: 'Origin not allowed' };
const FOREIGN = 'https://evil.example';

/** A polling handshake with these headers: status, body and the CORS header a page would need to read it. */
async function pollingHandshake(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; allowOrigin: string | null }> {
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers });
  return { status: res.status, body: await res.text(), allowOrigin: res.headers.get('access-control-allow-origin') };
}

/** A WebSocket upgrade with these headers: `open`, or the status and body of the refusal. */
function upgrade(url: string, headers: Record<string, string> = {}, query = ''): Promise<{ outcome: 'open' } | { outcome: 'refused'; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket${query}`, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ outcome: 'open' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ outcome: 'refused', status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

/** Writes `text` on a raw TCP connection and resolves with everything received once the server closes it. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.write(text));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.once('close', () => resolve(received));
    socket.once('error', reject);
  });
}

function parseResponse(text: string): { status: number; headers: string; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = text.slice(0, end);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head.toLowerCase(), body: text.slice(end + 4) };
}

async function rejectedByOrigin(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^websocket_connections_rejected_total\{code="ORIGIN_NOT_ALLOWED"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const UPGRADE_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

describe('origins with the default configuration (CORS_ORIGIN=http://localhost:3000)', () => {
  let server: ServerProcess;
  let own: string;
  beforeAll(async () => {
    server = await startServerProcess({ LOG_LEVEL: 'info' });
    own = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => server?.stop());
  afterEach(() => closeAll());

  it('lets in requests without Origin, from the server\'s own origin and from CORS_ORIGIN, on both transports', async () => {
    for (const headers of [{}, { origin: own }, { origin: 'http://localhost:3000' }] as Record<string, string>[]) {
      const polling = await pollingHandshake(server.url, headers);
      expect(polling.status, JSON.stringify(headers)).toBe(200);
      expect(polling.body).toMatch(/^0\{"sid":/);
      expect(await upgrade(server.url, headers)).toEqual({ outcome: 'open' });
    }
    // The own origin as a client may spell it (a host name in capitals, the default port), with the Host header it connected with.
    for (const [origin, host] of [[`http://LOCALHOST:${server.port}`, `localhost:${server.port}`], ['http://app.example.com:80', 'app.example.com']]) {
      const res = parseResponse(await raw(server.port, `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`));
      expect(res.status, origin).toBe(200);
    }
    // Full connections, as socket.io-client in Node sends them with an Origin header.
    for (const transports of [['websocket'], ['polling']] as const) {
      const { established } = await connect(server.url, { extraHeaders: { origin: own }, transports: [...transports] });
      expect(established.userId).toBe('alice');
    }
  });

  it('refuses a foreign origin with 403 {"code":4,"message":"Origin not allowed"} on both transports, readable by the refused page', async () => {
    const polling = await pollingHandshake(server.url, { origin: FOREIGN });
    expect(polling.status).toBe(403);
    expect(JSON.parse(polling.body)).toEqual(REFUSAL);
    expect(polling.allowOrigin).toBe(FOREIGN);
    expect(await upgrade(server.url, { origin: FOREIGN })).toEqual({ outcome: 'refused', status: 403, body: JSON.stringify(REFUSAL) });
  });

  it('takes the own origin strictly: another port, another scheme or a forwarded scheme without TRUST_PROXY is foreign', async () => {
    const others = [
      { origin: `http://127.0.0.1:${server.port + 1}` },
      { origin: `https://127.0.0.1:${server.port}` },
      { origin: `https://127.0.0.1:${server.port}`, 'x-forwarded-proto': 'https' },
      { origin: `http://app.example.com`, 'x-forwarded-host': 'app.example.com' },
      { origin: 'null' },
      { origin: `${own}/` },
    ] as Record<string, string>[];
    for (const headers of others) {
      expect((await pollingHandshake(server.url, headers)).status, JSON.stringify(headers)).toBe(403);
      expect(await upgrade(server.url, headers), JSON.stringify(headers)).toMatchObject({ outcome: 'refused', status: 403 });
    }
  });

  it('refuses a foreign origin on requests carrying a live session id too, without disturbing the session', async () => {
    const { socket } = await connect(server.url, { transports: ['polling'] });
    const sid = (socket as unknown as { io: { engine: { id: string } } }).io.engine.id;
    const poll = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { headers: { origin: FOREIGN } });
    expect(poll.status).toBe(403);
    expect(await poll.json()).toEqual(REFUSAL);
    expect(await upgrade(server.url, { origin: FOREIGN }, `&sid=${sid}`)).toEqual({ outcome: 'refused', status: 403, body: JSON.stringify(REFUSAL) });
    expect(await request(socket, 'query:rooms')).toEqual({ success: true, rooms: [] });
  });

  it('counts every refusal in websocket_connections_rejected_total{code="ORIGIN_NOT_ALLOWED"} and logs a flood in a few lines', async () => {
    const before = await rejectedByOrigin(server.url);
    const flood = 60;
    for (let i = 0; i < flood / 2; i++) {
      expect((await pollingHandshake(server.url, { origin: `https://flood-${i}.example` })).status).toBe(403);
      expect(await upgrade(server.url, { origin: `https://flood-${i}.example` })).toMatchObject({ status: 403 });
    }
    expect((await rejectedByOrigin(server.url)) - before).toBe(flood);
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.includes('origin not allowed'))
      .map((l) => JSON.parse(l) as { level: string; origin: string; ownOrigin: string; transport: string; msg: string });
    // At most 5 lines a minute, whatever the number of refusals.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines[0]).toMatchObject({ level: 'warn', ownOrigin: own });
    expect(lines[0]?.msg).toMatch(/CORS_ORIGIN/);
    expect(lines.every((l) => typeof l.origin === 'string' && ['polling', 'websocket'].includes(l.transport))).toBe(true);
  });

  it('answers the HTTP routes for the own origin and refuses foreign ones', async () => {
    const mine = await fetch(`${server.url}/health`, { headers: { origin: own } });
    expect(mine.status).toBe(200);
    const foreign = await fetch(`${server.url}/health`, { headers: { origin: FOREIGN } });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: 'FORBIDDEN' });
  });

  it('answers every request under /socket.io that Engine.IO does not serve with 404 NOT_FOUND (raw sockets)', async () => {
    for (const target of ['/socket.io', '/socket.io?EIO=4&transport=polling', '/socket.io/x', '/socket.io/x/?EIO=4&transport=polling']) {
      const res = parseResponse(await raw(server.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      expect(res.status, target).toBe(404);
      expect(JSON.parse(res.body), target).toMatchObject({ error: 'NOT_FOUND' });
    }
    // WebSocket upgrades off Engine.IO's path: answered and closed, not left hanging.
    for (const target of ['/socket.io?EIO=4&transport=websocket', '/socket.io/x?EIO=4&transport=websocket', '/elsewhere']) {
      const res = parseResponse(await raw(server.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS}\r\n`));
      expect(res.status, target).toBe(404);
      expect(JSON.parse(res.body), target).toMatchObject({ error: 'NOT_FOUND' });
    }
    // A raw upgrade refused for its origin, as browsers receive it.
    const refused = parseResponse(await raw(server.port, `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${FOREIGN}\r\n${UPGRADE_HEADERS}\r\n`));
    expect(refused.status).toBe(403);
    expect(refused.headers).toContain('content-type: application/json');
    expect(JSON.parse(refused.body)).toEqual(REFUSAL);
    // An upgrade Engine.IO itself refuses (a session id it does not know) gets its answer before the close.
    const unknown = parseResponse(await raw(server.port, `GET /socket.io/?EIO=4&transport=websocket&sid=nosuchsession HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS}\r\n`));
    expect(unknown.status).toBe(400);
    expect(unknown.body).toBe('Session ID unknown');
  });

  it('closes a keep-alive connection once it has been idle, after answering it', async () => {
    // No `Connection: close`: the server itself ends the connection (keep-alive timeout).
    const res = parseResponse(await raw(server.port, 'GET /socket.io HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    expect(res.status).toBe(404);
    expect(res.headers).toMatch(/keep-alive: timeout=5/);
  });
});

describe('origins behind a proxy (TRUST_PROXY=true)', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ TRUST_PROXY: 'true', CORS_ORIGIN: 'https://admin.example.com' });
  });
  afterAll(async () => server?.stop());

  it('takes the own origin from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const proxied = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com' };
    for (const [headers, allowed] of [
      [{ ...proxied, origin: 'https://app.example.com' }, true],
      [{ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com:8443', origin: 'https://app.example.com:8443' }, true],
      [{ 'x-forwarded-proto': 'https', origin: `https://127.0.0.1:${server.port}` }, true],
      [{ ...proxied, origin: 'http://app.example.com' }, false],
      [{ ...proxied, origin: 'https://other.example.com' }, false],
      [{ ...proxied, origin: 'https://admin.example.com' }, true],
    ] as const) {
      const polling = await pollingHandshake(server.url, headers);
      expect(polling.status, JSON.stringify(headers)).toBe(allowed ? 200 : 403);
      expect(await upgrade(server.url, headers), JSON.stringify(headers)).toMatchObject({ outcome: allowed ? 'open' : 'refused' });
    }
  });
});
