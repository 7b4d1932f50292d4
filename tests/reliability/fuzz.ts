/**
 * Fuzz run: random and mutated Engine.IO / Socket.IO frames and event payloads at a running server
 * from raw `ws` connections and socket.io-client connections, bogus HTTP polling requests and
 * slow-loris handshakes, while a well-behaved SDK client keeps joining, sending and receiving.
 * The server must stay live, answer coded errors where it answers, leak no stack trace or secret,
 * and give back its memory once the connections are gone.
 *
 *   npm run fuzz                                  # 100k frames (FUZZ_FRAMES)
 *   npx tsx tests/reliability/fuzz.ts --frames=250000
 *   npx tsx tests/reliability/fuzz.ts --short     # the 10k-frame version that also runs in npm test
 */
import { connect as tcpConnect, type Socket as TcpSocket } from 'node:net';
import { ERROR_CODES, type RoomMessage } from '@intelgraph/websocket-protocol';
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import { WebSocketClient } from '../../packages/client/src/index.js';
import {
  flag,
  gcPreloadEnv,
  gcStats,
  isLive,
  isMain,
  logger,
  mb,
  mintToken,
  numberOption,
  Processes,
  sleep,
  stackLines,
  TEST_JWT_SECRET,
  type ServerProcess,
  type ServerStats,
} from './lib.js';

export interface FuzzOptions {
  frames: number;
  rawConnections: number;
  ioConnections: number;
  slowLoris: number;
  /** Frames per second at most, all senders together (0: as fast as they go). */
  ratePerSecond: number;
  /** Stops the run after this many seconds even if fewer frames were sent. */
  maxSeconds: number;
  verbose: boolean;
}

export interface FuzzReport {
  frames: number;
  byKind: Record<string, number>;
  seconds: number;
  /** Connections the server closed (garbage, oversized, invalid UTF-8...) and were reopened. */
  reconnects: number;
  /** Acks and system:error events by code. */
  answers: Record<string, number>;
  /** Answers whose error is not one of the protocol's codes. */
  uncoded: string[];
  /** Responses (ws, polling, HTTP) or server log lines holding a stack frame or a secret. */
  leaks: string[];
  httpStatus: Record<string, number>;
  liveChecks: number;
  liveFailures: number;
  goodRounds: number;
  goodFailures: string[];
  slowLorisClosed: number;
  slowLorisOpenAtEnd: number;
  memoryBefore: ServerStats['memory'];
  memoryAfter: ServerStats['memory'];
  connectionsAfter: number;
  serverExited: boolean;
}

export const SHORT_FUZZ: FuzzOptions = { frames: 10_000, rawConnections: 3, ioConnections: 2, slowLoris: 3, ratePerSecond: 400, maxSeconds: 60, verbose: false };

const API_KEY = 'fuzz-api-key-0123456789abcdef-do-not-leak';
const STATS_TOKEN = 'fuzz-stats-token-0123456789abcdef-do-not-leak';
const CODES = new Set<string>(ERROR_CODES);
const EVENTS = ['room:join', 'room:leave', 'room:send', 'room:history', 'query:rooms', 'query:presence', 'presence:status', 'presence:heartbeat', 'auth:refresh'];

// ---------------------------------------------------------------------------
// Random values

const rnd = (n: number): number => Math.floor(Math.random() * n);
const pick = <T>(items: readonly T[]): T => items[rnd(items.length)] as T;
const chance = (p: number): boolean => Math.random() < p;

function randomString(max = 40): string {
  const alphabets = ['abcxyz019:_.@/-', '\u0000\u0001\n\r\t"\\', 'ĂŸ€😀\u{10FFFF}\u200b', '<script>%s%n${}', ' '];
  let s = '';
  const len = rnd(max);
  for (let i = 0; i < len; i++) s += pick([...pick(alphabets)]);
  return s;
}

function randomRoom(): unknown {
  return chance(0.7) ? `fz-${rnd(20)}` : pick([randomString(), '', 'x'.repeat(129), 42, null, ['a'], { room: 'a' }, 'a b', '../etc']);
}

