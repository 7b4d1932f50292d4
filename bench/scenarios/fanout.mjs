/**
 * Fan-out: N clients in one room, a few publishers (clients sending `room:send`, members of the room too) at
 * increasing rates; deliveries/s, end-to-end latency and server CPU per delivery at each step, for our server,
 * the floor and bare Socket.IO.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { measureStep, pausesText, sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startFloor, startOurs } from '../lib/servers.mjs';

const IMPLS = ['ours', 'floor', 'bare'];

export const FANOUT_DEFAULTS = { clients: 1000, publishers: 20, deliveryTargets: [25_000, 50_000, 100_000, 150_000, 200_000], stepMs: 5000, headline: 100_000, p99LimitMs: 25 };
export const FANOUT_SMOKE = { clients: 20, publishers: 2, deliveryTargets: [200, 400], stepMs: 700, headline: 400, p99LimitMs: 25 };

const START = { ours: startOurs, floor: startFloor, bare: startBare };

/** `label` names the side in the output; a variant is our server with another TRANSPORT_TUNING (`tuning`). */
async function setUp(impl, p, opts, cleanup, label = impl, tuning = opts.tuning) {
  const server = impl === 'ours' ? await startOurs({}, { ...opts, name: label, ...(tuning && { tuning }) }) : await START[impl]({}, opts);
  cleanup.push(() => server.stop());
  const addresses = sourceAddresses();
  const common = { url: server.url, tenantId: BENCH_TENANT, addresses, ...(impl === 'ours' && { secret: BENCH_SECRET }) };
  const subs = new ClientFleet(`${label}-fanout`, { ...common, count: p.clients, userPrefix: 'fan-', workers: p.clients >= 500 ? 2 : 1 });
  const pub = new ClientFleet(`${label}-publisher`, { ...common, count: p.publishers, userPrefix: 'publisher-', indexBase: 0 });
  cleanup.unshift(() => Promise.allSettled([subs.close(), pub.close()]));
  const c = await subs.connect();
  await pub.connect();
  const joined = (await subs.join({ room: 'fanout' })) + (await pub.join({ room: 'fanout' }));
  return { impl: label, server, subs, pub, result: { connected: c.connected, connectMs: c.ms, joined, steps: [] }, stopped: false };
}

/** Resolves once `fleet` has received `expected` messages of the current phase, stops receiving for a second, or after 20 s. */
async function drained(fleet, expected) {
  const deadline = Date.now() + 20_000;
  let last = -1;
  while (Date.now() < deadline) {
    const { received } = await fleet.collect();
    if (received >= expected || received === last) return;
    last = received;
    await sleep(1000);
  }
}

/**
 * Our server, the floor (a minimal relay on `ws`, bench/floor-server.mjs) and bare Socket.IO, up at once (the idle
 * ones cost nothing), measured in turn at every rate, the order rotating.
 */
