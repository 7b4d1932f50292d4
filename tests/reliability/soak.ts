/**
 * Soak run: a fixed population of SDK clients churning (connect, join, send, leave, disconnect, again)
 * against one server for a long time. The server's heap after a full GC is sampled from /stats: it
 * must stay within ±10 % of its value after the warm-up.
 *
 * The server is started with `NODE_OPTIONS="--expose-gc --require tests/reliability/gc-on-signal.cjs"`:
 * the preloaded file runs gc() on SIGUSR2, so the run signals, then reads /stats. The server itself
 * has no GC hook.
 *
 *   npm run soak                                   # 30 minutes (SOAK_DURATION_S=1800)
 *   npx tsx tests/reliability/soak.ts --duration=600 --sample=60
 *   npx tsx tests/reliability/soak.ts --short      # the ~60 s version that also runs in npm test
 */
import { WebSocketClient } from '../../packages/client/src/index.js';
import { flag, gcPreloadEnv, gcStats, isMain, logger, mb, mintToken, numberOption, Processes, sleep, type ServerStats } from './lib.js';

export interface SoakOptions {
  durationS: number;
  warmupS: number;
  sampleEveryS: number;
  population: number;
  rooms: number;
  /** Allowed deviation of every post-warm-up sample from the baseline, as a fraction (0.1 = ±10 %). */
  tolerance: number;
  /** Server settings that bound what the server keeps by design (history, duplicate window). */
  serverEnv: Record<string, string>;
  verbose: boolean;
}

export interface SoakSample {
  atS: number;
  heapUsedBytes: number;
  rssBytes: number;
  connections: number;
}

export interface SoakReport {
  durationS: number;
  population: number;
  cycles: number;
  messagesSent: number;
  messagesReceived: number;
  errors: Record<string, number>;
  baseline: SoakSample | undefined;
  samples: SoakSample[];
  /** Largest deviation of a sample after the baseline from it, as a fraction. */
  maxDeviation: number;
  connectionsAfter: number;
  memoryAfter: ServerStats['memory'];
  pass: boolean;
}

export const SHORT_SOAK: SoakOptions = {
  durationS: 60,
  warmupS: 20,
  sampleEveryS: 10,
  population: 20,
  rooms: 8,
  tolerance: 0.25,
  serverEnv: { DEDUPE_WINDOW: '5', PERSISTENCE_MAX_MESSAGES: '100' },
  verbose: false,
};

export const FULL_SOAK: SoakOptions = {
  durationS: 1800,
  warmupS: 120,
  sampleEveryS: 60,
  population: 50,
  rooms: 20,
  tolerance: 0.1,
  serverEnv: { DEDUPE_WINDOW: '60', PERSISTENCE_MAX_MESSAGES: '500' },
  verbose: true,
};

