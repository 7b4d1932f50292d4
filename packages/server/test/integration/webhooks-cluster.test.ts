import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, API_KEYS, KEYS } from '../helpers/api.js';
import { connect, request, sleep, until, type TestSocket } from '../helpers/clients.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { about, startWebhookReceiver, type ReceivedEvent, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Three instances on a private Redis, one webhook receiver: each change makes one event whatever the
 * instance, a reconnect to another instance within the grace window makes none, and an instance
 * killed with SIGKILL still produces the leaves of its users, once, when the others notice.
 */
const SECRET = 'webhook-secret-0123456789abcdefghijklmnop';
const GRACE = 1500;

describe('webhooks on three instances sharing Redis', () => {
  let redis: RedisServer;
  let rx: WebhookReceiver;
  const servers: ServerProcess[] = [];
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    rx = await startWebhookReceiver(SECRET);
    const env = {
      REDIS_URL: redis.url,
      HEARTBEAT_INTERVAL: '1000',
      HEARTBEAT_TIMEOUT: '3000',
      RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0',
      WEBHOOK_URL: rx.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BATCH_WAIT: '100',
      WEBHOOK_BATCH_SIZE: '5',
      WEBHOOK_TIMEOUT: '2000',
      WEBHOOK_LEAVE_GRACE: String(GRACE),
      WEBHOOK_RETRY_FOR: '3',
      WEBHOOK_RETRY_BASE: '100',
      WEBHOOK_RETRY_MAX_DELAY: '500',
      API_KEYS,
    };
    for (const name of ['a', 'b', 'c']) servers.push(await startServerProcess({ ...env, SERVER_ID: `wh-${name}-${process.pid}` }));
  }, 90_000);

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    await rx?.close();
    await redis?.stop();
  });

  const join = async (url: string, sub: string, rooms: string[]) => {
    const { socket } = await connect(url, { claims: { sub, tenantId: 'acme' } });
    sockets.push(socket);
    for (const room of rooms) await request(socket, 'room:join', { room });
    return socket;
  };
  /** How many distinct events (by id) of this type about this room / user arrived. */
  const count = (type: string, match: { room?: string; userId?: string } = {}) => about(rx.unique(), type, match).length;

  it('makes each event once, skips a quick reconnect, and reports the users of a killed instance', async () => {
    const [a, b, c] = servers as [ServerProcess, ServerProcess, ServerProcess];
    await join(a.url, 'alice', ['hall']);
    const bob = await join(b.url, 'bob', ['hall']);
    await join(c.url, 'carol', ['hall']);
    await join(c.url, 'dave', ['hall', 'den']);
    await until(() => count('member.joined', { room: 'hall' }) === 4 && count('member.joined', { room: 'den' }) === 1, 20_000, 'joins');
    expect(count('room.occupied', { room: 'hall' })).toBe(1);
    expect(count('room.occupied', { room: 'den' })).toBe(1);
    expect(count('user.online')).toBe(4);

    // bob moves from b to a within the grace window: neither left nor joined, offline nor online.
    bob.disconnect();
    await sleep(200);
    const bobAgain = await join(a.url, 'bob', ['hall']);

    // carol and dave's instance dies without a word.
    await c.kill();
    const left = (userId: string, room: string) => count('member.left', { userId, room }) === 1;
    await until(
      () => left('carol', 'hall') && left('dave', 'hall') && left('dave', 'den') && count('room.vacated', { room: 'den' }) === 1 && count('user.offline', { userId: 'carol' }) === 1 && count('user.offline', { userId: 'dave' }) === 1,
      90_000,
      'the leaves of the killed instance',
    );

    // bob, the last one in the hall with alice gone too, vacates it.
    const alice = sockets[0] as TestSocket;
    alice.disconnect();
    bobAgain.disconnect();
    await until(() => count('room.vacated', { room: 'hall' }) === 1 && count('user.offline') === 4, 30_000, 'the hall vacated');
    // Anything a duplicate derivation would have sent is in by now.
    await sleep(GRACE + 2000);

    const events = rx.unique();
    expect(rx.requests.every((r) => r.signed)).toBe(true);
    const tally = (e: ReceivedEvent) => {
      const d = e.data as { room?: string; userId?: string; user?: { userId: string } };
      return [e.type, d.room ?? '-', d.userId ?? d.user?.userId ?? '-'].join(' ');
    };
    expect(events.map(tally).sort()).toEqual(
      [
        'room.occupied hall -',
        'room.occupied den -',
        'member.joined hall alice',
        'member.joined hall bob',
        'member.joined hall carol',
        'member.joined hall dave',
        'member.joined den dave',
        'user.online - alice',
        'user.online - bob',
        'user.online - carol',
        'user.online - dave',
        'member.left hall carol',
        'member.left hall dave',
        'member.left den dave',
        'room.vacated den -',
        'user.offline - carol',
        'user.offline - dave',
        'member.left hall alice',
        'member.left hall bob',
        'room.vacated hall -',
        'user.offline - alice',
        'user.offline - bob',
      ].sort(),
    );
    // Per room, in order: the hall was vacated after its last member left, never while members were in it.
    const hall = events.filter((e) => e.data.room === 'hall').map((e) => e.type);
    expect(hall[0]).toBe('room.occupied');
    expect(hall.indexOf('room.vacated')).toBe(hall.length - 1);
  }, 180_000);

  it('retries a receiver answering 500 from one instance, dead-letters the batch where every instance sees it, and replays it', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    rx.mode = 'fail';
    const before = rx.requests.length;
    await join(a.url, 'zoe', []);
    type Letters = { deadLetters: { id: string; attempts: number; lastError: string; events: ReceivedEvent[] }[] };
    const letters = async (url: string) => (await api<Letters>(url, 'GET', '/webhooks/dead-letters', { key: KEYS.acme })).body.deadLetters;
    await until(async () => (await letters(b.url)).length === 1, 30_000, 'a dead letter');
    const [letter] = await letters(a.url);
    expect(letter?.lastError).toBe('status 500');
    expect(about(letter?.events ?? [], 'user.online', { userId: 'zoe' })).toHaveLength(1);
    const id = letter?.events[0]?.id as string;
    // Every attempt (by whichever instance held the endpoint) carried the same id; none was accepted.
    const attempts = rx.requests.slice(before).filter((r) => r.events.some((e) => e.id === id));
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((r) => r.signed)).toBe(true);
    rx.mode = 'ok';
    expect((await api(b.url, 'POST', `/webhooks/dead-letters/${letter?.id}/replay`, { key: KEYS.acme })).status).toBe(200);
    await until(() => rx.requests.slice(before + attempts.length).some((r) => r.events.some((e) => e.id === id)), 15_000, 'the replay');
    expect(await letters(a.url)).toEqual([]);
  }, 90_000);
});
