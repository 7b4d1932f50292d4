import { afterEach, describe, expect, it } from 'vitest';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { closeAll, collect, connect, request, sleep, until, type TestSocket } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

type HistoryAck = { success: true; messages: RoomMessage[]; hasMore: boolean; recovered: boolean };
type JoinAck = { success: true; room: string; messages?: RoomMessage[]; recovered?: boolean; hasMore?: boolean };
type SendAck = { success: boolean; messageId: string; duplicate?: boolean; error?: string };

const send = (s: TestSocket, room: string, payload: unknown, persistent = true, extra: Record<string, unknown> = {}) =>
  request<SendAck>(s, 'room:send', { room, payload, persistent, ...extra });

describe('history and recovery', () => {
  let srv: TestServer | undefined;
  const open = async (env: Record<string, string> = {}) => (srv = await startTestServer({ RATE_LIMIT_MESSAGES_PER_SECOND: '0', RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0', ...env }));
  afterEach(async () => {
    closeAll();
    await srv?.close();
    srv = undefined;
  });

  it('stores persistent messages only and returns them oldest first', async () => {
    const s = await open();
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'h' });
    const a = await send(socket, 'h', 'a');
    await send(socket, 'h', 'volatile', false);
    const c = await send(socket, 'h', 'c');
    const h = await request<HistoryAck>(socket, 'room:history', { room: 'h' });
    expect(h).toMatchObject({ success: true, hasMore: false, recovered: true });
    expect(h.messages.map((m) => [m.id, m.payload, m.from, m.persistent])).toEqual([
      [a.messageId, 'a', 'alice', true],
      [c.messageId, 'c', 'alice', true],
    ]);
  });

  it('pages with since and limit (default 100, at most 1000), reporting hasMore', async () => {
    const s = await open();
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'pages' });
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push((await send(socket, 'pages', i)).messageId);
    const first = await request<HistoryAck>(socket, 'room:history', { room: 'pages' });
    expect(first.messages).toHaveLength(100);
    expect(first.hasMore).toBe(true);
    const second = await request<HistoryAck>(socket, 'room:history', { room: 'pages', since: first.messages[99]?.id });
    expect(second.messages.map((m) => m.payload)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
    expect(second.hasMore).toBe(false);
    const small = await request<HistoryAck>(socket, 'room:history', { room: 'pages', since: ids[9], limit: 5 });
    expect(small.messages.map((m) => m.payload)).toEqual([10, 11, 12, 13, 14]);
    expect(small.hasMore).toBe(true);
    const huge = await request<HistoryAck>(socket, 'room:history', { room: 'pages', limit: 5000 });
    expect(huge.messages).toHaveLength(120);
  });

  it('recovers on join with since: recovered true and the missed messages', async () => {
    const s = await open();
    const a = await connect(s.url, { claims: { sub: 'alice' } });
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'rec' });
    await request(b.socket, 'room:join', { room: 'rec' });
    const seen = await send(a.socket, 'rec', 'seen');
    await request(b.socket, 'room:leave', { room: 'rec' });
    await send(a.socket, 'rec', 'missed-1');
    await send(a.socket, 'rec', 'volatile-missed', false);
    await send(a.socket, 'rec', 'missed-2');
    const join = await request<JoinAck>(b.socket, 'room:join', { room: 'rec', since: seen.messageId });
    expect(join).toMatchObject({ success: true, recovered: true, hasMore: false });
    expect(join.messages?.map((m) => m.payload)).toEqual(['missed-1', 'missed-2']);
  });

  it('gives the room\'s newest id in a join without since, a position to recover from later', async () => {
    const s = await open();
    const a = await connect(s.url, { claims: { sub: 'alice' } });
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'head' });
    const last = await send(a.socket, 'head', 'before bob', false);
    const join = await request<JoinAck & { lastId?: string }>(b.socket, 'room:join', { room: 'head' });
    expect(join.lastId).toBe(last.messageId);
    await request(b.socket, 'room:leave', { room: 'head' });
    await send(a.socket, 'head', 'while away');
    const back = await request<JoinAck>(b.socket, 'room:join', { room: 'head', since: join.lastId });
    expect(back).toMatchObject({ recovered: true, messages: [expect.objectContaining({ payload: 'while away' })] });
  });

  it('pages a large gap instead of truncating it silently', async () => {
    const s = await open();
    const a = await connect(s.url, { claims: { sub: 'alice' } });
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'gap' });
    const since = (await send(a.socket, 'gap', 'start')).messageId;
    for (let i = 0; i < 450; i++) await send(a.socket, 'gap', i);
    const join = await request<JoinAck>(b.socket, 'room:join', { room: 'gap', since });
    expect(join.recovered).toBe(true);
    expect(join.hasMore).toBe(true);
    const got = [...(join.messages ?? [])];
    let more = join.hasMore;
    while (more) {
      const page = await request<HistoryAck>(b.socket, 'room:history', { room: 'gap', since: got[got.length - 1]?.id, limit: 1000 });
      got.push(...page.messages);
      more = page.hasMore;
    }
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 450 }, (_, i) => i));
  });

  it('reports recovered: false when since is older than what is retained (max messages)', async () => {
    const s = await open({ PERSISTENCE_MAX_MESSAGES: '5' });
    const { socket } = await connect(s.url);
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(socket, 'room:join', { room: 'trim' });
    const old = (await send(socket, 'trim', 0)).messageId;
    for (let i = 1; i < 10; i++) await send(socket, 'trim', i);
    const h = await request<HistoryAck>(socket, 'room:history', { room: 'trim' });
    expect(h.messages.map((m) => m.payload)).toEqual([5, 6, 7, 8, 9]);
    const join = await request<JoinAck>(b.socket, 'room:join', { room: 'trim', since: old });
    expect(join.recovered).toBe(false);
    expect(join.messages?.map((m) => m.payload)).toEqual([5, 6, 7, 8, 9]);
  });

  it('expires messages after PERSISTENCE_TTL', async () => {
    const s = await open({ PERSISTENCE_TTL: '1' });
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'ttl' });
    await send(socket, 'ttl', 'old');
    await sleep(1200);
    await send(socket, 'ttl', 'new');
    const h = await request<HistoryAck>(socket, 'room:history', { room: 'ttl' });
    expect(h.messages.map((m) => m.payload)).toEqual(['new']);
  });

  it('reports recovered: false for a since from a lost history (another epoch) or a malformed one', async () => {
    const s = await open();
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'epoch' });
    const id = (await send(socket, 'epoch', 'x')).messageId;
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    const foreign = id.replace(/-[a-z0-9]{8}$/, '-zzzzzzzz');
    expect(await request<JoinAck>(b.socket, 'room:join', { room: 'epoch', since: foreign })).toMatchObject({ recovered: false, messages: [expect.objectContaining({ payload: 'x' })] });
    expect(await request<JoinAck>(b.socket, 'room:join', { room: 'epoch', since: 'not-an-id' })).toMatchObject({ recovered: false });
    expect(await request<JoinAck>(b.socket, 'room:join', { room: 'epoch-unknown', since: id })).toMatchObject({ recovered: false, messages: [] });
  });

  it('room:history refuses a since that is not a message id', async () => {
    const s = await open();
    const { socket } = await connect(s.url);
    expect(await request(socket, 'room:history', { room: 'x', since: 'garbage' })).toMatchObject({ success: false, error: 'INVALID_PAYLOAD' });
  });

  it('accepts payloads of any size with MAX_MESSAGE_BYTES=0', async () => {
    const s = await open({ MAX_MESSAGE_BYTES: '0' });
    const a = await connect(s.url, { claims: { sub: 'alice' } });
    await request(a.socket, 'room:join', { room: 'huge' });
    expect(await send(a.socket, 'huge', 'x'.repeat(300_000))).toMatchObject({ success: true });
  });

  it('delivers in id order under concurrent senders, the same order to every member', async () => {
    const s = await open();
    const senders = await Promise.all(['s1', 's2', 's3', 's4'].map((sub) => connect(s.url, { claims: { sub } })));
    const r1 = await connect(s.url, { claims: { sub: 'r1' } });
    const r2 = await connect(s.url, { claims: { sub: 'r2' } });
    for (const c of [...senders, r1, r2]) await request(c.socket, 'room:join', { room: 'order' });
    const got1 = collect<RoomMessage>(r1.socket, 'room:message');
    const got2 = collect<RoomMessage>(r2.socket, 'room:message');
    await Promise.all(senders.map((c, i) => Promise.all(Array.from({ length: 50 }, (_, j) => send(c.socket, 'order', `${i}-${j}`, j % 2 === 0)))));
    await until(() => got1.length === 200 && got2.length === 200, 5000, 'all messages');
    const ids = got1.map((m) => m.id);
    expect([...ids].sort()).toEqual(ids);
    expect(got2.map((m) => m.id)).toEqual(ids);
    const h = await request<HistoryAck>(r1.socket, 'room:history', { room: 'order', limit: 1000 });
    expect(h.messages.map((m) => m.id)).toEqual(got1.filter((m) => m.persistent).map((m) => m.id));
  });

  it('drops a repeated clientMessageId within the window, answering with the first id', async () => {
    const s = await open();
    const a = await connect(s.url, { claims: { sub: 'alice' } });
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'dup' });
    await request(b.socket, 'room:join', { room: 'dup' });
    const got = collect<RoomMessage>(b.socket, 'room:message');
    const first = await send(a.socket, 'dup', 'once', true, { clientMessageId: 'cm-1' });
    const again = await send(a.socket, 'dup', 'once', true, { clientMessageId: 'cm-1' });
    expect(first).toEqual({ success: true, messageId: expect.any(String) });
    expect(again).toEqual({ success: true, messageId: first.messageId, duplicate: true });
    await sleep(100);
    expect(got.map((m) => m.id)).toEqual([first.messageId]);
    expect(got[0]?.clientMessageId).toBe('cm-1');
    expect((await request<HistoryAck>(a.socket, 'room:history', { room: 'dup' })).messages).toHaveLength(1);
  });

  it('refuses persistent sends with a clear error when PERSISTENCE_ENABLED=false, volatile ones still flow', async () => {
    const s = await open({ PERSISTENCE_ENABLED: 'false' });
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'nopersist' });
    const refused = await send(socket, 'nopersist', 1, true);
    expect(refused).toMatchObject({ success: false, error: 'INVALID_PAYLOAD', message: expect.stringMatching(/persistence is disabled/i) });
    expect(await send(socket, 'nopersist', 1, false)).toMatchObject({ success: true });
    expect(await request<HistoryAck>(socket, 'room:history', { room: 'nopersist' })).toMatchObject({ success: true, messages: [] });
  });

  it('counts recovery hits and misses in /metrics', async () => {
    const s = await open();
    const { socket } = await connect(s.url);
    await request(socket, 'room:join', { room: 'm' });
    const id = (await send(socket, 'm', 1)).messageId;
    const b = await connect(s.url, { claims: { sub: 'bob' } });
    await request(b.socket, 'room:join', { room: 'm', since: id });
    await request(b.socket, 'room:join', { room: 'm2', since: id });
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toMatch(/websocket_history_recoveries_total\{[^}]*result="hit"[^}]*\} 1/);
    expect(text).toMatch(/websocket_history_recoveries_total\{[^}]*result="miss"[^}]*\} 1/);
    expect(text).toMatch(/websocket_history_messages\{[^}]*\} 1/);
    expect(text).toMatch(/websocket_presence_entries\{[^}]*\} [1-9]/);
  });
});
