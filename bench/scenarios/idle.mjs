/**
 * Idle connections: memory per idle authenticated connection on one instance.
 * Heap after a forced full GC and RSS, measured inside the server process (bench/lib/probe.mjs),
 * as (value at N connections - value at 0) / N, at increasing N.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { round } from '../lib/hist.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs } from '../lib/servers.mjs';

export const IDLE_DEFAULTS = { levels: [1000, 5000, 10_000, 19_000], settleMs: 2000 };
export const IDLE_SMOKE = { levels: [50, 100], settleMs: 200 };

async function runOne(impl, p, opts) {
  const server = impl === 'ours' ? await startOurs({}, opts) : await startBare({}, opts);
  const addresses = sourceAddresses();
  const fleets = [];
  try {
    // Warm up the connection path once, so that code compiled on first use is not counted per connection.
    const warm = new ClientFleet(`${impl}-idle-warm`, { url: server.url, tenantId: BENCH_TENANT, addresses, count: 20, userPrefix: 'warm-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
    await warm.connect();
    await warm.close();
    await sleep(p.settleMs);
    const base = (await server.probe(true)).memory;
    const levels = [];
    let have = 0;
    for (const n of p.levels) {
      const fleet = new ClientFleet(`${impl}-idle-${n}`, {
        url: server.url,
        tenantId: BENCH_TENANT,
        addresses,
        count: n - have,
        indexBase: have,
        userPrefix: 'idle-',
        concurrency: 40,
        ...(impl === 'ours' && { secret: BENCH_SECRET }),
      });
      fleets.push(fleet);
      const c = await fleet.connect();
      have += c.connected;
      await sleep(p.settleMs);
      const mem = (await server.probe(true)).memory;
      const level = {
        target: n,
        connected: have,
        connectMs: c.ms,
        heapUsedBytes: mem.heapUsedBytes,
        rssBytes: mem.rssBytes,
        heapPerConnBytes: have ? round((mem.heapUsedBytes - base.heapUsedBytes) / have, 0) : null,
        rssPerConnBytes: have ? round((mem.rssBytes - base.rssBytes) / have, 0) : null,
      };
      levels.push(level);
      process.stdout.write(`  ${impl} idle ${have}/${n}: heap ${(level.heapPerConnBytes / 1024).toFixed(2)} KB/conn, rss ${(level.rssPerConnBytes / 1024).toFixed(2)} KB/conn (connect ${c.ms} ms)\n`);
      if (c.connected < n - (have - c.connected)) break;
    }
    const errors = (await Promise.all(fleets.map((f) => f.collect()))).reduce((a, x) => ({ n: a.n + x.errors, s: [...a.s, ...x.errorSamples] }), { n: 0, s: [] });
    return { base, levels, errors: errors.n, errorSamples: [...new Set(errors.s)].slice(0, 5) };
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await server.stop();
  }
}

export async function idle(params = IDLE_DEFAULTS, opts = {}) {
  const p = { ...IDLE_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const ours = await runOne('ours', p, opts);
  const bare = await runOne('bare', p, opts);
  const rows = [];
  for (const n of p.levels) {
    const o = ours.levels.find((l) => l.target === n);
    const b = bare.levels.find((l) => l.target === n);
    const kb = (v) => (v === null || v === undefined ? null : round(v / 1024, 2));
    rows.push([`${n} conns: heap KB/conn`, kb(o?.heapPerConnBytes), kb(b?.heapPerConnBytes), ratio(o?.heapPerConnBytes, b?.heapPerConnBytes)]);
    rows.push([`${n} conns: RSS KB/conn`, kb(o?.rssPerConnBytes), kb(b?.rssPerConnBytes), ratio(o?.rssPerConnBytes, b?.rssPerConnBytes)]);
    rows.push([`${n} conns: connected`, o?.connected, b?.connected, null]);
  }
  rows.push(['errors', ours.errors, bare.errors, null]);
  const table = printTable('idle connections: memory per connection (heap after full GC)', rows);
  const result = { scenario: 'idle', startedAt, machine: machine(), params: p, ours, bare, table };
  result.file = writeResult('idle', result);
  return result;
}