function randomValue(depth = 0): unknown {
  const r = rnd(depth > 3 ? 6 : 10);
  switch (r) {
    case 0:
      return null;
    case 1:
      return chance(0.5);
    case 2:
      return pick([0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, rnd(1e6)]);
    case 3:
      return randomString();
    case 4:
      return pick(['', 'x'.repeat(rnd(70_000)), '\ud800', '\udfff\ud800']);
    case 5:
      return pick<unknown>([{}, [], JSON.parse('{"__proto__":{"polluted":true}}'), { constructor: { prototype: { x: 1 } } }]);
    case 6:
    case 7:
      return Array.from({ length: rnd(5) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rnd(5); i > 0; i--) o[pick(['room', 'payload', 'since', 'limit', 'status', 'metadata', 'token', 'persistent', 'clientMessageId', randomString(8)])] = randomValue(depth + 1);
      return o;
    }
  }
}

/** An argument list for an event: mostly plausible, often wrong. */
function randomArgs(event: string): unknown[] {
  if (chance(0.2)) return Array.from({ length: rnd(4) }, () => randomValue());
  const body: Record<string, unknown> = { room: randomRoom() };
  if (event === 'room:send') {
    body.payload = chance(0.7) ? { n: rnd(1000), text: randomString() } : randomValue();
    if (chance(0.5)) body.persistent = chance(0.5) ? true : randomValue();
    if (chance(0.3)) body.clientMessageId = chance(0.5) ? `c${rnd(1e9)}` : randomValue();
  } else if (event === 'room:join' || event === 'room:history') {
    if (chance(0.4)) body.since = chance(0.5) ? `${rnd(1e9)}` : randomValue();
    if (chance(0.4)) body.limit = pick([1, 0, -5, 1e9, 2.5, '10', null]);
    if (chance(0.3)) body.metadata = randomValue();
  } else if (event === 'presence:status' || event === 'presence:heartbeat') {
    body.status = pick(['online', 'away', 'busy', 'offline', 'ONLINE', '', 7]);
    if (chance(0.3)) body.metadata = randomValue();
  } else if (event === 'auth:refresh') {
    body.token = pick(['', 'a.b.c', 'x'.repeat(20_000), 7, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']);
  }
  return [body];
}

function randomEvent(): string {
  return chance(0.85) ? pick(EVENTS) : pick(['connect', 'disconnect', 'error', 'newListener', '__proto__', 'room:message', randomString(20), 'x'.repeat(300)]);
}

function eventFrame(): string {
  const event = randomEvent();
  const ack = chance(0.7) ? String(rnd(1e6)) : '';
  const head = chance(0.05) ? pick([1, null, {}, ['room:join']]) : event;
  return `42${ack}${JSON.stringify([head, ...randomArgs(event)])}`;
}

function mutate(frame: string): string {
  const chars = [...frame];
  for (let i = 1 + rnd(4); i > 0; i--) {
    const at = rnd(chars.length + 1);
    switch (rnd(5)) {
      case 0:
        chars.splice(at, 1);
        break;
      case 1:
        chars.splice(at, 0, pick(['"', '[', ']', '{', '}', ',', ':', '\\', '\u0000', '9', 'é']));
        break;
      case 2:
        chars.splice(at, chars.length - at);
        break;
      case 3:
        chars[at] = String.fromCharCode(rnd(0x3000));
        break;
      default:
        chars.splice(0, 2, pick(['40', '41', '43', '44', '45', '46', '4', '2', '3', '6', '5', '7', '9', '']));
    }
  }
  return chars.join('');
}

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

/** Builds the whole send of one fuzz step: one or more ws messages. */
type Frame = { data: string | Buffer; binary?: boolean };
type Step = { kind: string; frames: Frame[] };

function nextStep(): Step {
  const r = Math.random();
  if (r < 0.55) return { kind: 'event', frames: [{ data: eventFrame() }] };
  if (r < 0.75) return { kind: 'mutated', frames: [{ data: mutate(eventFrame()) }] };
  if (r < 0.8) return { kind: 'engine.io', frames: [{ data: pick(['3', '5', '6', '2', '4', '8', '', '3probe', '2probe', '0', '4x', '40/admin,', '40/nope,{}', '41', '41/x,']) + (chance(0.3) ? randomString(10) : '') }] };
  if (r < 0.88) {
    const declared = rnd(3);
    const sent = chance(0.7) ? declared : rnd(4);
    const placeholder = chance(0.8) ? { _placeholder: true, num: chance(0.8) ? rnd(Math.max(1, declared)) : pick([-1, 99, 'a', null]) } : randomValue();
    const frames: Frame[] = [{ data: `45${declared}-${rnd(1000)}${JSON.stringify(['room:send', { room: `fz-${rnd(5)}`, payload: placeholder }])}` }];
    for (let i = 0; i < sent; i++) frames.push({ data: randomBytes(rnd(2000)), binary: true });
    if (chance(0.2)) frames.push({ data: randomBytes(rnd(100)), binary: true });
    return { kind: 'binary', frames };
  }
  if (r < 0.91) return { kind: 'invalid-utf8', frames: [{ data: Buffer.concat([Buffer.from('42["room:send",{"room":"fz-1","payload":"'), Buffer.from([0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"}]')]), binary: false }] };
  if (r < 0.94) return { kind: 'huge-string', frames: [{ data: `42${rnd(100)}["room:send",{"room":"fz-1","payload":"${'x'.repeat(pick([60_000, 70_000, 140_000, 200_000]))}"}]` }] };
  if (r < 0.97) {
    const depth = pick([40, 1000, 20_000, 60_000]);
    return { kind: 'deep-nesting', frames: [{ data: `42${rnd(100)}["room:send",{"room":"fz-1","payload":${'['.repeat(depth)}${']'.repeat(depth)}}]` }] };
  }
  if (r < 0.98) return { kind: 'oversized', frames: [{ data: `42["room:send",{"room":"fz-1","payload":"${'y'.repeat(1_000_000 + rnd(1_000_000))}"}]` }] };
  return { kind: 'random-bytes', frames: [{ data: chance(0.5) ? randomString(200) : randomBytes(rnd(500)), binary: chance(0.5) }] };
}

// ---------------------------------------------------------------------------

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = logger(opts.verbose);
  const procs = new Processes();
  const secrets = [TEST_JWT_SECRET, API_KEY, STATS_TOKEN];
  const report: FuzzReport = {
    frames: 0,
    byKind: {},
    seconds: 0,
    reconnects: 0,
    answers: {},
    uncoded: [],
    leaks: [],
    httpStatus: {},
    liveChecks: 0,
    liveFailures: 0,
    goodRounds: 0,
    goodFailures: [],
    slowLorisClosed: 0,
    slowLorisOpenAtEnd: 0,
    memoryBefore: { rssBytes: 0, heapUsedBytes: 0 },
    memoryAfter: { rssBytes: 0, heapUsedBytes: 0 },
    connectionsAfter: -1,
    serverExited: false,
  };
  const count = (kind: string, n = 1): void => {
    report.frames += n;
    report.byKind[kind] = (report.byKind[kind] ?? 0) + n;
  };
  const answer = (code: string): void => void (report.answers[code] = (report.answers[code] ?? 0) + 1);
  const inspect = (where: string, text: string): void => {
    if (stackLines(text).length > 0 && report.leaks.length < 20) report.leaks.push(`${where}: stack frame in ${JSON.stringify(text.slice(0, 300))}`);
    for (const s of secrets) if (text.includes(s) && report.leaks.length < 20) report.leaks.push(`${where}: secret in ${JSON.stringify(text.slice(0, 300))}`);
  };
  const checkAck = (where: string, body: unknown): void => {
    const b = (Array.isArray(body) ? body[0] : body) as { success?: unknown; error?: unknown } | undefined;
    if (b && typeof b === 'object' && b.success === false) {
      if (typeof b.error === 'string' && CODES.has(b.error)) answer(b.error);
      else if (report.uncoded.length < 20) report.uncoded.push(`${where}: ${JSON.stringify(b).slice(0, 200)}`);
    } else if (b && typeof b === 'object' && b.success === true) answer('success');
  };

  let server: ServerProcess | undefined;
  const closers: (() => void)[] = [];
  try {
    server = await procs.server({
      ...gcPreloadEnv(),
      API_KEY,
      STATS_TOKEN,
      LOG_LEVEL: 'info',
      RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0',
      RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0',
      MAX_PENDING_SESSIONS_PER_IP: '0',
      HANDSHAKE_TIMEOUT: '5000',
    });
    const srv = server;
    const url = srv.url;
    const wsUrl = `ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`;
    log(`server on ${srv.port}`);

    // The well-behaved pair, in a tenant of its own.
    const goodToken = (sub: string) => mintToken({ sub, tenantId: 'good' });
    const mk = async (sub: string) =>
      new WebSocketClient({ url, token: await goodToken(sub), tenantId: 'good', transports: ['websocket'], backoff: { minDelayMs: 100, maxDelayMs: 1000 } });
    const alice = await mk('alice');
    const bob = await mk('bob');
    closers.push(() => alice.disconnect(), () => bob.disconnect());
    await Promise.all([alice.connect(), bob.connect()]);
    const bobGot: RoomMessage[] = [];
    bob.on('room:message', (m) => bobGot.push(m));

    report.memoryBefore = (await gcStats(srv, STATS_TOKEN)).memory;
    log(`memory before: heap ${mb(report.memoryBefore.heapUsedBytes)}, rss ${mb(report.memoryBefore.rssBytes)}`);

    const started = Date.now();
    const deadline = started + opts.maxSeconds * 1000;
    const running = (): boolean => report.frames < opts.frames && Date.now() < deadline;
    /** Waits while the senders are ahead of ratePerSecond. */
    const pace = async (): Promise<void> => {
      if (opts.ratePerSecond <= 0) return;
      while (running() && report.frames > ((Date.now() - started) / 1000) * opts.ratePerSecond) await sleep(10);
    };

    // Liveness, every second.
    const liveLoop = (async () => {
      while (running()) {
        report.liveChecks++;
        if (!(await isLive(url))) report.liveFailures++;
        await sleep(1000);
      }
    })();

    // The well-behaved client: join a fresh room, send, receive, read history, leave; all must be exact.
    const goodLoop = (async () => {
      let round = 0;
      while (running()) {
        const room = `good-${round++}`;
        try {
          await Promise.all([alice.joinRoom(room), bob.joinRoom(room)]);
          const ids: string[] = [];
          for (let i = 0; i < 5; i++) ids.push(await alice.sendMessage(room, { round, i }, true));
          const until = Date.now() + 10_000;
          while (bobGot.filter((m) => m.room === room).length < 5 && Date.now() < until) await sleep(20);
          const got = bobGot.filter((m) => m.room === room);
          if (got.map((m) => m.id).join() !== ids.join()) report.goodFailures.push(`${room}: received ${got.length}/5 or out of order`);
          const hist = await bob.getHistory(room);
          if (hist.messages.map((m) => m.id).join() !== ids.join()) report.goodFailures.push(`${room}: history differs`);
          await Promise.all([alice.leaveRoom(room), bob.leaveRoom(room)]);
          report.goodRounds++;
        } catch (err) {
          report.goodFailures.push(`${room}: ${String(err)}`);
        }
        await sleep(100);
      }
    })();

    // Raw Engine.IO / Socket.IO connections.
    const rawWorker = async (w: number): Promise<void> => {
      let n = 0;
      while (running()) {
        const token = await mintToken({ sub: `fz-raw-${w}-${n++ % 5}`, tenantId: 'fuzz' });
        const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
        let closed = false;
        let ready = false;
        const garbageFirst = chance(0.15);
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (isBinary) return;
          const text = data.toString();
          inspect('ws', text);
          if (text.startsWith('0')) {
            if (garbageFirst) {
              const junk = nextStep();
              count(`pre-handshake ${junk.kind}`);
              for (const f of junk.frames) ws.send(f.data, { binary: f.binary === true });
            }
            ws.send(chance(0.05) ? mutate(`40${JSON.stringify({ token })}`) : `40${JSON.stringify({ token })}`);
          } else if (text === '2') ws.send('3');
          else if (text.startsWith('40')) ready = true;
          else if (text.startsWith('44')) answer('connect_error');
          else if (text.startsWith('43')) {
            try {
              checkAck('ws ack', JSON.parse(text.replace(/^43\d*/, '')));
            } catch {
              report.uncoded.push(`ws ack not JSON: ${text.slice(0, 100)}`);
            }
          } else if (text.startsWith('42["system:error"')) {
            try {
              const [, data] = JSON.parse(text.slice(2)) as [string, { code?: string }];
              if (data?.code && CODES.has(data.code)) answer(`system:error ${data.code}`);
              else report.uncoded.push(`system:error ${text.slice(0, 200)}`);
            } catch {
              report.uncoded.push(`system:error not JSON: ${text.slice(0, 100)}`);
            }
          }
        });
        ws.on('close', () => (closed = true));
        ws.on('error', () => (closed = true));
        const openUntil = Date.now() + 5000;
        while (!ready && !closed && Date.now() < openUntil) await sleep(5);
        if (!ready) {
          ws.terminate();
          report.reconnects++;
          continue;
        }
        // Up to a few thousand steps per connection, or until the server closes it.
        for (let i = 0; i < 3000 && !closed && running(); i++) {
          await pace();
          const step = nextStep();
          for (const f of step.frames) ws.send(f.data, { binary: f.binary === true });
          count(step.kind);
          if (i % 25 === 0 || ws.bufferedAmount > 1_000_000) {
            await sleep(1);
            while (ws.bufferedAmount > 1_000_000 && !closed) await sleep(5);
          }
        }
        ws.terminate();
        report.reconnects++;
      }
    };

    // socket.io-client connections emitting random events, with and without acks, binary included.
    const ioWorker = async (w: number): Promise<void> => {
      let n = 0;
      while (running()) {
        const token = await mintToken({ sub: `fz-io-${w}-${n++ % 5}`, tenantId: 'fuzz' });
        const socket: IoSocket = ioClient(url, { transports: chance(0.7) ? ['websocket'] : ['polling'], forceNew: true, reconnection: false, auth: { token }, timeout: 5000 });
        socket.onAny((event: string, data: unknown) => {
          if (event === 'system:error') {
            const code = (data as { code?: string } | undefined)?.code;
            if (code && CODES.has(code)) answer(`system:error ${code}`);
            else report.uncoded.push(`io system:error ${JSON.stringify(data).slice(0, 200)}`);
          }
        });
        const ok = await new Promise<boolean>((resolve) => {
          socket.once('connect', () => resolve(true));
          socket.once('connect_error', () => resolve(false));
        });
        if (!ok) {
          socket.disconnect();
          continue;
        }
        const inflight = new Set<Promise<unknown>>();
        for (let i = 0; i < 500 && socket.connected && running(); i++) {
          await pace();
          // socket.io-client refuses its reserved names itself: those go through the raw connections.
          let event = randomEvent();
          if (['connect', 'disconnect', 'connect_error', 'disconnecting', 'newListener', 'removeListener'].includes(event)) event = 'room:send';
          const args = randomArgs(event);
          if (chance(0.1)) args.push(chance(0.5) ? randomBytes(rnd(3000)) : { room: `fz-${rnd(5)}`, payload: { blob: randomBytes(rnd(100)) } });
          count(`socket.io ${event.startsWith('room:') || event.startsWith('query:') || event.startsWith('presence:') || event === 'auth:refresh' ? 'event' : 'unknown-event'}`);
          if (chance(0.6)) {
            const p = socket
              .timeout(3000)
              .emitWithAck(event, ...args)
              .then((ack: unknown) => checkAck('io ack', ack))
              .catch(() => {});
            inflight.add(p);
            void p.finally(() => inflight.delete(p));
          } else socket.emit(event, ...args);
          while (inflight.size > 50) await sleep(2);
          if (i % 20 === 0) await sleep(1);
        }
        await Promise.race([Promise.all(inflight), sleep(3500)]);
        socket.disconnect();
      }
    };

    // Bogus HTTP and polling requests.
    const httpWorker = async (): Promise<void> => {
      while (running()) {
        const base = `${url}/socket.io/`;
        const sid = chance(0.5) ? 'AAAAAAAAAAAAAAAAAAAA' : randomString(20);
        const choices: [string, RequestInit][] = [
          [`${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { method: 'GET' }],
          [`${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { method: 'POST', body: randomString(300) }],
          [`${base}?EIO=3&transport=polling`, { method: 'GET' }],
          [`${base}?EIO=${encodeURIComponent(randomString(3))}&transport=${encodeURIComponent(randomString(6))}`, { method: 'GET' }],
          [`${base}?EIO=4&transport=polling`, { method: pick(['PUT', 'DELETE', 'PATCH', 'POST']), body: 'x' }],
          [`${base}?EIO=4&transport=polling`, { method: 'GET', headers: { origin: 'https://evil.example' } }],
          [`${base}?EIO=4&transport=websocket`, { method: 'GET' }],
          [`${url}/${pick(['stats', 'api/publish', 'metrics', 'health', 'nope', '%ff', '..%2f..%2fetc/passwd'])}`, { method: pick(['GET', 'POST', 'PUT']), headers: { authorization: pick(['Bearer x', 'Basic YTpi', '']) } }],
          [`${url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: pick(['{', '[]', JSON.stringify({ tenantId: 'fuzz', room: randomRoom(), payload: randomValue() }), 'null', '"x"']) }],
        ];
        // A valid polling handshake followed by garbage for its sid.
        if (chance(0.3)) {
          try {
            const res = await fetch(`${base}?EIO=4&transport=polling`);
            const text = await res.text();
            inspect('polling', text);
            const m = /"sid":"([^"]+)"/.exec(text);
            if (m) choices.push([`${base}?EIO=4&transport=polling&sid=${m[1]}`, { method: 'POST', body: pick([mutate(eventFrame()), '40{"token":"x"}\u001e42["room:join"]', 'x'.repeat(200_000), '\u001e\u001e\u001e', '1']) }]);
            count('polling handshake');
          } catch {
            // counted below
          }
        }
        const [target, init] = choices.length > 9 && chance(0.7) ? (choices[choices.length - 1] as [string, RequestInit]) : pick(choices);
        try {
          const res = await fetch(target, { ...init, signal: AbortSignal.timeout(5000) });
          const text = await res.text();
          inspect(`http ${init.method} ${target.slice(url.length)}`, `${JSON.stringify([...res.headers])} ${text}`);
          report.httpStatus[res.status] = (report.httpStatus[res.status] ?? 0) + 1;
        } catch {
          report.httpStatus.error = (report.httpStatus.error ?? 0) + 1;
        }
        count('http');
      }
    };

    // Slow-loris: an upgrade request, one header byte at a time.
    const lorises: { socket: TcpSocket; closedAt?: number }[] = [];
    for (let i = 0; i < opts.slowLoris; i++) {
      const socket = tcpConnect({ host: '127.0.0.1', port: srv.port });
      const entry: { socket: TcpSocket; closedAt?: number } = { socket };
      socket.on('close', () => (entry.closedAt = Date.now()));
      socket.on('error', () => {});
      socket.on('data', (d) => inspect('slow-loris', d.toString()));
      lorises.push(entry);
      const request = `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Padding: ${'p'.repeat(4000)}\r\n\r\n`;
      void (async () => {
        for (const ch of request) {
          if (entry.closedAt !== undefined || !running()) return;
          socket.write(ch);
          count('slow-loris byte');
          await sleep(500);
        }
      })();
    }
    closers.push(() => lorises.forEach((l) => l.socket.destroy()));

    await Promise.all([
      ...Array.from({ length: opts.rawConnections }, (_, w) => rawWorker(w)),
      ...Array.from({ length: opts.ioConnections }, (_, w) => ioWorker(w)),
      httpWorker(),
      liveLoop,
      goodLoop,
    ]);
    report.seconds = Math.round((Date.now() - started) / 1000);
    report.slowLorisClosed = lorises.filter((l) => l.closedAt !== undefined).length;
    report.slowLorisOpenAtEnd = lorises.length - report.slowLorisClosed;
    for (const l of lorises) l.socket.destroy();
    log(`${report.frames} frames in ${report.seconds} s`);

    // After the fuzz connections are gone: memory back to what it was.
    const untilQuiet = Date.now() + 15_000;
    let after = await gcStats(srv, STATS_TOKEN);
    while (after.connections.total > 2 && Date.now() < untilQuiet) {
      await sleep(1000);
      after = await gcStats(srv, STATS_TOKEN);
    }
    report.connectionsAfter = after.connections.total;
    report.memoryAfter = after.memory;
    log(`memory after: heap ${mb(after.memory.heapUsedBytes)}, rss ${mb(after.memory.rssBytes)}`);

    report.serverExited = srv.exitCode() !== null;
    const output = srv.output();
    for (const line of stackLines(output).slice(0, 5)) report.leaks.push(`server log: ${line.trim()}`);
    for (const s of secrets) if (output.includes(s)) report.leaks.push('server log: holds a secret');
    return report;
  } finally {
    for (const c of closers) c();
    await procs.stopAll();
  }
}

export function formatFuzz(r: FuzzReport): string {
  return [
    `fuzz: ${r.frames} frames in ${r.seconds} s (${r.reconnects} connections closed and reopened)`,
    `  by kind               ${JSON.stringify(r.byKind)}`,
    `  answers               ${JSON.stringify(r.answers)}`,
    `  uncoded answers       ${r.uncoded.length}${r.uncoded.length ? ` ${r.uncoded.slice(0, 5).join(' | ')}` : ''}`,
    `  leaks                 ${r.leaks.length}${r.leaks.length ? ` ${r.leaks.slice(0, 5).join(' | ')}` : ''}`,
    `  http statuses         ${JSON.stringify(r.httpStatus)}`,
    `  /health/live          ${r.liveChecks - r.liveFailures}/${r.liveChecks} ok`,
    `  well-behaved rounds   ${r.goodRounds} ok, ${r.goodFailures.length} failed${r.goodFailures.length ? ` ${r.goodFailures.slice(0, 3).join(' | ')}` : ''}`,
    `  slow-loris            ${r.slowLorisClosed} closed by the server, ${r.slowLorisOpenAtEnd} still open at the end`,
    `  memory before (GC)    heap ${mb(r.memoryBefore.heapUsedBytes)}, rss ${mb(r.memoryBefore.rssBytes)}`,
    `  memory after (GC)     heap ${mb(r.memoryAfter.heapUsedBytes)}, rss ${mb(r.memoryAfter.rssBytes)} (${r.connectionsAfter} connections left)`,
  ].join('\n');
}

/** The heap bound the fuzz run asserts: what the server retains after the run stays near what it had before. */
export function fuzzHeapOk(r: FuzzReport): boolean {
  return r.memoryAfter.heapUsedBytes <= r.memoryBefore.heapUsedBytes * 1.5 + 16 * 1024 * 1024;
}

if (isMain(import.meta.url)) {
  const short = flag('short');
  const opts: FuzzOptions = {
    frames: numberOption('frames', 'FUZZ_FRAMES', short ? SHORT_FUZZ.frames : 100_000),
    rawConnections: numberOption('raw', 'FUZZ_RAW_CONNECTIONS', short ? SHORT_FUZZ.rawConnections : 4),
    ioConnections: numberOption('io', 'FUZZ_IO_CONNECTIONS', short ? SHORT_FUZZ.ioConnections : 3),
    slowLoris: numberOption('slow-loris', 'FUZZ_SLOW_LORIS', short ? SHORT_FUZZ.slowLoris : 10),
    ratePerSecond: numberOption('rate', 'FUZZ_RATE', short ? SHORT_FUZZ.ratePerSecond : 1000),
    maxSeconds: numberOption('max-seconds', 'FUZZ_MAX_SECONDS', short ? SHORT_FUZZ.maxSeconds : 900),
    verbose: true,
  };
  const r = await runFuzz(opts);
  process.stdout.write(`${formatFuzz(r)}\n`);
  const ok =
    r.frames >= opts.frames &&
    r.liveFailures === 0 &&
    r.goodFailures.length === 0 &&
    r.uncoded.length === 0 &&
    r.leaks.length === 0 &&
    !r.serverExited &&
    fuzzHeapOk(r);
  process.stdout.write(ok ? 'PASS\n' : 'FAIL\n');
  process.exit(ok ? 0 : 1);
}
