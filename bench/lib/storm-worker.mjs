/**
 * A load-generator process of the storm scenario (forked by scenarios/storm.mjs): SDK clients
 * (packages/client, the real reconnect, re-join with `since` and recovery) each in one room, or
 * the publisher (lean wire clients sending numbered persistent messages into every room, one in
 * flight per room). Answers commands over IPC.
 *
 * Each SDK client checks its room's numbers: every message must be the one after the last it saw
 * (a number skipped is a message lost, a number seen twice a duplicate). Latency = receive time -
 * send time in the payload, recorded per phase, separately for clients that never lost their
 * connection.
 */
import { reply, token } from './worker-common.mjs';
import { WebSocketClient } from '../../packages/client/dist/index.js';
import { newHist, record } from './hist.mjs';
import { WireClient } from './wire-client.mjs';

const now = () => performance.timeOrigin + performance.now();
const clients = [];
let phase = 'before';
// stable / all: send to receipt. toServer / fromServer: the stayed clients' latency cut at the message's
// server timestamp (publisher to the instance accepting it; from there to the client).
const phaseHists = () => ({ stable: newHist(), all: newHist(), toServer: newHist(), fromServer: newHist() });
const hists = { before: phaseHists(), storm: phaseHists(), after: phaseHists() };
const errorsByCode = {};
let publisher;

/**
 * o: { urls, secret, tenantId, startIndex, count, roomSize, backoff?, concurrency, homes? }: clients
 * startIndex .. startIndex + count - 1, client i at home on urls[i % urls.length]; with `homes`, only the
 * clients at home on those instances (by index in urls).
 */
async function connect(o) {
  let next = 0;
  let ok = 0;
  const lane = async () => {
    while (next < o.count) {
      const index = o.startIndex + next++;
      const home = index % o.urls.length;
      if (o.homes && !o.homes.includes(home)) continue;
      const urls = o.urls.map((_, k) => o.urls[(home + k) % o.urls.length]);
      const c = {
        index,
        room: `storm-${Math.floor(index / o.roomSize)}`,
        last: -1,
        lost: 0,
        duplicates: 0,
        disconnectedAt: undefined,
        recoveredAt: undefined,
        stable: true,
        reconnects: 0,
      };
      c.client = new WebSocketClient({
        urls,
        token: await token(o.secret, o.tenantId, `storm-${index}`),
        transports: ['websocket'],
        heartbeatIntervalMs: 0,
        autoConnect: false,
        connectTimeoutMs: 20_000,
        ackTimeoutMs: 20_000,
        ...(o.backoff && { backoff: o.backoff }),
      });
      c.client.on('room:message', (m) => {
        const p = m?.payload;
        if (typeof p?.n !== 'number') return;
        if (c.last >= 0) {
          if (p.n <= c.last) c.duplicates++;
          else if (p.n > c.last + 1) c.lost += p.n - c.last - 1;
        }
        if (p.n > c.last) c.last = p.n;
        const ms = now() - p.t;
        const h = hists[phase];
        record(h.all, ms);
        if (c.stable) {
          record(h.stable, ms);
          if (typeof m.timestamp === 'number') {
            record(h.toServer, Math.max(0, m.timestamp - p.t));
            record(h.fromServer, Math.max(0, ms - (m.timestamp - p.t)));
          }
        }
      });
      c.client.on('status:change', (state) => {
        if (phase === 'before') return;
        if (state === 'connected') {
          if (c.disconnectedAt !== undefined && c.recoveredAt === undefined) c.recoveredAt = Date.now();
          c.reconnects++;
        } else if (c.disconnectedAt === undefined) {
          c.disconnectedAt = Date.now();
          c.stable = false;
        }
      });
      c.client.on('connect_error', (err) => {
        errorsByCode[err.code] = (errorsByCode[err.code] ?? 0) + 1;
      });
      try {
        await c.client.connect();
        await c.client.joinRoom(c.room);
        clients.push(c);
        ok++;
      } catch (err) {
        errorsByCode[`setup:${err?.code ?? err?.message}`] = (errorsByCode[`setup:${err?.code ?? err?.message}`] ?? 0) + 1;
        c.client.disconnect();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, lane));
  return { connected: ok };
}

/** o: { url, secret, tenantId, rooms, rate (messages/s over all rooms) } */
async function startPublisher(o) {
  const auth = { token: await token(o.secret, o.tenantId, 'storm-publisher') };
  let wire;
  for (let attempt = 0; ; attempt++) {
    wire = new WireClient(o.url, { timeoutMs: 20_000, auth, onRoomMessage: () => {} });
    try {
      await wire.connect();
      break;
    } catch (err) {
      wire.disconnect();
      // A server just started may still refuse with OVERLOADED: wait as it says, as the SDK does.
      if (err?.message !== 'OVERLOADED' || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, err.data?.retryAfterMs ?? 1000));
    }
  }
  for (let r = 0; r < o.rooms; r++) {
    const res = await wire.request('room:join', { room: `storm-${r}` }, 20_000);
    if (!res?.success) throw new Error(`publisher join: ${JSON.stringify(res)}`);
  }
  const rooms = Array.from({ length: o.rooms }, () => ({ next: 0, busy: false }));
  const state = { wire, sent: 0, acked: 0, refused: 0, refusals: {}, rooms, stopped: false };
  let rr = 0;
  const t0 = now();
  let due = 0;
  state.timer = setInterval(() => {
    const should = Math.floor(((now() - t0) * o.rate) / 1000);
    for (; due < should; due++) {
      const r = rr++ % o.rooms;
      const room = rooms[r];
      if (room.busy) continue; // one in flight per room keeps the numbers in order
      room.busy = true;
      const n = room.next;
      state.sent++;
      wire.emit('room:send', { room: `storm-${r}`, persistent: true, payload: { n, t: now() } }, (res) => {
        room.busy = false;
        if (res?.success) {
          room.next = n + 1;
          state.acked++;
        } else {
          state.refused++;
          state.refusals[res?.error ?? 'none'] = (state.refusals[res?.error ?? 'none'] ?? 0) + 1;
        }
      });
    }
  }, 10);
  publisher = state;
  return {};
}

function stopPublisher() {
  clearInterval(publisher.timer);
  return { sent: publisher.sent, acked: publisher.acked, refused: publisher.refused, refusals: publisher.refusals, last: publisher.rooms.map((r) => r.next - 1) };
}

process.on('message', async (m) => {
  try {
    switch (m.cmd) {
      case 'connect':
        return reply(m.id, await connect(m));
      case 'publish':
        return reply(m.id, await startPublisher(m));
      case 'stop-publishing':
        return reply(m.id, stopPublisher());
      case 'phase':
        phase = m.phase;
        return reply(m.id, {});
      case 'state': {
        // Per client: its room's last number, losses, recovery.
        return reply(m.id, {
          clients: clients.map((c) => ({
            room: c.room,
            last: c.last,
            lost: c.lost,
            duplicates: c.duplicates,
            stable: c.stable,
            connected: c.client.connected,
            disconnectedAt: c.disconnectedAt,
            recoveredAt: c.recoveredAt,
          })),
          hists,
          errorsByCode,
          cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
        });
      }
      case 'close':
        if (publisher) clearInterval(publisher.timer);
        publisher?.wire.disconnect();
        for (const c of clients) c.client.disconnect();
        reply(m.id, {});
        setTimeout(() => process.exit(0), 50);
        return;
      default:
        return reply(m.id, { error: `unknown command ${m.cmd}` });
    }
  } catch (err) {
    reply(m.id, { error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
