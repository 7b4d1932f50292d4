import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAll, collect, connect, connectError, request, sleep, until, type TestSocket } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mintToken } from '../helpers/tokens.js';

type Ack = { success: boolean; error?: string; retryAfterMs?: number; rooms?: string[] };

/**
 * What one hostile user of one tenant can do to the server, and every other tenant on it: caps under
 * concurrency, state grown from room names, event floods, anonymous sessions.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function retainedHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const engines = [
  { name: 'embedded engine', env: (): Record<string, string> => ({}) },
  { name: 'Redis engine', env: (): Record<string, string> => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `abuse${++prefixes}:` }) },
];
let prefixes = 0;

for (const engine of engines) {
  describe(`caps under concurrent requests (${engine.name})`, () => {
    let srv: TestServer | undefined;
    afterEach(async () => {
      closeAll();
      await srv?.close();
      srv = undefined;
    });

    it('MAX_ROOMS_PER_CONNECTION holds when 300 joins arrive at once', async () => {
      srv = await startTestServer({ ...engine.env(), MAX_ROOMS_PER_CONNECTION: '100', RATE_LIMIT_EVENTS_PER_SECOND: '0' });
      const { socket } = await connect(srv.url);
      const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => request<Ack>(socket, 'room:join', { room: `r-${i}` })));
      expect(acks.filter((a) => a.success)).toHaveLength(100);
      expect(acks.filter((a) => a.error === 'ROOM_LIMIT')).toHaveLength(200);
      expect((await request<Ack>(socket, 'query:rooms')).rooms).toHaveLength(100);
      // Joins of rooms already held, and of one room many times at once, take no further place.
      const again = await Promise.all(Array.from({ length: 50 }, (_, i) => request<Ack>(socket, 'room:join', { room: `r-${i % 3}` })));
      expect(again.every((a) => a.success)).toBe(true);
      await request(socket, 'room:leave', { room: 'r-0' });
      expect((await request<Ack>(socket, 'room:join', { room: 'new' })).success).toBe(true);
      expect((await request<Ack>(socket, 'room:join', { room: 'one-too-many' })).error).toBe('ROOM_LIMIT');
    });

    it('MAX_CONNECTIONS_PER_USER holds when 40 connections of one user arrive at once', async () => {
      srv = await startTestServer({ ...engine.env(), MAX_CONNECTIONS_PER_USER: '5' });
      const url = srv.url;
      const token = await mintToken({ sub: 'mallory', tenantId: 'acme' });
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => connect(url, { token })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused.every((r) => (r.reason as { data?: { code?: string } }).data?.code === 'CONNECTION_LIMIT')).toBe(true);
      // Another user of the tenant is not affected.
      await connect(url, { claims: { sub: 'alice' } });
    });

    it('keeps no state for the rooms a client joins and leaves (room-name churn)', async () => {
      srv = await startTestServer({ ...engine.env(), RATE_LIMIT_EVENTS_PER_SECOND: '0', HEARTBEAT_INTERVAL: '300', HEARTBEAT_TIMEOUT: '600' });
      const { socket } = await connect(srv.url);
      const churn = async (from: number, n: number) => {
        for (let i = from; i < from + n; i += 250) {
          await Promise.all(
            Array.from({ length: 250 }, async (_, k) => {
              const room = `churn-${i + k}`;
              await request(socket, 'room:join', { room });
              await request(socket, 'room:leave', { room });
            }),
          );
        }
      };
      // Warm up (first-use allocations, compiled code), then measure what 10,000 more distinct rooms leave behind.
      await churn(0, 3000);
      const admin = engine.name === 'Redis engine' ? new Redis(redis.port, '127.0.0.1') : undefined;
      try {
        const prefix = srv.server.config.redis?.keyPrefix ?? '';
        const keysNow = async () => (admin ? (await admin.keys(`${prefix}*`)).sort() : []);
        const dueNow = async () => (admin ? await admin.zcard(`${prefix}presence:due`) : 0);
        await until(async () => (await dueNow()) === 0, 5000, 'presence sweeps after the warm-up');
        const keysBefore = await keysNow();
        // Two rounds of 10,000: a leak shows in both, while a one-time allocation of the worker (a compiled
        // function, a grown table, a client buffer) lands in one of them, so the smaller of the two is what a
        // room leaves behind.
        const perRoom: number[] = [];
        for (const from of [3000, 13_000]) {
          const heapBefore = retainedHeap();
          await churn(from, 10_000);
          // Presence marks each room for a sweep within HEARTBEAT_TIMEOUT; the sweep forgets empty rooms.
          await until(async () => (await dueNow()) === 0, 5000, 'presence sweeps after the churn');
          perRoom.push((retainedHeap() - heapBefore) / 10_000);
        }
        const retainedPerRoom = Math.min(...perRoom);
        // Keys the server keeps for itself (its instance record, limit buckets) may come and go; no key may be
        // left for a room, and nothing may be added per room.
        const added = (await keysNow()).filter((k) => !keysBefore.includes(k));
        expect(added.filter((k) => k.includes('churn-'))).toEqual([]);
        expect(added.length, `keys added: ${added.join(', ')}`).toBeLessThanOrEqual(2);
        // A room's history position alone used to be about 420 bytes here.
        expect(retainedPerRoom, `bytes per room in each round: ${perRoom.join(', ')}`).toBeLessThan(100);
      } finally {
        admin?.disconnect();
      }
    }, 120_000);
  });
}

describe('event floods (a real server process)', () => {
  let proc: ServerProcess | undefined;
  afterEach(async () => {
    closeAll();
    await proc?.stop();
    proc = undefined;
  });

  it('limits every event per connection, answering RATE_LIMITED with retryAfterMs, and costs a large history read more', async () => {
    proc = await startServerProcess({ RATE_LIMIT_EVENTS_PER_SECOND: '1', RATE_LIMIT_EVENTS_BURST: '20' });
    const { socket } = await connect(proc.url);
    const heartbeats = await Promise.all(Array.from({ length: 30 }, () => request<Ack>(socket, 'presence:heartbeat', {})));
    expect(heartbeats.filter((a) => a.success)).toHaveLength(20);
    const refused = heartbeats.filter((a) => !a.success);
    expect(refused.every((a) => a.error === 'RATE_LIMITED' && (a.retryAfterMs ?? 0) > 0)).toBe(true);
    // Every event draws on the same budget, unknown events included.
    for (const [event, payload] of [
      ['room:join', { room: 'r' }],
      ['room:leave', { room: 'r' }],
      ['room:history', { room: 'r' }],
      ['query:rooms', undefined],
      ['query:presence', { room: 'r' }],
      ['presence:status', { status: 'away' }],
      ['auth:refresh', { token: 'x' }],
      ['no:such:event', {}],
    ] as const) {
      const ack = payload === undefined ? await request<Ack>(socket, event) : await request<Ack>(socket, event, payload);
      expect(ack, event).toMatchObject({ success: false, error: 'RATE_LIMITED' });
    }
    // Sends have budgets of their own, and the connection stays.
    expect(socket.connected).toBe(true);
  });

  it('coalesces a flood of status changes: watchers get a few updates, the last one current', async () => {
    proc = await startServerProcess({ PRESENCE_UPDATE_INTERVAL: '1000' });
    const flooder = await connect(proc.url, { claims: { sub: 'mallory' } });
    const watchers: { socket: TestSocket; updates: { presence: { userId: string; status: string }[] }[] }[] = [];
    for (let i = 0; i < 5; i++) {
      const w = await connect(proc.url, { claims: { sub: `watcher-${i}` } });
      await request(w.socket, 'room:join', { room: 'team' });
      watchers.push({ socket: w.socket, updates: collect(w.socket, 'presence:update') });
    }
    await request(flooder.socket, 'room:join', { room: 'team' });
    const statuses: string[] = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 'away' : 'busy'));
    statuses.push('online');
    const acks = await Promise.all(statuses.map((status) => request<Ack>(flooder.socket, 'presence:status', { status })));
    const accepted = acks.filter((a) => a.success).length;
    expect(acks.some((a) => a.error === 'RATE_LIMITED')).toBe(true);
    // The last change may have been refused: set it once the budget allows.
    await until(async () => (await request<Ack>(flooder.socket, 'presence:status', { status: 'online' })).success, 5000, 'a status change within budget');
    const mine = (w: (typeof watchers)[number]) => w.updates.filter((u) => u.presence[0]?.userId === 'mallory');
    await until(() => watchers.every((w) => mine(w).at(-1)?.presence[0]?.status === 'online'), 5000, 'the last status at every watcher');
    await sleep(1200);
    for (const w of watchers) {
      expect(mine(w).at(-1)?.presence[0]?.status).toBe('online');
      expect(mine(w).length).toBeLessThan(accepted / 4);
    }
  });
});

describe('sessions that never authenticate (a real server process)', () => {
  let proc: ServerProcess | undefined;
  afterEach(async () => {
    await proc?.stop();
    proc = undefined;
  });

  const handshake = async (url: string) => {
    const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    return { status: res.status, body: await res.text() };
  };
  const websocket = (url: string) =>
    new Promise<{ opened: boolean; status?: number; ws?: WebSocket }>((resolve) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      ws.once('open', () => resolve({ opened: true, ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ opened: false, status: res.statusCode }));
      ws.once('error', () => resolve({ opened: false }));
    });

  it('caps sessions pending authentication per address, on polling and WebSocket, and frees them as they time out', async () => {
    proc = await startServerProcess({ MAX_PENDING_SESSIONS_PER_IP: '20', HANDSHAKE_TIMEOUT: '4000', RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0' });
    const url = proc.url;
    const polling = await Promise.all(Array.from({ length: 60 }, () => handshake(url)));
    expect(polling.filter((r) => r.status === 200)).toHaveLength(20);
    const refused = polling.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(40);
    expect(refused[0]?.status).toBe(429);
    expect(JSON.parse(refused[0]?.body ?? '{}')).toMatchObject({ code: 4, message: expect.stringMatching(/unauthenticated sessions/) });
    const ws = await websocket(url);
    expect(ws).toMatchObject({ opened: false, status: 429 });
    // An authenticated client is refused too while the address holds its pending sessions...
    await expect(connect(url)).rejects.toThrow();
    // ...and gets in once they have timed out.
    await until(async () => (await handshake(url)).status === 200, 15_000, 'a place once the pending sessions timed out');
    await until(async () => connect(url).then(() => true, () => false), 15_000, 'an authenticated connection');
    closeAll();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/websocket_rate_limited_total\{[^}]*scope="pending_sessions_per_ip"[^}]*\} [1-9]/);
  });

  it('limits new sessions per address per second, and in total', async () => {
    proc = await startServerProcess({ RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '1', RATE_LIMIT_SESSIONS_PER_IP_BURST: '10', MAX_PENDING_SESSIONS_PER_IP: '0' });
    const results = await Promise.all(Array.from({ length: 30 }, () => handshake(proc!.url)));
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(11);
    expect(results.find((r) => r.status === 429)?.body).toMatch(/Too many new sessions/);
    await proc.stop();
    proc = await startServerProcess({ MAX_PENDING_SESSIONS: '15', MAX_PENDING_SESSIONS_PER_IP: '0', RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0' });
    const total = await Promise.all(Array.from({ length: 30 }, () => handshake(proc!.url)));
    expect(total.filter((r) => r.status === 200)).toHaveLength(15);
    expect(total.filter((r) => r.status === 503)).toHaveLength(15);
  });

  it('logs refused handshakes once per address per interval, with the code and never the token', async () => {
    proc = await startServerProcess({ LOG_LEVEL: 'info' });
    const bad = await mintToken({ sub: 'mallory', tenantId: 'acme', secret: 'another-secret-0123456789-abcdefghijklmnop' });
    for (let i = 0; i < 25; i++) expect((await connectError(proc.url, { token: bad })).data.code).toBe('AUTH_INVALID');
    closeAll();
    const lines = proc.output().split('\n').filter((l) => l.includes('"connection refused"'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toContain('"code":"AUTH_INVALID"');
    expect(lines[0]).toContain('"address"');
    expect(proc.output()).not.toContain(bad);
    expect(proc.output()).not.toContain(bad.split('.')[2] as string);
  });
});
