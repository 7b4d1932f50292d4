/**
 * Security measures not pinned elsewhere: handshake and header timeouts, the packet size bound,
 * no stack trace or secret in any answer or log line, and the tokens of /stats and /api/publish.
 */
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintToken, Processes, stackLines, TEST_JWT_SECRET, type ServerProcess } from './lib.js';

const API_KEY = 'security-api-key-0123456789abcdefghij';
const STATS_TOKEN = 'security-stats-token-0123456789abcdefgh';
const procs = new Processes();
let server: ServerProcess;
let userToken: string;
const secrets = (): string[] => [TEST_JWT_SECRET, API_KEY, STATS_TOKEN, userToken];

beforeAll(async () => {
  userToken = await mintToken({ sub: 'mallory', tenantId: 'acme' });
  server = await procs.server({
    API_KEY,
    STATS_TOKEN,
    HANDSHAKE_TIMEOUT: '1500',
    MAX_MESSAGE_BYTES: '1024',
    LOG_LEVEL: 'debug',
  });
});
afterAll(() => procs.stopAll());

const wsUrl = (): string => `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`;

/** A raw Engine.IO connection; `connect` also completes the Socket.IO handshake with the user's token. */
async function rawSocket(connect: boolean, query = ''): Promise<{ ws: WebSocket; texts: string[]; closed: Promise<number> }> {
  const ws = new WebSocket(wsUrl() + query);
  const texts: string[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    texts.push(text);
    if (text.startsWith('0')) {
      if (connect) ws.send(`40${JSON.stringify({ token: userToken })}`);
      else ready();
    } else if (text === '2') ws.send('3');
    else if (text.startsWith('40')) ready();
  });
  await Promise.race([readyP, closed]);
  return { ws, texts, closed };
}

function expectClean(where: string, text: string): void {
  expect(stackLines(text), `${where} holds a stack frame`).toEqual([]);
  for (const s of secrets()) expect(text.includes(s), `${where} holds a secret`).toBe(false);
}

describe('handshake and header timeouts', () => {
  it('closes an Engine.IO connection that never completes the Socket.IO handshake (HANDSHAKE_TIMEOUT)', async () => {
    const { closed } = await rawSocket(false);
    const code = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still open'), 15_000))]);
    expect(code).not.toBe('still open');
  });

  it('closes a connection whose HTTP headers never complete (slow-loris)', async () => {
    const socket = tcpConnect({ host: '127.0.0.1', port: server.port });
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve('closed')));
    const request = `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Padding: ${'p'.repeat(1000)}`;
    let i = 0;
    const drip = setInterval(() => {
      if (i < request.length && !socket.destroyed) socket.write(request[i++] as string);
    }, 100);
    try {
      // The server's header timeout (at most 10 s, less with a shorter HANDSHAKE_TIMEOUT) and its check interval bound this.
      const outcome = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still open'), 45_000))]);
      expect(outcome).toBe('closed');
      expectClean('slow-loris answer', received);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  }, 60_000);
});

describe('packet size', () => {
  it('closes a connection that sends a frame larger than maxHttpBufferSize, and only that one', async () => {
    const bad = await rawSocket(true);
    const good = await rawSocket(true);
    bad.ws.send(`42["room:send",{"room":"a","payload":"${'x'.repeat(200_000)}"}]`);
    expect(await bad.closed).toBe(1009);
    good.ws.send('421["query:rooms"]');
    await expect.poll(() => good.texts.find((t) => t.startsWith('431'))).toBeDefined();
    expect(JSON.parse((good.texts.find((t) => t.startsWith('431')) as string).slice(3))).toEqual([{ success: true, rooms: [] }]);
    good.ws.close();
  });

  it('refuses an oversized long-polling body without a stack trace', async () => {
    const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    const sid = (/"sid":"([^"]+)"/.exec(await open.text()) as RegExpExecArray)[1] as string;
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: `4${'x'.repeat(300_000)}` });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expectClean('oversized polling answer', await res.text());
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
  });

  it('answers a payload over MAX_MESSAGE_BYTES with PAYLOAD_TOO_LARGE and keeps the connection', async () => {
    const { ws, texts } = await rawSocket(true);
    ws.send('421["room:join",{"room":"big"}]');
    await expect.poll(() => texts.some((t) => t.startsWith('431'))).toBe(true);
    ws.send(`422["room:send",{"room":"big","payload":"${'x'.repeat(2000)}"}]`);
    await expect.poll(() => texts.find((t) => t.startsWith('432'))).toBeDefined();
    expect(JSON.parse((texts.find((t) => t.startsWith('432')) as string).slice(3))[0]).toMatchObject({ success: false, error: 'PAYLOAD_TOO_LARGE' });
    ws.close();
  });
});

