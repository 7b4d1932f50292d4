/**
 * A reconnect storm: three instances of our server on one private redis-server, SDK clients
 * (packages/client: reconnect, re-join with `since`, recovery) spread evenly over them in rooms of
 * `roomSize`, a publisher on the third instance sending numbered persistent messages into every
 * room. Then instance A is killed (`kill -9`) and instance B drained (SIGTERM: `system:restart` with
 * a jittered `reconnectIn`, disconnect after SHUTDOWN_TIMEOUT) at the same moment, and every client
 * of theirs reconnects through the SDK to the instance left. Run twice: with the spread (SDK default
 * backoff, RECONNECT_JITTER) and without it (SDK backoff of 1 ms, RECONNECT_JITTER=0).
 *
 * Figures per run: time from the kill until every client is `connected` again (rooms re-joined and
 * recovered), reconnects/s on the instance left (mean and peak second), connection errors seen by the
 * clients by code (only retryable ones are expected), messages lost and duplicated (every client
 * checks its room's numbers; at the end each must have seen the room's last number), and the p99 of
 * the clients that stayed connected before and during the storm.
 */
import { Worker } from '../lib/loadgen.mjs';
import { merge, newHist, round, summary } from '../lib/hist.mjs';
import { sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, procCpuMicros, startOurs, startRedis } from '../lib/servers.mjs';
import { fileURLToPath } from 'node:url';

const STORM_WORKER = fileURLToPath(new URL('../lib/storm-worker.mjs', import.meta.url));

/** overloadLagMs (optional): OVERLOAD_LAG_MS of the instances (default: the server's). */
export const STORM_DEFAULTS = { clients: 1200, perWorker: 1500, roomSize: 10, ratePerRoom: 1, beforeMs: 5000, recoverTimeoutMs: 120_000, jitterMs: 5000, shutdownTimeoutMs: 3000 };
export const STORM_SMOKE = { clients: 30, perWorker: 30, roomSize: 10, ratePerRoom: 2, beforeMs: 1500, recoverTimeoutMs: 60_000, jitterMs: 500, shutdownTimeoutMs: 500 };

const call = (workers, cmd, args = {}, timeoutMs = 300_000) => Promise.all(workers.map((w) => w.call(cmd, args, timeoutMs)));

