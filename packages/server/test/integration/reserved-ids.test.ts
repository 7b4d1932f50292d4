import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceInfo } from '@intelgraph/websocket-protocol';
import { closeAll, connect, request } from '../helpers/clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * Ids that clients and tokens choose (tenants, users, rooms) named like the properties every plain
 * JavaScript object has: counted or looked up in a plain object, they would show an inherited
 * function, or vanish (`__proto__`).
 */
const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty'] as const;

describe.each([
  ['memory', false],
  ['Redis', true],
] as const)('ids named like Object.prototype properties (%s engine)', (_engine, withRedis) => {
  let redis: RedisServer | undefined;
  let srv: ServerProcess;
  beforeAll(async () => {
    redis = withRedis ? await startRedisServer() : undefined;
    srv = await startServerProcess(redis ? { REDIS_URL: redis.url } : {});
  });
  afterAll(async () => {
    await srv?.stop();
    await redis?.stop();
  });
  afterEach(() => closeAll());

  it('/stats and /metrics count the connections of tenants constructor, __proto__, toString and hasOwnProperty exactly', async () => {
    // A different number of connections per tenant: 1, 2, 3 and 4.
    const expected: [string, number][] = NAMES.map((tenantId, i) => [tenantId, i + 1]);
    for (const [tenantId, n] of expected) {
      for (let i = 0; i < n; i++) await connect(srv.url, { claims: { tenantId, sub: `user-${i}` } });
    }
    const stats = (await (await fetch(`${srv.url}/stats`)).json()) as { connections: { total: number; byTenant: Record<string, unknown> } };
    expect(stats.connections.total).toBe(10);
    expect(Object.getPrototypeOf(stats.connections.byTenant)).toBe(Object.prototype);
    expect(Object.entries(stats.connections.byTenant).sort()).toEqual([...expected].sort());

    const text = await (await fetch(`${srv.url}/metrics`)).text();
    for (const [tenantId, n] of expected) {
      expect(text).toMatch(new RegExp(`^websocket_active_connections\\{[^}]*tenant="${tenantId}"[^}]*status="online"[^}]*\\} ${n}$`, 'm'));
    }
  });

  it('rooms and presence keep users and rooms named constructor, __proto__, toString and hasOwnProperty apart', async () => {
    const tenantId = '__proto__';
    const sockets = [];
    for (const [i, userId] of NAMES.entries()) {
      // User i has i + 1 connections, each in every room.
      for (let c = 0; c <= i; c++) {
        const { socket } = await connect(srv.url, { claims: { tenantId, sub: userId } });
        for (const room of NAMES) expect(await request(socket, 'room:join', { room })).toMatchObject({ success: true, room });
        sockets.push(socket);
      }
    }
    const observer = sockets[0]!;
    expect(await request<{ rooms: string[] }>(observer, 'query:rooms')).toMatchObject({ success: true, rooms: expect.arrayContaining([...NAMES]) });
    for (const room of NAMES) {
      const ack = await request<{ success: boolean; presence: PresenceInfo[] }>(observer, 'query:presence', { room });
      expect(ack.success).toBe(true);
      const byUser = ack.presence.map((p) => [p.userId, p.connections, p.status]).sort();
      expect(byUser, room).toEqual(NAMES.map((userId, i) => [userId, i + 1, 'online']).sort());
    }
    // A message to one of these rooms reaches its members, and only once each.
    const got: unknown[] = [];
    sockets[sockets.length - 1]!.on('room:message', (m: { room: string }) => got.push(m.room));
    expect(await request(observer, 'room:send', { room: 'constructor', payload: 'hello' })).toMatchObject({ success: true });
    const history = await request<{ messages: { room: string; payload: unknown }[] }>(observer, 'room:history', { room: 'constructor' });
    expect(history.messages).toEqual([]); // not persistent
    await expect.poll(() => got).toEqual(['constructor']);
  });
});