describe('no stack traces or secrets in answers and logs', () => {
  it('over every HTTP error path', async () => {
    const u = server.url;
    const json = { 'content-type': 'application/json' };
    const calls: [string, RequestInit][] = [
      [`${u}/nope`, {}],
      [`${u}/stats`, { method: 'POST' }],
      [`${u}/stats`, {}],
      [`${u}/stats`, { headers: { authorization: `Bearer ${STATS_TOKEN}x` } }],
      [`${u}/stats`, { headers: { authorization: `Bearer ${STATS_TOKEN.slice(0, -1)}X` } }],
      [`${u}/api/publish`, { method: 'POST' }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY.slice(0, -1)}X`, ...json }, body: '{}' }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: '{}' }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...json }, body: '{"tenantId":' }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...json }, body: JSON.stringify({ tenantId: 'acme', room: 'a b', payload: 1 }) }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...json }, body: JSON.stringify({ tenantId: 'acme', room: 'r', payload: 'x'.repeat(100_000) }) }],
      [`${u}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...json }, body: JSON.stringify({ tenantId: 'acme', room: 'r', payload: JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) }) }],
      [`${u}/socket.io/?EIO=4&transport=polling&sid=nope`, {}],
      [`${u}/socket.io/?EIO=2&transport=polling`, {}],
      [`${u}/socket.io/?EIO=4&transport=nope`, {}],
      [`${u}/socket.io/?EIO=4&transport=polling&token=${userToken}`, { headers: { origin: 'https://evil.example' } }],
      [`${u}/%ff%fe`, {}],
    ];
    const statuses: string[] = [];
    for (const [url, init] of calls) {
      const res = await fetch(url, init);
      if (res.status < 400) statuses.push(`${init.method ?? 'GET'} ${url.slice(u.length)} -> ${res.status}`);
      expectClean(`${init.method ?? 'GET'} ${url}`, `${JSON.stringify([...res.headers])}\n${await res.text()}`);
    }
    expect(statuses).toEqual([]);
    // The refusals of /stats and /api/publish name their code.
    const stats = await fetch(`${u}/stats`, { headers: { authorization: 'Bearer nope' } });
    expect(stats.status).toBe(401);
    expect(await stats.json()).toMatchObject({ error: 'AUTH_REQUIRED' });
    const publish = await fetch(`${u}/api/publish`, { method: 'POST', headers: { authorization: 'Bearer nope', ...json }, body: '{}' });
    expect(publish.status).toBe(401);
    expect(await publish.json()).toMatchObject({ error: 'AUTH_INVALID' });
    expect((await fetch(`${u}/stats`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } })).status).toBe(200);
  });

  it('over WebSocket error paths, with the token in the query string and debug logs', async () => {
    // Refused handshakes.
    for (const auth of [{}, { token: 'a.b.c' }, { token: userToken, tenantId: 'other' }, { token: 42 }]) {
      const { ws, texts, closed } = await rawSocket(false, `&token=${encodeURIComponent(userToken)}x`);
      ws.send(`40${JSON.stringify(auth)}`);
      await expect.poll(() => texts.some((t) => t.startsWith('44'))).toBe(true);
      const refusal = texts.find((t) => t.startsWith('44')) as string;
      expect(JSON.parse(refusal.slice(2))).toMatchObject({ data: { code: expect.stringMatching(/^[A-Z_]+$/) } });
      expectClean('connect_error', refusal);
      ws.close();
      await closed;
    }
    // Bad events on an accepted connection.
    const { ws, texts } = await rawSocket(true, `&token=${encodeURIComponent(userToken)}`);
    const frames = [
      '421["room:join",{"room":"a b"}]',
      '422["room:send",{"room":"x","payload":1}]',
      `423["auth:refresh",{"token":"${userToken}x"}]`,
      '424["presence:status",{"status":"nope"}]',
      '425["nope",{}]',
      '426["room:history",{"room":"x","limit":"a"}]',
      `427["room:join",{"room":"d","metadata":${'{"a":'.repeat(50)}1${'}'.repeat(50)}}]`,
      '428["room:join",{"room":"d","since":{"$gt":""}}]',
    ];
    for (const f of frames) ws.send(f);
    await expect.poll(() => texts.filter((t) => t.startsWith('43')).length).toBe(frames.length);
    for (const t of texts.filter((x) => x.startsWith('43'))) {
      const [ack] = JSON.parse(t.replace(/^43\d+/, '')) as [{ success: boolean; error: string }];
      expect(ack.success).toBe(false);
      expect(ack.error).toMatch(/^[A-Z_]+$/);
      expectClean('ack', t);
    }
    ws.close();
    await new Promise((r) => setTimeout(r, 300));
    const log = server.output();
    expect(log.length).toBeGreaterThan(0);
    expectClean('server log', log);
  });
});