async function runOnce(p, spread, opts) {
  const redis = await startRedis();
  if (redis.error) return { redisError: redis.error };
  const env = {
    REDIS_URL: redis.url,
    RECONNECT_JITTER: String(spread ? p.jitterMs : 0),
    SHUTDOWN_TIMEOUT: String(p.shutdownTimeoutMs),
    // The publisher is in every room.
    MAX_ROOMS_PER_CONNECTION: '10000',
    ...(p.overloadLagMs !== undefined && { OVERLOAD_LAG_MS: String(p.overloadLagMs) }),
  };
  const servers = [];
  const workers = [];
  try {
    for (const name of ['A', 'B', 'C']) servers.push(await startOurs(env, { ...opts, name: `ours-${name}` }));
    const urls = servers.map((s) => s.url);
    // The clients that will move (at home on A and B) and those that stay (on C) in processes of their
    // own: the stayed clients' latency is then not held up by the movers' reconnects in the same process.
    const n = Math.ceil(p.clients / p.perWorker);
    const groups = [
      ['moving', [0, 1]],
      ['staying', [2]],
    ];
    const slices = [];
    for (let i = 0; i < n; i++) {
      for (const [label, homes] of groups) {
        workers.push(new Worker(`storm-${label}#${i}`, STORM_WORKER));
        slices.push({ startIndex: i * p.perWorker, count: Math.min(p.perWorker, p.clients - i * p.perWorker), homes });
      }
    }
    const backoff = spread ? undefined : { minDelayMs: 1, maxDelayMs: 1 };
    await Promise.all(
      workers.map((w, i) =>
        w.call('connect', { urls, secret: BENCH_SECRET, tenantId: BENCH_TENANT, ...slices[i], roomSize: p.roomSize, concurrency: 20, ...(backoff && { backoff }) }, 300_000),
      ),
    );
    const rooms = Math.ceil(p.clients / p.roomSize);
    const pub = new Worker('storm-publisher', STORM_WORKER);
    workers.push(pub);
    await pub.call('publish', { url: servers[2].url, secret: BENCH_SECRET, tenantId: BENCH_TENANT, rooms, rate: rooms * p.ratePerRoom });
    const clientWorkers = workers.slice(0, -1);
    // Where the machine's CPU goes, before and during the storm: instance C (the one left), the load
    // generator's processes (clients and publisher) and Redis, each as a share of one core.
    const usage = async () => ({ at: Date.now(), c: await servers[2].probe(false), loadgen: workers.reduce((a, w) => a + (procCpuMicros(w.child.pid) ?? 0), 0), redis: redis.cpuMicros() ?? 0 });
    const shares = (u0, u1) => {
      const wallUs = (u1.at - u0.at) * 1000;
      const cUs = u1.c.cpu.userMicros + u1.c.cpu.systemMicros - (u0.c.cpu.userMicros + u0.c.cpu.systemMicros);
      return {
        cCorePct: round((100 * cUs) / wallUs, 1),
        loadgenCorePct: round((100 * (u1.loadgen - u0.loadgen)) / wallUs, 1),
        redisCorePct: round((100 * (u1.redis - u0.redis)) / wallUs, 1),
        cLoopStallMaxMs: u1.c.since?.loopStallMaxMs ?? null,
        cGcMs: u1.c.since?.gcTotalMs ?? null,
      };
    };
    const u0 = await usage();
    await sleep(p.beforeMs);
    const uBefore = await usage();

    // The storm: A dies, B drains, at the same moment.
    await call(clientWorkers, 'phase', { phase: 'storm' });
    const t0 = Date.now();
    process.kill(servers[0].pid, 'SIGKILL');
    process.kill(servers[1].pid, 'SIGTERM');
    let states;
    let all;
    for (;;) {
      await sleep(500);
      states = await call(clientWorkers, 'state');
      all = states.flatMap((s) => s.clients);
      const pending = all.filter((c) => !c.stable && c.recoveredAt === undefined).length;
      const moved = all.filter((c) => !c.stable).length;
      if ((moved > 0 && pending === 0) || Date.now() - t0 > p.recoverTimeoutMs) break;
    }
    const recoveredAll = all.filter((c) => !c.stable).every((c) => c.recoveredAt !== undefined);
    const tEnd = Date.now();
    const uStorm = await usage();
    await call(clientWorkers, 'phase', { phase: 'after' });
    await sleep(2000);
    const published = await pub.call('stop-publishing');
    await sleep(3000); // the last messages reach everyone
    states = await call(clientWorkers, 'state');
    all = states.flatMap((s) => s.clients);

    const byRoom = new Map(published.last.map((last, r) => [`storm-${r}`, last]));
    // Lost: numbers a client skipped, and, for a client connected at the end, numbers its room reached that it never got.
    // A client still reconnecting at the end is counted apart (unrecovered): what it misses is not lost yet.
    const connectedAtEnd = all.filter((c) => c.connected);
    const missingAtEnd = connectedAtEnd.reduce((a, c) => a + Math.max(0, (byRoom.get(c.room) ?? -1) - c.last), 0);
    const lost = all.reduce((a, c) => a + c.lost, 0) + missingAtEnd;
    const unrecovered = all.length - connectedAtEnd.length;
    const duplicates = all.reduce((a, c) => a + c.duplicates, 0);
    const moved = all.filter((c) => !c.stable);
    const recoveredTimes = moved.map((c) => c.recoveredAt).filter((x) => x !== undefined).sort((a, b) => a - b);
    // Reconnects per second on C, the one instance left (every moved client ends there).
    const perSecond = new Map();
    for (const at of recoveredTimes) perSecond.set(Math.floor((at - t0) / 1000), (perSecond.get(Math.floor((at - t0) / 1000)) ?? 0) + 1);
    const span = recoveredTimes.length ? (recoveredTimes.at(-1) - recoveredTimes[0]) / 1000 : 0;
    const hist = (ph, kind) => {
      const h = newHist();
      for (const s of states) merge(h, s.hists[ph][kind]);
      return summary(h);
    };
    const errorsByCode = {};
    for (const s of states) for (const [k, v] of Object.entries(s.errorsByCode)) errorsByCode[k] = (errorsByCode[k] ?? 0) + v;
    const r = {
      spread,
      clients: all.length,
      moved: moved.length,
      stayed: all.length - moved.length,
      recoveredAll,
      unrecovered,
      timeToAllRecoveredMs: recoveredTimes.length ? recoveredTimes.at(-1) - t0 : null,
      medianRecoveryMs: recoveredTimes.length ? recoveredTimes[Math.floor((recoveredTimes.length - 1) / 2)] - t0 : null,
      reconnectsPerSecOnC: span > 0 ? round(recoveredTimes.length / span, 0) : recoveredTimes.length,
      peakReconnectsPerSecOnC: Math.max(0, ...perSecond.values()),
      errorsByCode,
      published: { sent: published.sent, acked: published.acked, refused: published.refused, refusals: published.refusals },
      lost,
      duplicates,
      stableLatency: { before: hist('before', 'stable'), storm: hist('storm', 'stable') },
      // The same cut at the server's timestamp: publisher -> accepted by C, then C -> client.
      stableSplit: {
        before: { toServer: hist('before', 'toServer'), fromServer: hist('before', 'fromServer') },
        storm: { toServer: hist('storm', 'toServer'), fromServer: hist('storm', 'fromServer') },
      },
      allLatency: { before: hist('before', 'all'), storm: hist('storm', 'all'), after: hist('after', 'all') },
      stormWindowMs: tEnd - t0,
      cpu: { before: shares(u0, uBefore), storm: shares(uBefore, uStorm) },
    };
    r.stableP99Ratio = ratio(r.stableLatency.storm.p99Ms, r.stableLatency.before.p99Ms);
    process.stdout.write(
      `  storm ${spread ? 'with' : 'without'} spread: ${r.moved} clients moved, all recovered ${r.recoveredAll ? `in ${r.timeToAllRecoveredMs} ms` : `NOT within the limit (${unrecovered} still reconnecting at the end)`} (median ${r.medianRecoveryMs} ms), ` +
        `${r.reconnectsPerSecOnC} reconnects/s on C (peak ${r.peakReconnectsPerSecOnC}), lost ${lost}, duplicates ${duplicates}, errors ${JSON.stringify(errorsByCode)}, ` +
        `stayed-connected p99 ${r.stableLatency.before.p99Ms} -> ${r.stableLatency.storm.p99Ms} ms; ` +
        `C ${r.cpu.before.cCorePct} -> ${r.cpu.storm.cCorePct} % of a core (loop stalled up to ${r.cpu.storm.cLoopStallMaxMs} ms), load generator ${r.cpu.before.loadgenCorePct} -> ${r.cpu.storm.loadgenCorePct} %, Redis ${r.cpu.before.redisCorePct} -> ${r.cpu.storm.redisCorePct} %\n`,
    );
    return r;
  } finally {
    await Promise.allSettled(workers.map((w) => w.close()));
    await Promise.allSettled(servers.map((s) => s.stop()));
    await redis.stop();
  }
}

