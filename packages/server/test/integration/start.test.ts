/** Starting the server process. */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, connect, next, request, until } from '../helpers/clients.js';
import { freePort as freeRedisPort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

describe('Redis unreachable at start', () => {
  const procs: ServerProcess[] = [];
  let late: RedisServer | undefined;
  afterAll(async () => {
    closeAll();
    await Promise.all(procs.map((p) => p.kill()));
    await late?.stop();
  });

  it('stays live, answers 503 on /health/ready until Redis comes, then hears the other instances', async () => {
    const port = await freeRedisPort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
    const early = await startServerProcess(env, { ready: false });
    procs.push(early);
    const notReady = await fetch(`${early.url}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ reason: expect.stringContaining('redis') });
    expect((await fetch(`${early.url}/health/live`)).status).toBe(200);

    late = await startRedisServer({ port });
    await until(async () => (await fetch(`${early.url}/health/ready`)).status === 200, 20_000, 'ready once Redis is up');
    const other = await startServerProcess(env);
    procs.push(other);
    expect(early.exitCode()).toBeNull();

    // Presence goes through the Socket.IO adapter: its subscription was made once Redis came.
    const a = await connect(early.url, { claims: { sub: 'alice' } });
    const b = await connect(other.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'late-redis' });
    const joined = next<{ user: { userId: string } }>(a.socket, 'presence:join');
    await request(b.socket, 'room:join', { room: 'late-redis' });
    expect((await joined).user.userId).toBe('bob');
    expect(early.output()).not.toContain('unhandled rejection');
  });
});
