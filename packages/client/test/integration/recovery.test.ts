import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { ClientPool, cuttableNetwork, nextEvent, record, sleep, until } from '../helpers/harness.js';

let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  // A tight per-connection rate limit (the SDK paces itself on RATE_LIMITED) and a short history.
  server = await startServerProcess({
    RATE_LIMIT_MESSAGES_PER_SECOND: '300',
    RATE_LIMIT_MESSAGES_BURST: '50',
    PERSISTENCE_MAX_MESSAGES: '300',
  });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe('recovery after a client-side outage', () => {
  it('pages a long gap with room:history and merges live messages that arrive meanwhile, once each, in order', async () => {
    const net = cuttableNetwork();
    const aliceNet = cuttableNetwork();
    const alice = await pool.create(server.url, 'alice', { socketFactory: aliceNet.factory });
    const bob = await pool.create(server.url, 'bob', { socketFactory: net.factory });
    const bobSeen = record(bob);
    await bob.joinRoom('long');
    await alice.joinRoom('long');
    const first = await alice.sendMessage('long', 0, true);
    await until(() => bobSeen.messages.length === 1, 'the first message');

    net.cut();
    await until(() => bob.status === 'reconnecting', 'bob offline');
    // More than one join acknowledgement holds: the rest must be paged. (Whether some of these meet the rate
    // limit depends on the machine's speed; the SDK's pacing on RATE_LIMITED is covered by refusals.test.ts.)
    const missed = await Promise.all(Array.from({ length: 250 }, (_, i) => alice.sendMessage('long', i + 1, true)));
    expect(alice.queueSize).toBe(0);
    expect(aliceNet.emitted.filter((e) => e === 'room:send').length).toBeGreaterThanOrEqual(251);

    // Live traffic (persistent and volatile) keeps coming while bob re-joins and recovers.
    let live = true;
    const liveIds: string[] = [];
    const producer = (async () => {
      for (let i = 0; live; i++) {
        liveIds.push(await alice.sendMessage('long', { live: i }, i % 2 === 0));
        await sleep(2);
      }
    })();
    net.restore();
    await bob.connect();
    await until(() => bob.lastMessageId('long') !== undefined && bob.lastMessageId('long')! > missed[missed.length - 1]!, 'recovery');
    await sleep(100);
    live = false;
    await producer;
    const all = [first, ...missed, ...liveIds];
    await until(() => bob.lastMessageId('long') === all[all.length - 1], 'the last live message');

    const got = bobSeen.messages.map((m) => m.id);
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort()).toEqual(got);
    // Every stored message arrives; volatile ones sent during the re-join may not (documented).
    const persistent = [first, ...missed, ...liveIds.filter((_, i) => i % 2 === 0)];
    expect(got.filter((id) => persistent.includes(id))).toEqual(persistent);
    expect(got.every((id) => all.includes(id))).toBe(true);
    // The join acknowledgement held one page; the rest came through room:history.
    expect(net.emitted.filter((e) => e === 'room:history').length).toBeGreaterThanOrEqual(1);
  });

  it('a gap older than the retained history emits room:recovery-failed and delivers what is left', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(server.url, 'alice');
    const bob = await pool.create(server.url, 'bob', { socketFactory: net.factory });
    const bobSeen = record(bob);
    await bob.joinRoom('short');
    await alice.joinRoom('short');
    await alice.sendMessage('short', 0, true);
    await until(() => bobSeen.messages.length === 1, 'the first message');

    net.cut();
    await until(() => bob.status === 'reconnecting', 'bob offline');
    const sent = await Promise.all(Array.from({ length: 400 }, (_, i) => alice.sendMessage('short', i + 1, true)));
    const failed = nextEvent(bob, 'room:recovery-failed');
    net.restore();
    await bob.connect();
    expect((await failed)[0]).toEqual({ room: 'short' });
    await until(() => bob.lastMessageId('short') === sent[sent.length - 1], 'the retained messages');
    // The 300 retained messages, in order, once.
    expect(bobSeen.messages.slice(1).map((m) => m.id)).toEqual(sent.slice(-300));
    const history = await bob.getHistory('short', { limit: 1000 });
    expect(history.messages).toHaveLength(300);
  });

  it('recovers a room that had no message yet for this client when it went offline', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(server.url, 'alice');
    const bob = await pool.create(server.url, 'bob', { socketFactory: net.factory });
    const bobSeen = record(bob);
    await alice.joinRoom('quiet');
    await alice.sendMessage('quiet', 'before bob', false);
    await bob.joinRoom('quiet');
    expect(bobSeen.messages).toHaveLength(0);
    net.cut();
    await until(() => bob.status === 'reconnecting', 'bob offline');
    const missed = [await alice.sendMessage('quiet', 'missed-1', true), await alice.sendMessage('quiet', 'missed-2', true)];
    net.restore();
    await bob.connect();
    await until(() => bobSeen.messages.length === 2, 'the missed messages');
    expect(bobSeen.messages.map((m) => m.id)).toEqual(missed);
  });

  it('recovers a room that was brand new (no history at all) when it went offline', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(server.url, 'alice');
    const bob = await pool.create(server.url, 'bob', { socketFactory: net.factory });
    const bobSeen = record(bob);
    await bob.joinRoom('brand-new');
    await alice.joinRoom('brand-new');
    net.cut();
    await until(() => bob.status === 'reconnecting', 'bob offline');
    const missed = await alice.sendMessage('brand-new', 'while away', true);
    net.restore();
    await bob.connect();
    await until(() => bobSeen.messages.length === 1, 'the missed message');
    expect(bobSeen.messages.map((m) => m.id)).toEqual([missed]);
  });
});