export async function storm(params = STORM_DEFAULTS, opts = {}) {
  const p = { ...STORM_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const withSpread = await runOnce(p, true, opts);
  if (withSpread.redisError) {
    const table = printTable('reconnect storm', [['redis-server not available', withSpread.redisError, '-', null]]);
    return { scenario: 'storm', startedAt, redisError: withSpread.redisError, table };
  }
  const without = await runOnce(p, false, opts);
  const codes = (r) => Object.entries(r.errorsByCode).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const rows = [
    ['clients (moved / stayed connected)', `${withSpread.moved} / ${withSpread.stayed}`, `${without.moved} / ${without.stayed}`],
    ['time until every client recovered (ms)', withSpread.recoveredAll ? withSpread.timeToAllRecoveredMs : `${withSpread.unrecovered} not`, without.recoveredAll ? without.timeToAllRecoveredMs : `${without.unrecovered} not`],
    ['median recovery (ms)', withSpread.medianRecoveryMs, without.medianRecoveryMs],
    ['reconnects/s on the instance left (mean / peak second)', `${withSpread.reconnectsPerSecOnC} / ${withSpread.peakReconnectsPerSecOnC}`, `${without.reconnectsPerSecOnC} / ${without.peakReconnectsPerSecOnC}`],
    ['connection errors seen by clients', codes(withSpread), codes(without)],
    ['messages lost / duplicated', `${withSpread.lost} / ${withSpread.duplicates}`, `${without.lost} / ${without.duplicates}`],
    ['stayed connected: p99 before (ms)', withSpread.stableLatency.before.p99Ms, without.stableLatency.before.p99Ms],
    ['stayed connected: p99 during the storm (ms)', withSpread.stableLatency.storm.p99Ms, without.stableLatency.storm.p99Ms],
    ['stayed connected: p99 storm / before', withSpread.stableP99Ratio, without.stableP99Ratio],
    ...[
      ['stayed connected: p99 publisher -> accepted by C, before -> storm (ms)', 'toServer'],
      ['stayed connected: p99 accepted by C -> client, before -> storm (ms)', 'fromServer'],
    ].map(([label, part]) => [label, ...[withSpread, without].map((r) => `${r.stableSplit.before[part].p99Ms} -> ${r.stableSplit.storm[part].p99Ms}`)]),
    ...[
      ['instance left (C): % of a core, before -> storm', 'cCorePct'],
      ['instance left (C): longest loop stall during the storm (ms)', 'cLoopStallMaxMs', true],
      ['load generator (SDK clients, publisher): % of a core, before -> storm', 'loadgenCorePct'],
      ['Redis: % of a core, before -> storm', 'redisCorePct'],
    ].map(([label, key, stormOnly]) => [label, ...[withSpread, without].map((r) => (stormOnly ? r.cpu.storm[key] : `${r.cpu.before[key]} -> ${r.cpu.storm[key]}`))]),
  ];
  const table = printTable(`reconnect storm: ${p.clients} SDK clients on 3 instances over Redis, A killed (-9) and B drained at once`, rows, ['metric', 'with spread', 'without spread']);
  const result = { scenario: 'storm', startedAt, machine: machine(), params: p, withSpread, without, table };
  result.file = writeResult('storm', result);
  return result;
}
