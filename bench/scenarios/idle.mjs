/**
 * Idle connections: memory per idle authenticated connection on one instance.
 * Heap after a forced full GC and RSS, measured inside the server process (bench/lib/probe.mjs),
 * as (value at N connections - value at 0) / N, at increasing N. Then the same over several
 * instances sharing one private redis-server (about 50k connections over three by default):
 * connections held, connect rate, memory per connection on each instance.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { round } from '../lib/hist.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs, startRedis } from '../lib/servers.mjs';
import { startInstances } from './cluster.mjs';

export const IDLE_DEFAULTS = { levels: [1000, 5000, 10_000, 19_000], settleMs: 2000, cluster: { instances: 3, total: 50_000 } };
export const IDLE_SMOKE = { levels: [50, 100], settleMs: 200, cluster: { instances: 3, total: 90 } };

const kb = (v) => (v === null || v === undefined ? null : round(v / 1024, 2));

/** Errors of all the fleets' clients: the count and up to 5 distinct samples. */
async function collectErrors(fleets) {
  const all = await Promise.all(fleets.map((f) => f.collect()));
  return { errors: all.reduce((a, x) => a + x.errors, 0), errorSamples: [...new Set(all.flatMap((x) => x.errorSamples))].slice(0, 5) };
}

/** `label` names the side in the output; a variant is our server with another TRANSPORT_TUNING (`tuning`). */
async function runOne(impl, p, opts, label = impl, tuning = opts.tuning) {
  const server = impl === 'ours' ? await startOurs({}, { ...opts, name: label, ...(tuning && { tuning }) }) : await startBare({}, opts);
  const addresses = sourceAddresses();
  const fleets = [];
  try {
    // Warm up the connection path once, so that code compiled on first use is not counted per connection.
    const warm = new ClientFleet(`${label}-idle-warm`, { url: server.url, tenantId: BENCH_TENANT, addresses, count: 20, userPrefix: 'warm-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
    await warm.connect();
    await warm.close();
    await sleep(p.settleMs);
    const base = (await server.probe(true)).memory;
    const levels = [];
    let have = 0;
    for (const n of p.levels) {
      const fleet = new ClientFleet(`${label}-idle-${n}`, {
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
        added: c.connected,
        connectMs: c.ms,
        heapUsedBytes: mem.heapUsedBytes,
        rssBytes: mem.rssBytes,
        heapPerConnBytes: have ? round((mem.heapUsedBytes - base.heapUsedBytes) / have, 0) : null,
        rssPerConnBytes: have ? round((mem.rssBytes - base.rssBytes) / have, 0) : null,
      };
      levels.push(level);
      process.stdout.write(`  ${label} idle ${have}/${n}: heap ${(level.heapPerConnBytes / 1024).toFixed(2)} KB/conn, rss ${(level.rssPerConnBytes / 1024).toFixed(2)} KB/conn (connect ${c.ms} ms)\n`);
      if (c.connected < n - (have - c.connected)) break;
    }
    const errors = await collectErrors(fleets);
    return { base, levels, ...errors };
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await server.stop();
  }
}

/** Idle connections spread evenly over several instances sharing one Redis. */
async function runCluster(impl, p, redisUrl, opts) {
  const { instances: n, total } = p.cluster;
  const servers = await startInstances(impl, n, redisUrl, opts);
  const fleets = [];
  try {
    const addresses = sourceAddresses();
    const secret = impl === 'ours' ? { secret: BENCH_SECRET } : {};
    const warm = servers.map((s, i) => new ClientFleet(`${impl}-cidle-warm-${i}`, { url: s.url, tenantId: BENCH_TENANT, addresses, count: 20, userPrefix: `cwarm${i}-`, ...secret }));
    await Promise.all(warm.map((f) => f.connect()));
    await Promise.all(warm.map((f) => f.close()));
    await sleep(p.settleMs);
    const base = await Promise.all(servers.map(async (s) => (await s.probe(true)).memory));
    const per = Math.ceil(total / n);
    for (let i = 0; i < n; i++) {
      fleets.push(new ClientFleet(`${impl}-cidle-${i}`, { url: servers[i].url, tenantId: BENCH_TENANT, addresses, count: per, indexBase: i * per, userPrefix: 'cidle-', concurrency: 40, ...secret }));
    }
    const started = Date.now();
    const connected = await Promise.all(fleets.map((f) => f.connect()));
    const connectMs = Date.now() - started;
    await sleep(p.settleMs);
    const perInstance = [];
    for (let i = 0; i < n; i++) {
      const mem = (await servers[i].probe(true)).memory;
      const have = connected[i].connected;
      perInstance.push({
        name: servers[i].name,
        connected: have,
        heapUsedBytes: mem.heapUsedBytes,
        rssBytes: mem.rssBytes,
        heapPerConnBytes: have ? round((mem.heapUsedBytes - base[i].heapUsedBytes) / have, 0) : null,
        rssPerConnBytes: have ? round((mem.rssBytes - base[i].rssBytes) / have, 0) : null,
      });
    }
    const held = perInstance.reduce((a, x) => a + x.connected, 0);
    const sum = (k) => perInstance.reduce((a, x) => a + (x[k] ?? 0) * x.connected, 0);
    const errors = await collectErrors(fleets);
    const r = {
      instances: n,
      target: per * n,
      connected: held,
      connectMs,
      connectsPerSec: connectMs > 0 ? round((held * 1000) / connectMs, 0) : null,
      heapPerConnBytes: held ? round(sum('heapPerConnBytes') / held, 0) : null,
      rssPerConnBytes: held ? round(sum('rssPerConnBytes') / held, 0) : null,
      perInstance,
      ...errors,
    };
    process.stdout.write(`  ${impl} idle over ${n} instances: ${held}/${per * n} held, ${r.connectsPerSec} connects/s, heap ${(r.heapPerConnBytes / 1024).toFixed(2)} KB/conn, rss ${(r.rssPerConnBytes / 1024).toFixed(2)} KB/conn\n`);
    return r;
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

async function clusterBoth(p, opts) {
  const redis = await startRedis();
  if (redis.error) return { redisError: redis.error };
  try {
    return { ours: await runCluster('ours', p, redis.url, opts), bare: await runCluster('bare', p, redis.url, opts) };
  } finally {
    await redis.stop();
  }
}

export async function idle(params = IDLE_DEFAULTS, opts = {}) {
  const p = { ...IDLE_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const ours = await runOne('ours', p, opts);
  const bare = await runOne('bare', p, opts);
  const variants = opts.variants ?? [];
  const others = [];
  for (const v of variants) others.push(await runOne('ours', p, opts, `ours[${v}]`, v));
  const cluster = p.cluster ? await clusterBoth(p, opts) : undefined;
  const rows = [];
  const top = (side) => side.levels.at(-1);
  const rate = (l) => (l?.connectMs ? round((l.added * 1000) / l.connectMs, 0) : null);
  for (const n of p.levels) {
    const o = ours.levels.find((l) => l.target === n);
    const b = bare.levels.find((l) => l.target === n);
    rows.push([`${n} conns: heap KB/conn`, kb(o?.heapPerConnBytes), kb(b?.heapPerConnBytes), ratio(o?.heapPerConnBytes, b?.heapPerConnBytes)]);
    rows.push([`${n} conns: RSS KB/conn`, kb(o?.rssPerConnBytes), kb(b?.rssPerConnBytes), ratio(o?.rssPerConnBytes, b?.rssPerConnBytes)]);
    rows.push([`${n} conns: connected`, o?.connected, b?.connected, null]);
  }
  rows.push([`connect rate at the last level (conns/s)`, rate(top(ours)), rate(top(bare)), ratio(rate(top(ours)), rate(top(bare)))]);
  rows.push(['errors', ours.errors, bare.errors, null]);
  if (cluster?.redisError) rows.push([`${p.cluster.instances} instances over Redis`, `redis-server not available: ${cluster.redisError}`, '-', null]);
  else if (cluster) {
    const { ours: o, bare: b } = cluster;
    const label = `${p.cluster.instances} instances over Redis`;
    rows.push([`${label}: connections held`, o.connected, b.connected, null]);
    rows.push([`${label}: connects/s (all at once)`, o.connectsPerSec, b.connectsPerSec, ratio(o.connectsPerSec, b.connectsPerSec)]);
    rows.push([`${label}: heap KB/conn`, kb(o.heapPerConnBytes), kb(b.heapPerConnBytes), ratio(o.heapPerConnBytes, b.heapPerConnBytes)]);
    rows.push([`${label}: RSS KB/conn`, kb(o.rssPerConnBytes), kb(b.rssPerConnBytes), ratio(o.rssPerConnBytes, b.rssPerConnBytes)]);
    rows.push([`${label}: errors`, o.errors, b.errors, null]);
  }
  let table = printTable('idle connections: memory per connection (heap after full GC)', rows);
  if (variants.length > 0) {
    const vrows = p.levels.flatMap((n) => {
      const o = ours.levels.find((l) => l.target === n);
      const of = (r) => r.levels.find((l) => l.target === n);
      return [
        [`${n} conns: heap KB/conn`, kb(o?.heapPerConnBytes), ...others.flatMap((r) => [kb(of(r)?.heapPerConnBytes), ratio(o?.heapPerConnBytes, of(r)?.heapPerConnBytes)])],
        [`${n} conns: RSS KB/conn`, kb(o?.rssPerConnBytes), ...others.flatMap((r) => [kb(of(r)?.rssPerConnBytes), ratio(o?.rssPerConnBytes, of(r)?.rssPerConnBytes)])],
      ];
    });
    const header = ['metric', `ours (TRANSPORT_TUNING=${opts.tuning ?? 'on'})`, ...variants.flatMap((v) => [`ours[${v}]`, `ours/ours[${v}]`])];
    table += `\n${printTable('idle connections, our server with other TRANSPORT_TUNING', vrows, header)}`;
  }
  const result = { scenario: 'idle', startedAt, machine: machine(), params: p, tuning: opts.tuning ?? 'on', ours, bare, variants: Object.fromEntries(variants.map((v, i) => [v, others[i]])), cluster, table };
  result.file = writeResult('idle', result);
  return result;
}
