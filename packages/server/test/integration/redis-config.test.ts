import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { closeAll, collect, connect, next, request, sleep } from '../helpers/clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

describe('Redis configuration', () => {
  let redis: RedisServer;
  const procs: ServerProcess[] = [];
  const start = async (env: Record<string, string>, ready = true) => {
    const p = await startServerProcess(env, { ready });
    procs.push(p);
    return p;
  };
  beforeAll(async () => {
    redis = await startRedisServer();
    const admin = new Redis(redis.port, '127.0.0.1');
    await admin.config('SET', 'requirepass', 'redis-test-password');
    admin.disconnect();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await redis.stop();
  });
  afterEach(() => closeAll());

  it('connects with REDIS_HOST, REDIS_PORT and REDIS_PASSWORD', async () => {
    const p = await start({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_PASSWORD: 'redis-test-password' });
    const health = (await (await fetch(`${p.url}/health`)).json()) as { status: string; engine: string };
    expect(health).toMatchObject({ status: 'ok', engine: 'redis' });
    const { socket } = await connect(p.url);
    await request(socket, 'room:join', { room: 'pw' });
    expect(await request(socket, 'room:send', { room: 'pw', payload: 1, persistent: true })).toMatchObject({ success: true });
  });

  it('reads REDIS_PASSWORD from REDIS_PASSWORD_FILE, as a mounted secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-pw-'));
    try {
      writeFileSync(join(dir, 'password'), 'redis-test-password\n');
      const p = await start({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_PASSWORD_FILE: join(dir, 'password') });
      expect((await fetch(`${p.url}/health/ready`)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a wrong password as not ready instead of crashing', async () => {
    const p = await start({ REDIS_URL: `redis://:wrong@127.0.0.1:${redis.port}` }, false);
    expect((await fetch(`${p.url}/health/ready`)).status).toBe(503);
    expect((await fetch(`${p.url}/health/live`)).status).toBe(200);
    expect(p.exitCode()).toBeNull();
  });

  it('keeps two key prefixes on one Redis apart', async () => {
    const url = `redis://:redis-test-password@127.0.0.1:${redis.port}`;
    const staging = await start({ REDIS_URL: url, REDIS_KEY_PREFIX: 'staging:' });
    const prod = await start({ REDIS_URL: url, REDIS_KEY_PREFIX: 'prod:' });
    const s = await connect(staging.url, { claims: { sub: 'alice' } });
    const p = await connect(prod.url, { claims: { sub: 'bob' } });
    await request(s.socket, 'room:join', { room: 'shared-name' });
    await request(p.socket, 'room:join', { room: 'shared-name' });
    const leaked = collect(p.socket, 'room:message');
    await request(s.socket, 'room:send', { room: 'shared-name', payload: 'staging only', persistent: true });
    await sleep(200);
    expect(leaked).toEqual([]);
    expect(await request(p.socket, 'room:history', { room: 'shared-name' })).toMatchObject({ messages: [] });
    const presence = await request<{ presence: { userId: string }[] }>(p.socket, 'query:presence', { room: 'shared-name' });
    expect(presence.presence.map((e) => e.userId)).toEqual(['bob']);
  });

  it('CLUSTERING_ENABLED=false keeps an instance standalone while its history stays in Redis', async () => {
    const url = `redis://:redis-test-password@127.0.0.1:${redis.port}`;
    const a = await start({ REDIS_URL: url, REDIS_KEY_PREFIX: 'solo:', CLUSTERING_ENABLED: 'false' });
    const b = await start({ REDIS_URL: url, REDIS_KEY_PREFIX: 'solo:', CLUSTERING_ENABLED: 'false' });
    const onA = await connect(a.url, { claims: { sub: 'alice' } });
    const onA2 = await connect(a.url, { claims: { sub: 'carol' } });
    const onB = await connect(b.url, { claims: { sub: 'bob' } });
    for (const c of [onA, onA2, onB]) await request(c.socket, 'room:join', { room: 'solo' });
    const notFanned = collect(onB.socket, 'room:message');
    const local = next<RoomMessage>(onA2.socket, 'room:message');
    const ack = await request<{ messageId: string }>(onA.socket, 'room:send', { room: 'solo', payload: 'local', persistent: true });
    expect((await local).id).toBe(ack.messageId);
    await sleep(200);
    expect(notFanned).toEqual([]);
    const hist = await request<{ messages: RoomMessage[] }>(onB.socket, 'room:history', { room: 'solo' });
    expect(hist.messages.map((m) => m.id)).toEqual([ack.messageId]);
  });
});
