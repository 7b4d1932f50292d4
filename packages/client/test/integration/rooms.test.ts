import type { PresenceInfo, RoomMessage } from '@intelgraph/websocket-protocol';
import { describe, expect, it } from 'vitest';
import { startServerProcess } from '../../../server/test/helpers/server-process.js';
import { WebSocketClientError, type Room, type RoomLeaving } from '../../src/index.js';
import { cuttableNetwork, serverSuite, token, until } from '../helpers/harness.js';

const suite = serverSuite({ HEARTBEAT_INTERVAL: '300', HEARTBEAT_TIMEOUT: '10000' });
const { pool } = suite;

interface Chat {
  text: string;
}

const users = (presence: ReadonlyMap<string, PresenceInfo>) => [...presence.keys()].sort();

describe('room objects', () => {
  it('one object per name; join and leave are idempotent; events and the typed payload are the room’s own', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(suite.server().url, 'alice', { socketFactory: net.factory });
    const bob = await pool.create(suite.server().url, 'bob');
    const chat: Room<Chat> = alice.room<Chat>('chat');
    expect(alice.room('chat')).toBe(chat);
    expect(chat.joined).toBe(false);
    const texts: string[] = [];
    chat.on('message', (m) => texts.push(m.payload.text));
    const other: RoomMessage[] = [];
    alice.room('other').on('message', (m) => other.push(m));

    await Promise.all([chat.join(), chat.join()]);
    await chat.join();
    expect(chat.joined).toBe(true);
    expect(net.emitted.filter((e) => e === 'room:join')).toHaveLength(1);
    await alice.room('other').join();

    await bob.joinRoom('chat');
    await bob.joinRoom('other');
    const first = await bob.sendMessage('chat', { text: 'one' });
    await bob.sendMessage('other', { text: 'elsewhere' });
    await bob.sendMessage('chat', { text: 'two' }, true);
    await until(() => texts.length === 2 && other.length === 1, 'the messages of both rooms');
    expect(texts).toEqual(['one', 'two']);
    expect(chat.lastMessageId).not.toBe(first);

    const sent = await chat.send({ text: 'from the room' }, { persistent: true });
    expect(sent > first).toBe(true);

    const left: RoomLeaving[] = [];
    chat.on('left', (d) => left.push(d));
    await chat.leave();
    await chat.leave();
    expect(left).toEqual([{ room: 'chat', reason: 'leave' }]);
    expect(chat.joined).toBe(false);
    expect(net.emitted.filter((e) => e === 'room:leave')).toHaveLength(1);
    expect(await alice.queryRooms()).toEqual(['other']);
    await expect(chat.send({ text: 'not in it' })).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
  });

  it('reads history forward and backward, bounded by since and before, with the typed payload', async () => {
    const alice = await pool.create(suite.server().url, 'alice');
    const log = alice.room<Chat>('log');
    await log.join();
    const ids: string[] = [];
    for (const text of ['1', '2', '3', '4', '5']) ids.push(await log.send({ text }, { persistent: true }));
    const texts = (page: { messages: { payload: Chat }[]; hasMore: boolean }) => [page.messages.map((m) => m.payload.text).join(''), page.hasMore];

    expect(texts(await log.history({ direction: 'backward', limit: 2 }))).toEqual(['54', true]);
    expect(texts(await log.history({ direction: 'backward', before: ids[3], limit: 2 }))).toEqual(['32', true]);
    expect(texts(await log.history({ direction: 'backward', before: ids[1], limit: 2 }))).toEqual(['1', false]);
    expect(texts(await log.history({ since: ids[1], limit: 2 }))).toEqual(['34', true]);
    expect(texts(await log.history({ before: ids[2] }))).toEqual(['12', false]);
    expect(texts(await alice.getHistory('log', { direction: 'forward', limit: 10 }) as { messages: { payload: Chat }[]; hasMore: boolean })).toEqual(['12345', false]);
  });

  it('keeps the presence map: loaded after the join, updated by joins, status changes and leaves, reloaded after a reconnect', async () => {
    const net = cuttableNetwork();
    const alice = await pool.create(suite.server().url, 'alice', { socketFactory: net.factory });
    const bob = await pool.create(suite.server().url, 'bob');
    const carol = await pool.create(suite.server().url, 'carol');
    await bob.joinRoom('team');
    const team = alice.room('team');
    const changes: ReadonlyMap<string, PresenceInfo>[] = [];
    team.on('presence', (p) => changes.push(p));
    await team.join();
    await until(() => team.presence.size === 2, 'the presence loaded after the join');
    expect(changes.at(-1)).toBe(team.presence);
    expect(users(team.presence)).toEqual(['alice', 'bob']);

    await carol.joinRoom('team');
    await until(() => team.presence.has('carol'), 'carol in the map');
    const before = team.presence;
    await bob.setPresenceStatus('busy');
    await until(() => team.presence.get('bob')?.status === 'busy', 'bob busy');
    expect(team.presence).not.toBe(before);
    await carol.leaveRoom('team');
    await until(() => !team.presence.has('carol'), 'carol gone');
    expect(users(team.presence)).toEqual(['alice', 'bob']);

    // While alice is offline, carol comes back: the map is loaded again after the re-join.
    net.cut();
    await until(() => alice.status === 'reconnecting', 'alice offline');
    await carol.joinRoom('team');
    net.restore();
    await until(() => team.presence.has('carol'), 'carol after the reconnect');
    expect(users(team.presence)).toEqual(['alice', 'bob', 'carol']);

    await team.leave();
    expect(team.presence.size).toBe(0);
  });

  it('iterates messages until the room is left; a slow reader gets BUFFER_OVERFLOW after the buffered ones', async () => {
    const alice = await pool.create(suite.server().url, 'alice');
    const bob = await pool.create(suite.server().url, 'bob');
    const feed = alice.room<Chat>('feed');
    await feed.join();
    await bob.joinRoom('feed');

    const read: string[] = [];
    const reading = (async () => {
      for await (const m of feed) {
        read.push(m.payload.text);
        if (read.length === 3) await bob.sendMessage('feed', { text: 'last' });
      }
      return 'ended';
    })();
    for (const text of ['a', 'b', 'c']) await bob.sendMessage('feed', { text });
    await until(() => read.length === 4, 'four messages read');
    await feed.leave();
    expect(await reading).toBe('ended');
    expect(read).toEqual(['a', 'b', 'c', 'last']);

    await feed.join();
    const slow = feed.messages({ bufferSize: 2 });
    let lastId = '';
    for (const text of ['x', 'y', 'z']) lastId = await bob.sendMessage('feed', { text });
    await until(() => feed.lastMessageId === lastId, 'the three messages at alice');
    const got: string[] = [];
    let failure: unknown;
    try {
      for (;;) {
        const next = await slow.next();
        if (next.done) break;
        got.push(next.value.payload.text);
      }
    } catch (err) {
      failure = err;
    }
    expect(got).toEqual(['x', 'y']);
    expect(failure).toBeInstanceOf(WebSocketClientError);
    expect(failure).toMatchObject({ code: 'BUFFER_OVERFLOW', room: 'feed' });
    expect(await slow.next()).toEqual({ value: undefined, done: true });
  });

  it('says why the room was left: refused (with the error), disconnect, failed', async () => {
    const limited = await pool.create(suite.server().url, 'dave', { token: await token('dave', { rooms: ['allowed:*'] }) });
    const refusal = new Promise<RoomLeaving>((resolve) => limited.room('secret').on('left', resolve));
    await expect(limited.room('secret').join()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal).toMatchObject({ room: 'secret', reason: 'refused', error: { code: 'FORBIDDEN' } });

    const open = limited.room('allowed:1');
    await open.join();
    const ended = (async () => {
      const seen: unknown[] = [];
      for await (const m of open) seen.push(m);
      return seen;
    })();
    const onDisconnect = new Promise<RoomLeaving>((resolve) => open.on('left', resolve));
    limited.disconnect();
    expect(await onDisconnect).toEqual({ room: 'allowed:1', reason: 'disconnect' });
    expect(await ended).toEqual([]);

    const own = await startServerProcess();
    try {
      const erin = await pool.create(own.url, 'erin', { maxReconnectAttempts: 0 });
      const room = erin.room('gone');
      await room.join();
      const onFailure = new Promise<RoomLeaving>((resolve) => room.on('left', resolve));
      await own.kill();
      expect(await onFailure).toMatchObject({ room: 'gone', reason: 'failed', error: { code: 'RECONNECT_FAILED' } });
      expect(erin.status).toBe('failed');
    } finally {
      await own.stop();
    }
  });
});
