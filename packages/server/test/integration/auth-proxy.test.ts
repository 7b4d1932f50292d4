import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/signing.js';
import { closeAll, connect, connectError, next, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { mintToken } from '../helpers/tokens.js';

type Obj = Record<string, unknown>;
const SECRET = 'proxy-secret-0123456789-abcdefghijklmnop';

/** What the backend does with one request: answer (status and JSON), or never answer. */
type Reply = { status?: number; json?: unknown; raw?: string } | 'hang';

/** A real HTTP backend: records every request (signature checked) and answers with `reply`. */
class Backend {
  readonly requests: { path: string; body: Obj; signed: boolean }[] = [];
  reply: (path: string, body: Obj) => Reply = () => ({ json: { allow: true } });
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(text) as Obj;
        const path = req.url ?? '';
        this.requests.push({ path, body, signed: verifySignature(SECRET, req.headers, text) });
        const r = this.reply(path, body);
        if (r === 'hang') {
          this.hanging.add(res);
          return;
        }
        res.writeHead(r.status ?? 200, { 'content-type': 'application/json' });
        res.end(r.raw ?? JSON.stringify(r.json));
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const metric = async (url: string, action: string, outcome: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`websocket_auth_proxy_requests_total\\{[^}]*action="${action}"[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
};

describe('authorization proxies', () => {
  const backend = new Backend();
  let srv: TestServer;
  const proxyEnv = (extra: Record<string, string> = {}) => ({
    AUTH_PROXY_URL: `${backend.url}/connect`,
    JOIN_PROXY_URL: `${backend.url}/join`,
    PUBLISH_PROXY_URL: `${backend.url}/publish`,
    AUTH_PROXY_SECRET: SECRET,
    AUTH_PROXY_CACHE_TTL: '0',
    // Far above what a loaded machine takes to answer: only a backend that never answers times out.
    AUTH_PROXY_TIMEOUT: '10000',
    ...extra,
  });
  /** A server whose join and publish proxies give up after 300 ms (and that asks nothing at connect), for hanging backends. */
  const impatientEnv = (extra: Record<string, string> = {}) => {
    const { AUTH_PROXY_URL: _connect, ...env } = proxyEnv({ AUTH_PROXY_TIMEOUT: '300', ...extra });
    return env;
  };
  beforeAll(async () => {
    await backend.start();
    srv = await startTestServer(proxyEnv());
  });
  afterAll(async () => {
    await srv.close();
    await backend.stop();
  });
  afterEach(() => {
    closeAll();
    backend.reply = () => ({ json: { allow: true } });
  });

  it('asks the backend at connect with signed requests carrying the claims and the connection; a refusal carries its code', async () => {
    backend.reply = (path, body) => ({ json: body.userId === 'mallory' ? { allow: false, code: 'AUTH_EXPIRED', message: 'come back later' } : { allow: true } });
    const token = await mintToken({ sub: 'alice', tenantId: 'acme', extra: { org: 'o-17' } });
    const { established } = await connect(srv.url, { token, extraHeaders: { 'user-agent': 'proxy-test' } });
    const asked = backend.requests.filter((r) => r.path === '/connect').at(-1);
    expect(asked?.signed).toBe(true);
    expect(asked?.body).toMatchObject({
      action: 'connect',
      tenantId: 'acme',
      userId: 'alice',
      claims: { sub: 'alice', tenantId: 'acme', org: 'o-17' },
      connection: { id: established.connectionId, serverId: expect.any(String), address: expect.any(String), userAgent: 'proxy-test' },
    });
    expect((await connectError(srv.url, { claims: { sub: 'mallory', tenantId: 'acme' } })).data).toEqual({ code: 'AUTH_EXPIRED', message: 'come back later' });
    backend.reply = () => ({ json: { allow: false } });
    expect((await connectError(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } })).data).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('lets the backend refuse a join, or attach presence metadata to it', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    const { socket: watcher } = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    backend.reply = (path, body) => {
      if (path !== '/join') return { json: { allow: true } };
      if (body.room === 'secret') return { json: { allow: false, message: 'not for you' } };
      return { json: { allow: true, metadata: { role: 'lead', from: 'backend' } } };
    };
    expect(await request(socket, 'room:join', { room: 'secret' })).toEqual({ success: false, error: 'FORBIDDEN', message: 'not for you' });
    await request(watcher, 'room:join', { room: 'ops' });
    const joined = next<Obj>(socket, 'room:joined');
    const seen = next<Obj>(watcher, 'presence:join');
    expect(await request(socket, 'room:join', { room: 'ops', metadata: { role: 'self-declared' } })).toMatchObject({ success: true });
    expect(await joined).toEqual({ room: 'ops', metadata: { role: 'lead', from: 'backend' } });
    expect(await seen).toMatchObject({ room: 'ops', user: { userId: 'alice', metadata: { role: 'lead', from: 'backend' } } });
    const asked = backend.requests.filter((r) => r.path === '/join').at(-1);
    expect(asked?.body).toMatchObject({ action: 'join', room: 'ops', userId: 'alice', metadata: { role: 'self-declared' } });
  });

  it('lets the backend refuse a send with a code, or replace its payload', async () => {
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    const { socket: reader } = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    await request(socket, 'room:join', { room: 'chat' });
    await request(reader, 'room:join', { room: 'chat' });
    backend.reply = (path, body) => {
      if (path !== '/publish') return { json: { allow: true } };
      const text = String((body.payload as Obj).text);
      if (text.includes('spam')) return { json: { allow: false, code: 'RATE_LIMITED', message: 'slow down' } };
      return { json: { allow: true, payload: { text: text.replace('darn', '****'), checked: true } } };
    };
    expect(await request(socket, 'room:send', { room: 'chat', payload: { text: 'spam spam' } })).toEqual({ success: false, error: 'RATE_LIMITED', message: 'slow down' });
    const got = next<Obj>(reader, 'room:message');
    expect(await request(socket, 'room:send', { room: 'chat', payload: { text: 'oh darn' }, persistent: true })).toMatchObject({ success: true });
    expect(await got).toMatchObject({ from: 'alice', payload: { text: 'oh ****', checked: true } });
    const history = await request<{ messages: Obj[] }>(reader, 'room:history', { room: 'chat' });
    expect(history.messages.at(-1)?.payload).toEqual({ text: 'oh ****', checked: true });
  });

  it('treats a slow, failing or nonsensical backend by the failure policy (refuse by default: BACKEND_UNAVAILABLE)', async () => {
    const impatient = await startTestServer(impatientEnv());
    const lenient = await startTestServer(impatientEnv({ AUTH_PROXY_FAILURE_POLICY: 'allow' }));
    try {
      const { socket } = await connect(impatient.url, { claims: { sub: 'alice', tenantId: 'acme' } });
      const answers: Reply[] = ['hang', { status: 500, json: { allow: true } }, { json: { allow: 'yes' } }, { raw: 'not json' }, { json: { allow: false, code: 'NO_SUCH_CODE' } }];
      for (const answer of answers) {
        backend.reply = () => answer;
        expect(await request(socket, 'room:join', { room: 'slow' })).toMatchObject({ success: false, error: 'BACKEND_UNAVAILABLE' });
      }
      expect(await metric(impatient.url, 'join', 'timeout')).toBe(1);
      expect(await metric(impatient.url, 'join', 'error')).toBe(4);

      backend.reply = () => 'hang';
      const hanging = await startTestServer(proxyEnv({ AUTH_PROXY_TIMEOUT: '300' }));
      try {
        expect((await connectError(hanging.url, { claims: { sub: 'carol', tenantId: 'acme' } })).data).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      } finally {
        await hanging.close();
      }

      const { socket: s } = await connect(lenient.url, { claims: { sub: 'dave', tenantId: 'acme' } });
      expect(await request(s, 'room:join', { room: 'slow' })).toMatchObject({ success: true });
      expect(await request(s, 'room:send', { room: 'slow', payload: 1 })).toMatchObject({ success: true });
    } finally {
      await impatient.close();
      await lenient.close();
    }
  });

  it('opens the circuit after failures in a row (no requests), and closes it when a trial call succeeds', async () => {
    const breaking = await startTestServer(proxyEnv({ AUTH_PROXY_BREAKER_FAILURES: '2', AUTH_PROXY_BREAKER_COOLDOWN: '400', JOIN_PROXY_URL: `${backend.url}/join-breaker` }));
    try {
      const { socket } = await connect(breaking.url, { claims: { sub: 'alice', tenantId: 'acme' } });
      backend.reply = () => ({ status: 503, json: {} });
      for (let i = 0; i < 2; i++) expect(await request(socket, 'room:join', { room: 'b' })).toMatchObject({ error: 'BACKEND_UNAVAILABLE' });
      const made = backend.count('/join-breaker');
      expect(made).toBe(2);
      // Open: refused at once, the backend is not called.
      for (let i = 0; i < 5; i++) expect(await request(socket, 'room:join', { room: 'b' })).toMatchObject({ error: 'BACKEND_UNAVAILABLE' });
      expect(backend.count('/join-breaker')).toBe(made);
      expect(await metric(breaking.url, 'join', 'circuit_open')).toBe(5);
      expect(await (await fetch(`${breaking.url}/metrics`)).text()).toMatch(/websocket_auth_proxy_circuit_open\{[^}]*action="join"[^}]*\} 1/);
      // After the cooldown one trial call goes through; it succeeds and the circuit closes.
      backend.reply = () => ({ json: { allow: true } });
      await until(async () => (await request<Obj>(socket, 'room:join', { room: 'b' })).success === true, 10_000, 'the trial call');
      expect(backend.count('/join-breaker')).toBe(made + 1);
      expect(await request(socket, 'room:join', { room: 'c' })).toMatchObject({ success: true });
      expect(backend.count('/join-breaker')).toBe(made + 2);
      expect(await (await fetch(`${breaking.url}/metrics`)).text()).toMatch(/websocket_auth_proxy_circuit_open\{[^}]*action="join"[^}]*\} 0/);
    } finally {
      await breaking.close();
    }
  });

  it('reuses a decision per user, room and action for the cache TTL', async () => {
    const caching = await startTestServer(proxyEnv({ AUTH_PROXY_CACHE_TTL: '60000', JOIN_PROXY_URL: `${backend.url}/join-cache`, PUBLISH_PROXY_URL: `${backend.url}/publish-cache` }));
    try {
      const { socket } = await connect(caching.url, { claims: { sub: 'alice', tenantId: 'acme' } });
      const { socket: other } = await connect(caching.url, { claims: { sub: 'bob', tenantId: 'acme' } });
      for (let i = 0; i < 3; i++) expect(await request(socket, 'room:join', { room: 'cached' })).toMatchObject({ success: true });
      expect(backend.count('/join-cache')).toBe(1);
      expect(await metric(caching.url, 'join', 'cached')).toBe(2);
      await request(other, 'room:join', { room: 'cached' });
      await request(socket, 'room:join', { room: 'elsewhere' });
      expect(backend.count('/join-cache')).toBe(3);
      // A publish answer that replaces the payload is about that message: never reused.
      backend.reply = (path, body) => ({ json: { allow: true, payload: { wrapped: body.payload } } });
      await request(socket, 'room:send', { room: 'cached', payload: 1 });
      await request(socket, 'room:send', { room: 'cached', payload: 2 });
      expect(backend.count('/publish-cache')).toBe(2);
      backend.reply = () => ({ json: { allow: true } });
      await request(socket, 'room:send', { room: 'cached', payload: 3 });
      await request(socket, 'room:send', { room: 'cached', payload: 4 });
      expect(backend.count('/publish-cache')).toBe(3);
    } finally {
      await caching.close();
    }
  });
});