export async function fanout(params = FANOUT_DEFAULTS, opts = {}) {
  const p = { ...FANOUT_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const cleanup = [];
  const variants = opts.variants ?? [];
  const results = {};
  let others = [];
  try {
    // Every server up at once (an idle one costs nothing), measured in turn at every rate, the order rotating.
    const sides = [];
    for (const impl of IMPLS) sides.push(await setUp(impl, p, opts, cleanup));
    for (const v of variants) sides.push(await setUp('ours', p, opts, cleanup, `ours[${v}]`, v));
    for (const [i, target] of p.deliveryTargets.entries()) {
      const first = i % sides.length;
      for (const side of [...sides.slice(first), ...sides.slice(0, first)]) {
        if (side.stopped) continue;
        const step = await measureStep({
          servers: [side.server],
          senders: side.pub,
          receivers: [side.subs],
          rate: target / p.clients,
          membersPerMessage: p.clients,
          durationMs: p.stepMs,
          phase: i + 1,
        });
        side.result.steps.push(step);
        process.stdout.write(
          `  ${side.impl} fan-out target ${target}/s: ${step.deliveriesPerSec}/s delivered ${step.deliveredFraction}, p50 ${step.latency.p50Ms} ms, p99 ${step.latency.p99Ms} ms, ${step.cpuMicrosPerDelivery} µs CPU/delivery, cpu ${step.cpu[0].cpuPercent}% (kernel ${Math.round((step.cpu[0].systemShare ?? 0) * 100)}%), load generator ${step.loadgenCpuPercent}%, publishers: ${step.senderPace.bunched} sent in a late tick (longest tick gap ${Math.round(step.senderPace.maxTickGapMs)} ms)${pausesText(step)}\n`,
        );
        // Saturated far beyond the target: the next steps would only queue more.
        if ((step.deliveredFraction ?? 1) < 0.5 || (step.latency.p99Ms ?? 0) > 5000) side.stopped = true;
        // A server that queued keeps writing its backlog after the step: the next server measured would share the
        // cores with it (and with the load generator reading it). Wait until it has delivered everything or stalls.
        await drained(side.subs, step.sent * p.clients);
        await sleep(1000);
      }
    }
    for (const s of sides.slice(0, IMPLS.length)) results[s.impl] = s.result;
    others = sides.slice(IMPLS.length).map((s) => s.result);
  } finally {
    for (const fn of cleanup) await fn().catch(() => {});
  }
  const { ours, floor, bare } = results;
  const at = (r) => r.steps.find((s) => s.targetDeliveriesPerSec === p.headline) ?? r.steps.at(-1);
  const o = at(ours);
  const f = at(floor);
  const b = at(bare);
  const peak = (r) => Math.max(...r.steps.filter((s) => (s.deliveredFraction ?? 0) >= 0.95 && (s.latency.p99Ms ?? Infinity) <= p.p99LimitMs).map((s) => s.deliveriesPerSec), 0);
  const row = (label, get) => {
    const [vo, vf, vb] = [o, f, b].map((x) => (x ? get(x) : undefined));
    return [label, vo, vf, vb, ratio(vo, vf), ratio(vo, vb)];
  };
  const errors = (r) => r.steps.reduce((a, s) => a + s.errors, 0);
  const rows = [
    row(`deliveries/s at target ${p.headline}/s`, (x) => x.deliveriesPerSec),
    row('delivered fraction', (x) => x.deliveredFraction),
    row('latency p50 ms', (x) => x.latency.p50Ms),
    row('latency p99 ms', (x) => x.latency.p99Ms),
    row('server CPU µs / delivery', (x) => x.cpuMicrosPerDelivery),
    row('server CPU %', (x) => x.cpu[0].cpuPercent),
    row('write system calls / delivery', (x) => x.writeSyscallsPerDelivery),
    [`max deliveries/s with p99 <= ${p.p99LimitMs} ms`, peak(ours), peak(floor), peak(bare), ratio(peak(ours), peak(floor)), ratio(peak(ours), peak(bare))],
    ['errors', errors(ours), errors(floor), errors(bare), null, null],
  ];
  const stepRows = p.deliveryTargets.map((t) => {
    const [so, sf, sb] = [ours, floor, bare].map((r) => r.steps.find((s) => s.targetDeliveriesPerSec === t));
    const cell = (s) => (s ? `${s.deliveriesPerSec}/s p99 ${s.latency.p99Ms} ms ${s.cpuMicrosPerDelivery} µs` : '-');
    return [`target ${t}/s`, cell(so), cell(sf), cell(sb), ratio(so?.cpuMicrosPerDelivery, sf?.cpuMicrosPerDelivery), ratio(so?.latency.p99Ms, sf?.latency.p99Ms)];
  });
  const header = ['metric', 'ours', 'floor', 'bare', 'ours/floor', 'ours/bare'];
  const table = printTable(`fan-out: ${p.clients} clients in one room, ${p.publishers} publishers`, rows, header);
  const stepsTable = printTable('fan-out steps (deliveries/s, p99, CPU µs/delivery)', stepRows, ['step', 'ours', 'floor', 'bare', 'CPU ours/floor', 'p99 ours/floor']);
  let variantsTable = '';
  if (variants.length > 0) {
    const cell = (s) => (s ? `${s.deliveriesPerSec}/s p99 ${s.latency.p99Ms} ms ${s.cpuMicrosPerDelivery} µs` : '-');
    const rows = p.deliveryTargets.map((t) => {
      const so = ours.steps.find((s) => s.targetDeliveriesPerSec === t);
      return [`target ${t}/s`, cell(so), ...others.flatMap((r) => {
        const sv = r.steps.find((s) => s.targetDeliveriesPerSec === t);
        return [cell(sv), ratio(so?.cpuMicrosPerDelivery, sv?.cpuMicrosPerDelivery)];
      })];
    });
    const header = ['step', `ours (TRANSPORT_TUNING=${opts.tuning ?? 'on'})`, ...variants.flatMap((v) => [`ours[${v}]`, `CPU/delivery ours/ours[${v}]`])];
    variantsTable = `\n${printTable('fan-out, our server with other TRANSPORT_TUNING (deliveries/s, p99, CPU µs/delivery)', rows, header)}`;
  }
  const result = {
    scenario: 'fanout',
    startedAt,
    machine: machine(),
    params: p,
    tuning: opts.tuning ?? 'on',
    ours,
    floor,
    bare,
    variants: Object.fromEntries(variants.map((v, i) => [v, others[i]])),
    headline: { ours: o, floor: f, bare: b },
    table: `${table}\n${stepsTable}${variantsTable}`,
  };
  result.file = writeResult('fanout', result);
  return result;
}
