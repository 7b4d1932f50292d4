/**
 * Chaos run: three server instances on one Redis with AOF persistence, SDK clients sending persistent
 * messages continuously while instances are killed (-9) and restarted, Redis is killed and restarted
 * empty (its files deleted), Redis is killed and restarted from its files, and all instances are
 * restarted one by one (SIGTERM). At the end every client must hold every acknowledged message of its rooms
 * exactly once and in id order, and presence must show every connected member and no ghost.
 *
 *   npm run chaos                        # full length (CHAOS_DURATION_S, default 300 s of chaos)
 *   npx tsx tests/reliability/chaos.ts --duration=600 --clients=30
 *   npx tsx tests/reliability/chaos.ts --short   # the ~75 s version that also runs in npm test
 */
import { compareMessageIds, type RoomMessage } from '@intelgraph/websocket-protocol';
import { WebSocketClient } from '../../packages/client/src/index.js';
import { isMain, logger, mintToken, numberOption, Processes, sleep, waitFor, flag, type ServerProcess } from './lib.js';

export interface ChaosOptions {
  /** Seconds of chaos (sending and faults); the faults repeat in cycles until it is over. */
  durationS: number;
  clients: number;
  rooms: number;
  /** Milliseconds between two sends of one client. */
  sendIntervalMs: number;
  /** Seconds between two faults. */
  faultGapS: number;
  /** Redis `appendfsync`: `always` makes every acknowledged write survive kill -9 of Redis; `everysec` may lose the last second. */
  fsync: 'always' | 'everysec';
  verbose: boolean;
}

export interface ChaosReport {
  durationS: number;
  fsync: string;
  clients: number;
  acknowledged: number;
  /** Sends the server refused (e.g. INTERNAL while Redis was down): not acknowledged, not expected anywhere. */
  refused: Record<string, number>;
  /** Deliveries the clients should have had: each acknowledged message times the other members of its room. */
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Delivered messages whose send was never acknowledged (stored, but the ack was lost): allowed. */
  unacknowledgedDelivered: number;
  recoveries: number;
  maxRecoveryMs: number;
  recoveryFailed: number;
  clientErrors: Record<string, number>;
  ghosts: string[];
  missingPresence: string[];
  notConnectedAtEnd: number;
  faults: string[];
  /** A few lost or duplicated deliveries with context, for diagnosis. */
  samples: string[];
}

export const SHORT_CHAOS: ChaosOptions = { durationS: 45, clients: 9, rooms: 3, sendIntervalMs: 150, faultGapS: 6, fsync: 'everysec', verbose: false };

interface Sent {
  id: string;
  room: string;
  from: string;
  seq: number;
  /** Milliseconds since the start of the chaos when the ack arrived. */
  at: number;
}

interface Member {
  user: string;
  client: WebSocketClient;
  rooms: string[];
  received: Map<string, RoomMessage[]>;
  states: string[];
  downSince: number | undefined;
}

