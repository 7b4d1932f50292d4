/**
 * A load-generator process (forked by lib/loadgen.mjs). Holds many connections
 * (websocket transport only; the lean WireClient by default, socket.io-client with
 * client: 'socket.io'), bound to the loopback source addresses it is given, and
 * answers commands over IPC. Latency = receive time - send time written
 * in the payload (both on this machine's clock, sub-millisecond).
 */
import { io } from 'socket.io-client';
import { reply, token } from './worker-common.mjs';
import { newHist, record } from './hist.mjs';
import { WireClient } from './wire-client.mjs';

const now = () => performance.timeOrigin + performance.now();
const clients = [];
let phase = 0;
let hist = newHist();
let received = 0;
let stale = 0;
let errors = 0;
const errorSamples = new Set();
const noteError = (what) => {
  errors++;
  if (errorSamples.size < 10) errorSamples.add(String(what).slice(0, 200));
};
let sending;

function onRoomMessage(t, p) {
  if (p !== phase) {
    stale++;
    return;
  }
  received++;
  record(hist, now() - t);
}

/** socket.io-client behind the same small interface as WireClient (connect, emit, request, disconnect). */
class IoClient {
  constructor(url, o) {
    this.socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: o.timeoutMs,
      ...(o.localAddress && { localAddress: o.localAddress }),
      auth: o.auth ?? {},
      autoConnect: false,
    });
    this.socket.on('room:message', (msg) => onRoomMessage(msg?.payload?.t, msg?.payload?.p));
  }
  get connected() {
    return this.socket.connected;
  }
  on(event, fn) {
    this.socket.on(event, fn);
  }
  connect() {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve(this));
      this.socket.once('connect_error', (err) => reject(err));
      this.socket.connect();
    });
  }
  emit(event, data, ack) {
    this.socket.emit(event, data, ack);
  }
  request(event, data, timeoutMs) {
    return this.socket.timeout(timeoutMs).emitWithAck(event, data);
  }
  disconnect() {
    this.socket.disconnect();
  }
}

/** Handshakes refused with OVERLOADED and tried again after its retryAfterMs, as the SDK does. */
let overloadedRefusals = 0;