const TENANT = 'soak';

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = logger(opts.verbose);
  const procs = new Processes();
  const live = new Set<WebSocketClient>();
  const errors: Record<string, number> = {};
  const error = (code: string): void => void (errors[code] = (errors[code] ?? 0) + 1);
  try {
    const server = await procs.server({
      ...gcPreloadEnv(),
      ...opts.serverEnv,
      RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '0',
      RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '0',
      MAX_PENDING_SESSIONS_PER_IP: '0',
      HEARTBEAT_INTERVAL: '5000',
      HEARTBEAT_TIMEOUT: '15000',
    });
    log(`server on ${server.port}`);
    const started = Date.now();
    const endAt = started + opts.durationS * 1000;
    let cycles = 0;
    let messagesSent = 0;
    let messagesReceived = 0;

    // One slot of the population: a user that comes and goes, over and over.
    const slot = async (k: number): Promise<void> => {
      const token = await mintToken({ sub: `s${k}`, tenantId: TENANT, ttlSeconds: opts.durationS + 3600 });
      await sleep(Math.random() * 2000);
      while (Date.now() < endAt) {
        const client = new WebSocketClient({
          url: server.url,
          token,
          tenantId: TENANT,
          transports: Math.random() < 0.8 ? ['websocket'] : ['polling'],
          autoConnect: false,
          ackTimeoutMs: 5000,
          backoff: { minDelayMs: 100, maxDelayMs: 1000 },
        });
        live.add(client);
        client.on('room:message', () => messagesReceived++);
        try {
          await client.connect();
          const rooms = new Set<string>();
          for (let i = 1 + Math.floor(Math.random() * 3); i > 0; i--) rooms.add(`room-${Math.floor(Math.random() * opts.rooms)}`);
          for (const r of rooms) await client.joinRoom(r, Math.random() < 0.3 ? { k } : undefined);
          if (Math.random() < 0.3) await client.setPresenceStatus('busy', { note: 'soak' });
          const list = [...rooms];
          for (let i = Math.floor(Math.random() * 10); i > 0; i--) {
            await client.sendMessage(list[i % list.length] as string, { k, i, text: 'x'.repeat(Math.floor(Math.random() * 500)) }, Math.random() < 0.5);
            messagesSent++;
            await sleep(50 + Math.random() * 200);
          }
          if (Math.random() < 0.3) await client.getHistory(list[0] as string, { limit: 20 });
          if (Math.random() < 0.5) await client.leaveRoom(list[0] as string);
          await sleep(Math.random() * 2000);
        } catch (err) {
          error((err as { code?: string }).code ?? 'unknown');
        } finally {
          client.disconnect();
          live.delete(client);
          cycles++;
        }
      }
    };
    const slots = Array.from({ length: opts.population }, (_, k) => slot(k));

    const samples: SoakSample[] = [];
    let baseline: SoakSample | undefined;
    // A sample is the least of three forced-GC readings a second apart: what 50 busy clients have in
    // flight at the instant of one reading (messages being fanned out, acks pending) is not retained memory.
    const sample = async (): Promise<SoakSample> => {
      let s = await gcStats(server);
      for (let i = 0; i < 2; i++) {
        await sleep(1000);
        const again = await gcStats(server);
        if (again.memory.heapUsedBytes < s.memory.heapUsedBytes) s = again;
      }
      const entry = { atS: Math.round((Date.now() - started) / 1000), heapUsedBytes: s.memory.heapUsedBytes, rssBytes: s.memory.rssBytes, connections: s.connections.total };
      samples.push(entry);
      log(`sample: heap ${mb(entry.heapUsedBytes)}, rss ${mb(entry.rssBytes)}, ${entry.connections} connections, ${cycles} cycles, ${messagesSent} sent`);
      return entry;
    };
    await sleep(Math.min(opts.warmupS * 1000, Math.max(0, endAt - Date.now())));
    baseline = await sample();
    log(`baseline after ${opts.warmupS} s of warm-up: heap ${mb(baseline.heapUsedBytes)}`);
    let next = Date.now() + opts.sampleEveryS * 1000;
    while (next <= endAt) {
      await sleep(Math.max(0, next - Date.now()));
      await sample();
      next += opts.sampleEveryS * 1000;
    }
    await Promise.all(slots);
    await sleep(2000);
    const after = await gcStats(server);
    const base = baseline;
    const maxDeviation = samples.filter((s) => s !== base).reduce((max, s) => Math.max(max, Math.abs(s.heapUsedBytes - base.heapUsedBytes) / base.heapUsedBytes), 0);
    return {
      durationS: Math.round((Date.now() - started) / 1000),
      population: opts.population,
      cycles,
      messagesSent,
      messagesReceived,
      errors,
      baseline,
      samples,
      maxDeviation,
      connectionsAfter: after.connections.total,
      memoryAfter: after.memory,
      pass: maxDeviation <= opts.tolerance && after.connections.total === 0,
    };
  } finally {
    for (const c of live) c.disconnect();
    await procs.stopAll();
  }
}

export function formatSoak(r: SoakReport, tolerance: number): string {
  return [
    `soak: ${r.durationS} s, population ${r.population}, ${r.cycles} connect/disconnect cycles`,
    `  messages sent / received  ${r.messagesSent} / ${r.messagesReceived}`,
    `  errors                    ${JSON.stringify(r.errors)}`,
    `  baseline heap (after GC)  ${r.baseline ? mb(r.baseline.heapUsedBytes) : '-'} at ${r.baseline?.atS ?? '-'} s`,
    ...r.samples.map((s) => `    ${String(s.atS).padStart(5)} s  heap ${mb(s.heapUsedBytes).padStart(9)}  rss ${mb(s.rssBytes).padStart(9)}  ${s.connections} connections`),
    `  max deviation             ${(r.maxDeviation * 100).toFixed(1)} % (allowed ±${(tolerance * 100).toFixed(0)} %)`,
    `  after the run             ${r.connectionsAfter} connections, heap ${mb(r.memoryAfter.heapUsedBytes)}, rss ${mb(r.memoryAfter.rssBytes)}`,
  ].join('\n');
}

if (isMain(import.meta.url)) {
  const base = flag('short') ? SHORT_SOAK : FULL_SOAK;
  const opts: SoakOptions = {
    ...base,
    durationS: numberOption('duration', 'SOAK_DURATION_S', base.durationS),
    warmupS: numberOption('warmup', 'SOAK_WARMUP_S', base.warmupS),
    sampleEveryS: numberOption('sample', 'SOAK_SAMPLE_S', base.sampleEveryS),
    population: numberOption('population', 'SOAK_POPULATION', base.population),
    tolerance: numberOption('tolerance', 'SOAK_TOLERANCE', base.tolerance),
    verbose: true,
  };
  const r = await runSoak(opts);
  process.stdout.write(`${formatSoak(r, opts.tolerance)}\n${r.pass ? 'PASS' : 'FAIL'}\n`);
  process.exit(r.pass ? 0 : 1);
}