const TENANT = 'acme';
const HEARTBEAT_TIMEOUT_MS = 5000;

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = logger(opts.verbose);
  const procs = new Processes();
  const members: Member[] = [];
  const observers: WebSocketClient[] = [];
  try {
    const redis = await procs.redis(true, ['--appendfsync', opts.fsync]);
    log(`redis (appendonly, appendfsync ${opts.fsync}) on ${redis.port}`);
    const env = {
      REDIS_URL: redis.url,
      HEARTBEAT_INTERVAL: '2000',
      HEARTBEAT_TIMEOUT: String(HEARTBEAT_TIMEOUT_MS),
      SHUTDOWN_TIMEOUT: '3000',
      RECONNECT_JITTER: '1000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '0',
      RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0',
      RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '0',
      RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0',
      RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0',
      MAX_PENDING_SESSIONS_PER_IP: '0',
    };
    const servers: ServerProcess[] = [];
    for (let i = 0; i < 3; i++) servers.push(await procs.server(env));
    log(`servers on ${servers.map((s) => s.port).join(', ')}`);
    const urls = servers.map((s) => s.url);
    const rooms = Array.from({ length: opts.rooms }, (_, i) => `chaos-${i}`);

    const recoveries: number[] = [];
    const refused: Record<string, number> = {};
    const clientErrors: Record<string, number> = {};
    let recoveryFailed = 0;

    for (let i = 0; i < opts.clients; i++) {
      const user = `u${i}`;
      // Spread over the instances: each client starts on its own one and rotates through the others.
      const own = [0, 1, 2].map((k) => urls[(i + k) % 3] as string);
      const client = new WebSocketClient({
        urls: own,
        token: await mintToken({ sub: user, tenantId: TENANT, ttlSeconds: 24 * 3600 }),
        tenantId: TENANT,
        transports: ['websocket'],
        backoff: { minDelayMs: 100, maxDelayMs: 2000 },
        ackTimeoutMs: 5000,
        connectTimeoutMs: 5000,
      });
      const m: Member = {
        user,
        client,
        rooms: opts.rooms === 1 ? [rooms[0] as string] : [rooms[i % opts.rooms] as string, rooms[(i + 1) % opts.rooms] as string],
        received: new Map(),
        states: [],
        downSince: undefined,
      };
      for (const r of m.rooms) m.received.set(r, []);
      client.on('room:message', (msg) => m.received.get(msg.room)?.push(msg));
      client.on('status:change', (state) => {
        m.states.push(`${Date.now()}:${state}`);
        if (state === 'reconnecting' && m.downSince === undefined) m.downSince = Date.now();
        if (state === 'connected' && m.downSince !== undefined) {
          recoveries.push(Date.now() - m.downSince);
          m.downSince = undefined;
        }
      });
      client.on('room:recovery-failed', () => recoveryFailed++);
      client.on('error', (err) => (clientErrors[err.code] = (clientErrors[err.code] ?? 0) + 1));
      members.push(m);
    }
    await Promise.all(members.map(async (m) => Promise.all(m.rooms.map((r) => m.client.joinRoom(r)))));
    log(`${members.length} clients joined ${rooms.length} rooms`);

    const started = Date.now();
    // Senders: each client sends persistent messages to its rooms in turn until told to stop.
    const acked: Sent[] = [];
    const pending = new Set<Promise<void>>();
    let sending = true;
    const senders = members.map(async (m) => {
      let seq = 0;
      await sleep(Math.random() * opts.sendIntervalMs);
      while (sending) {
        if (m.client.queueSize < 200) {
          const s = seq++;
          const room = m.rooms[s % m.rooms.length] as string;
          const p = m.client
            .sendMessage(room, { from: m.user, seq: s }, true)
            .then((id) => void acked.push({ id, room, from: m.user, seq: s, at: Date.now() - started }))
            .catch((err: { code?: string }) => void (refused[err.code ?? 'unknown'] = (refused[err.code ?? 'unknown'] ?? 0) + 1));
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        await sleep(opts.sendIntervalMs);
      }
    });

    // Faults, in cycles, until the duration is over.
    const faults: string[] = [];
    const endAt = started + opts.durationS * 1000;
    const fault = (what: string): void => {
      faults.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}`);
      log(what);
    };
    const gap = async (): Promise<boolean> => {
      await sleep(Math.min(opts.faultGapS * 1000, Math.max(0, endAt - Date.now())));
      return Date.now() < endAt;
    };
    while (await gap()) {
      const victim = Math.floor(Math.random() * servers.length);
      const s = servers[victim] as ServerProcess;
      fault(`kill -9 instance ${victim} (port ${s.port})`);
      await s.kill();
      await sleep(1500);
      await s.start();
      fault(`instance ${victim} restarted`);
      if (!(await gap())) break;
      // Nobody reconnects for this one: presence and connection counts come back from the instances' maintenance.
      fault(`kill -9 redis (port ${redis.port}), its files deleted`);
      await redis.kill();
      await sleep(1500);
      await redis.restartEmpty();
      fault('redis restarted empty');
      if (!(await gap())) break;
      fault(`kill -9 redis (port ${redis.port})`);
      await redis.kill();
      await sleep(1500);
      await redis.restart();
      fault('redis restarted from its append-only file');
      if (!(await gap())) break;
      fault('rolling restart of all instances (SIGTERM, wait for exit, start)');
      for (const [k, srv] of servers.entries()) {
        await srv.stop();
        await srv.start();
        fault(`instance ${k} restarted`);
        await sleep(1000);
      }
    }
    sending = false;
    await Promise.all(senders);
    log(`sending stopped: ${acked.length} acknowledged, ${pending.size} still pending`);
    await waitFor(() => pending.size === 0, 60_000);

    // Quiet period: every client back and caught up.
    const expectedFor = (m: Member, room: string): Sent[] =>
      acked.filter((a) => a.room === room && a.from !== m.user).sort((a, b) => compareMessageIds(a.id, b.id));
    const caughtUp = (): boolean =>
      members.every(
        (m) =>
          m.client.connected &&
          m.rooms.every((r) => {
            const want = expectedFor(m, r);
            const last = want[want.length - 1];
            const have = m.client.lastMessageId(r);
            return last === undefined || (have !== undefined && compareMessageIds(have, last.id) >= 0);
          }),
      );
    const settled = await waitFor(caughtUp, 60_000, 250);
    log(settled ? 'every client caught up' : 'timed out waiting for every client to catch up');
    await sleep(2000);

    // Presence from every instance: only the connected users, no ghosts.
    let ghosts: string[] = [];
    let missingPresence: string[] = [];
    for (const [k, srv] of servers.entries()) {
      const observer = new WebSocketClient({
        url: srv.url,
        token: await mintToken({ sub: `observer-${k}`, tenantId: TENANT }),
        tenantId: TENANT,
        transports: ['websocket'],
        heartbeatIntervalMs: 0,
      });
      observers.push(observer);
      for (const r of rooms) await observer.joinRoom(r);
    }
    const checkPresence = async (): Promise<boolean> => {
      ghosts = [];
      missingPresence = [];
      for (const [k, observer] of observers.entries()) {
        for (const r of rooms) {
          const present = new Set((await observer.queryPresence(r)).map((p) => p.userId).filter((u) => !u.startsWith('observer-')));
          const expected = new Set(members.filter((m) => m.rooms.includes(r) && m.client.connected).map((m) => m.user));
          for (const u of present) if (!expected.has(u)) ghosts.push(`instance ${k} room ${r}: ${u}`);
          for (const u of expected) if (!present.has(u)) missingPresence.push(`instance ${k} room ${r}: ${u}`);
        }
      }
      return ghosts.length === 0 && missingPresence.length === 0;
    };
    // An entry of a connection whose instance died expires within HEARTBEAT_TIMEOUT plus a sweep (10 s).
    await waitFor(checkPresence, HEARTBEAT_TIMEOUT_MS + 20_000, 1000);

    // The verdict.
    const ackedIds = new Set(acked.map((a) => a.id));
    let expectedDeliveries = 0;
    let delivered = 0;
    let lost = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    let unacknowledgedDelivered = 0;
    const samples: string[] = [];
    for (const m of members) {
      for (const r of m.rooms) {
        const got = m.received.get(r) ?? [];
        const want = expectedFor(m, r);
        expectedDeliveries += want.length;
        delivered += got.length;
        const ids = new Set<string>();
        const keys = new Map<string, string>();
        for (const [i, msg] of got.entries()) {
          if (ids.has(msg.id)) {
            duplicated++;
            if (samples.length < 10) samples.push(`duplicate id ${msg.id} at ${m.user} in ${r}`);
          }
          ids.add(msg.id);
          const p = msg.payload as { from?: string; seq?: number } | null;
          const key = `${p?.from}:${p?.seq}`;
          const prior = keys.get(key);
          if (prior !== undefined && prior !== msg.id) {
            duplicated++;
            if (samples.length < 10) samples.push(`message ${key} delivered twice at ${m.user} in ${r} as ${prior} and ${msg.id}`);
          }
          keys.set(key, msg.id);
          const prev = got[i - 1];
          if (prev !== undefined && compareMessageIds(prev.id, msg.id) >= 0) outOfOrder++;
          if (!ackedIds.has(msg.id)) unacknowledgedDelivered++;
        }
        for (const w of want) {
          if (!ids.has(w.id)) {
            lost++;
            if (samples.length < 10) {
              const members_ = members.filter((o) => o.rooms.includes(r) && o.user !== w.from);
              const missedBy = members_.filter((o) => !(o.received.get(r) ?? []).some((x) => x.id === w.id)).length;
              samples.push(`lost ${w.id} (${w.from}:${w.seq}, acked at ${(w.at / 1000).toFixed(1)} s) at ${m.user} in ${r}: missed by ${missedBy}/${members_.length} members`);
            }
          }
        }
      }
    }
    return {
      durationS: opts.durationS,
      fsync: opts.fsync,
      clients: opts.clients,
      acknowledged: acked.length,
      refused,
      expectedDeliveries,
      delivered,
      lost,
      duplicated,
      outOfOrder,
      unacknowledgedDelivered,
      recoveries: recoveries.length,
      maxRecoveryMs: recoveries.length > 0 ? Math.max(...recoveries) : 0,
      recoveryFailed,
      clientErrors,
      ghosts,
      missingPresence,
      notConnectedAtEnd: members.filter((m) => !m.client.connected).length,
      faults,
      samples,
    };
  } finally {
    for (const c of [...observers, ...members.map((m) => m.client)]) c.disconnect();
    await procs.stopAll();
  }
}

export function formatChaos(r: ChaosReport): string {
  return [
    `chaos: ${r.durationS} s, ${r.clients} clients, ${r.faults.length} fault steps, redis appendfsync ${r.fsync}`,
    `  messages acknowledged   ${r.acknowledged}`,
    `  refused (not acked)     ${JSON.stringify(r.refused)}`,
    `  expected deliveries     ${r.expectedDeliveries}`,
    `  delivered               ${r.delivered}`,
    `  lost                    ${r.lost}`,
    `  duplicated              ${r.duplicated}`,
    `  out-of-order            ${r.outOfOrder}`,
    `  delivered, never acked  ${r.unacknowledgedDelivered}`,
    `  recoveries              ${r.recoveries} (max ${r.maxRecoveryMs} ms from disconnect to re-joined)`,
    `  recovery-failed events  ${r.recoveryFailed}`,
    `  client errors           ${JSON.stringify(r.clientErrors)}`,
    `  presence ghosts         ${r.ghosts.length}${r.ghosts.length ? ` ${r.ghosts.slice(0, 5).join('; ')}` : ''}`,
    `  presence missing        ${r.missingPresence.length}${r.missingPresence.length ? ` ${r.missingPresence.slice(0, 5).join('; ')}` : ''}`,
    `  not connected at end    ${r.notConnectedAtEnd}`,
    ...r.samples.map((s) => `  ! ${s}`),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  const short = flag('short');
  const opts: ChaosOptions = {
    ...SHORT_CHAOS,
    durationS: numberOption('duration', 'CHAOS_DURATION_S', short ? SHORT_CHAOS.durationS : 300),
    clients: numberOption('clients', 'CHAOS_CLIENTS', short ? SHORT_CHAOS.clients : 24),
    rooms: numberOption('rooms', 'CHAOS_ROOMS', 3),
    sendIntervalMs: numberOption('interval', 'CHAOS_SEND_INTERVAL_MS', short ? SHORT_CHAOS.sendIntervalMs : 100),
    faultGapS: numberOption('gap', 'CHAOS_FAULT_GAP_S', short ? SHORT_CHAOS.faultGapS : 10),
    fsync: process.argv.includes('--fsync=always') || process.env.CHAOS_REDIS_FSYNC === 'always' ? 'always' : 'everysec',
    verbose: true,
  };
  const report = await runChaos(opts);
  process.stdout.write(`${formatChaos(report)}\n  faults: ${report.faults.join(' | ')}\n`);
  const ok = report.lost === 0 && report.duplicated === 0 && report.outOfOrder === 0 && report.ghosts.length === 0;
  process.stdout.write(ok ? 'PASS\n' : 'FAIL\n');
  process.exit(ok ? 0 : 1);
}