async function connectOne(o, index) {
  const co = {
    timeoutMs: o.connectTimeoutMs,
    localAddress: o.addresses[index % o.addresses.length],
    ...(o.tokens && { auth: { token: o.tokens[index] } }),
    onRoomMessage,
  };
  for (;;) {
    const client = o.client === 'socket.io' ? new IoClient(o.url, co) : new WireClient(o.url, co);
    try {
      await client.connect();
      return { socket: client, index: o.startIndex + index, room: undefined };
    } catch (err) {
      client.disconnect();
      const wait = err?.data?.retryAfterMs;
      if (err?.message === 'OVERLOADED' && typeof wait === 'number' && Date.now() + wait < o.deadline) {
        overloadedRefusals++;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      noteError(`connect_error: ${err?.message ?? err}`);
      return undefined;
    }
  }
}

/** Tokens signed ahead by `prepare`, so that a timed connect does not include signing them. */
let prepared;

async function signTokens(o) {
  if (!o.secret) return undefined;
  const key = `${o.secret}|${o.tenantId}|${o.userPrefix}|${o.startIndex}|${o.count}`;
  if (prepared?.key === key) return prepared.tokens;
  const tokens = [];
  for (let i = 0; i < o.count; i++) tokens.push(await token(o.secret, o.tenantId, `${o.userPrefix}${o.startIndex + i}`));
  prepared = { key, tokens };
  return tokens;
}

async function connect(o) {
  overloadedRefusals = 0;
  const tokens = await signTokens(o);
  const started = Date.now();
  let next = 0;
  let ok = 0;
  const lane = async () => {
    while (next < o.count && Date.now() - started < o.deadlineMs) {
      const i = next++;
      const c = await connectOne({ ...o, tokens, deadline: started + o.deadlineMs }, i);
      if (c) {
        c.socket.on('disconnect', (reason) => {
          if (!closing) noteError(`disconnect: ${reason}`);
        });
        clients.push(c);
        ok++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, lane));
  return { connected: ok, wanted: o.count, ms: Date.now() - started, overloadedRefusals };
}

/** Joins every client to its room: one room for all, or groups of consecutive global indexes. */
async function join(o) {
  let ok = 0;
  let next = 0;
  const lane = async () => {
    while (next < clients.length) {
      const c = clients[next++];
      const room = o.room ?? `${o.prefix}${Math.floor(c.index / o.groupSize)}`;
      try {
        const res = await c.socket.request('room:join', { room }, o.timeoutMs);
        if (res?.success) {
          c.room = room;
          ok++;
        } else noteError(`join: ${res?.error ?? JSON.stringify(res)}`);
      } catch (err) {
        noteError(`join: ${err?.message ?? err}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, clients.length) }, lane));
  return { joined: ok };
}

let closing = false;

/** Sends at a fixed total rate (messages/s over all clients of this worker) for a while. */
function send(o) {
  return new Promise((resolve) => {
    const senders = clients.filter((c) => c.room !== undefined);
    let sent = 0;
    let acked = 0;
    let ackErrors = 0;
    let inFlight = 0;
    let skipped = 0;
    let rr = 0;
    const text = 'x'.repeat(o.padBytes);
    const t0 = now();
    const total = o.rate;
    // How evenly this worker kept its pace: messages that went out in the same tick as an earlier
    // one (the tick ran late), the most in one tick, and the longest gap between two ticks.
    let bunched = 0;
    let maxPerTick = 0;
    let maxTickGapMs = 0;
    let lastTick = t0;
    const tick = () => {
      const at = now();
      maxTickGapMs = Math.max(maxTickGapMs, at - lastTick);
      lastTick = at;
      const elapsed = at - t0;
      if (elapsed >= o.durationMs || senders.length === 0) {
        clearInterval(sending);
        sending = undefined;
        // Wait a little for the last acks, bounded.
        const waitStart = Date.now();
        const done = () => {
          if (inFlight > 0 && Date.now() - waitStart < o.drainMs) return setTimeout(done, 20);
          resolve({ sent, acked, ackErrors, skipped, inFlight, pace: { bunched, maxPerTick, maxTickGapMs: Math.round(maxTickGapMs * 100) / 100 } });
        };
        done();
        return;
      }
      const due = Math.floor((total * elapsed) / 1000) - sent - skipped;
      if (due > 1) bunched += due - 1;
      if (due > maxPerTick) maxPerTick = due;
      for (let k = 0; k < due; k++) {
        if (inFlight >= o.maxInFlight) {
          skipped++;
          continue;
        }
        const c = senders[rr++ % senders.length];
        const body = { room: c.room, payload: { t: now(), p: phase, text } };
        if (o.persistent) body.persistent = true;
        sent++;
        inFlight++;
        c.socket.emit('room:send', body, (res) => {
          inFlight--;
          if (res?.success) acked++;
          else {
            ackErrors++;
            noteError(`send: ${res?.error ?? JSON.stringify(res)}`);
          }
        });
      }
    };
    sending = setInterval(tick, o.tickMs);
  });
}

process.on('message', async (m) => {
  try {
    switch (m.cmd) {
      case 'prepare':
        await signTokens(m);
        return reply(m.id, {});
      case 'connect':
        return reply(m.id, await connect(m));
      case 'join':
        return reply(m.id, await join(m));
      case 'phase':
        phase = m.phase;
        hist = newHist();
        received = 0;
        stale = 0;
        return reply(m.id, {});
      case 'send':
        return reply(m.id, await send(m));
      case 'collect': {
        const cpu = process.cpuUsage();
        return reply(m.id, {
          hist,
          received,
          stale,
          errors,
          errorSamples: [...errorSamples],
          connected: clients.filter((c) => c.socket.connected).length,
          cpuMicros: cpu.user + cpu.system,
        });
      }
      case 'close':
        closing = true;
        if (sending) clearInterval(sending);
        for (const c of clients) c.socket.disconnect();
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
