/**
 * Fan-out: N clients in one room, one publisher (a client sending `room:send`) at increasing
 * rates; deliveries/s, end-to-end latency and server CPU per delivery at each step.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { measureStep, pausesText, sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs } from '../lib/servers.mjs';

export const FANOUT_DEFAULTS = { clients: 1000, deliveryTargets: [25_000, 50_000, 100_000, 150_000, 200_000], stepMs: 5000, headline: 100_000, p99LimitMs: 25 };
export const FANOUT_SMOKE = { clients: 20, deliveryTargets: [200, 400], stepMs: 700, headline: 400, p99LimitMs: 25 };

/** `label` names the side in the output; a variant is our server with another TRANSPORT_TUNING (`tuning`). */
async function setUp(impl, p, opts, cleanup, label = impl, tuning = opts.tuning) {
  const server = impl === 'ours' ? await startOurs({}, { ...opts, name: label, ...(tuning && { tuning }) }) : await startBare({}, opts);
  cleanup.push(() => server.stop());
  const addresses = sourceAddresses();
  const common = { url: server.url, tenantId: BENCH_TENANT, addresses, ...(impl === 'ours' && { secret: BENCH_SECRET }) };
  const subs = new ClientFleet(`${label}-fanout`, { ...common, count: p.clients, userPrefix: 'fan-', workers: p.clients >= 500 ? 2 : 1 });
  const pub = new ClientFleet(`${label}-publisher`, { ...common, count: 1, userPrefix: 'publisher-', indexBase: 0 });
  cleanup.unshift(() => Promise.allSettled([subs.close(), pub.close()]));
  const c = await subs.connect();
  await pub.connect();
  const joined = (await subs.join({ room: 'fanout' })) + (await pub.join({ room: 'fanout' }));
  return { impl: label, server, subs, pub, result: { connected: c.connected, connectMs: c.ms, joined, steps: [] }, stopped: false };
}

export async function fanout(params = FANOUT_DEFAULTS, opts = {}) {
  const p = { ...FANOUT_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const cleanup = [];
  const variants = opts.variants ?? [];
  let ours;
  let bare;
  let others = [];
  try {
    // Every server up at once (an idle one costs nothing), measured in turn at every rate, the order rotating.
    const sides = [await setUp('ours', p, opts, cleanup), await setUp('bare', p, opts, cleanup)];
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
          `  ${side.impl} fan-out target ${target}/s: ${step.deliveriesPerSec}/s delivered ${step.deliveredFraction}, p50 ${step.latency.p50Ms} ms, p99 ${step.latency.p99Ms} ms, ${step.cpuMicrosPerDelivery} µs CPU/delivery, cpu ${step.cpu[0].cpuPercent}% (kernel ${Math.round((step.cpu[0].systemShare ?? 0) * 100)}%), load generator ${step.loadgenCpuPercent}%, publisher: ${step.senderPace.bunched} sent in a late tick (longest tick gap ${Math.round(step.senderPace.maxTickGapMs)} ms)${pausesText(step)}\n`,
        );
        // Saturated far beyond the target: the next steps would only queue more.
        if ((step.deliveredFraction ?? 1) < 0.5 || (step.latency.p99Ms ?? 0) > 5000) side.stopped = true;
        await sleep(1000);
      }
    }
    [ours, bare, ...others] = sides.map((s) => s.result);
  } finally {
    for (const fn of cleanup) await fn().catch(() => {});
  }
  const at = (r) => r.steps.find((s) => s.targetDeliveriesPerSec === p.headline) ?? r.steps.at(-1);
  const o = at(ours);
  const b = at(bare);
  const peak = (r) => Math.max(...r.steps.filter((s) => (s.deliveredFraction ?? 0) >= 0.95 && (s.latency.p99Ms ?? Infinity) <= p.p99LimitMs).map((s) => s.deliveriesPerSec), 0);
  const rows = [
    [`deliveries/s at target ${p.headline}/s`, o?.deliveriesPerSec, b?.deliveriesPerSec, ratio(o?.deliveriesPerSec, b?.deliveriesPerSec)],
    ['delivered fraction', o?.deliveredFraction, b?.deliveredFraction, ratio(o?.deliveredFraction, b?.deliveredFraction)],
    ['latency p50 ms', o?.latency.p50Ms, b?.latency.p50Ms, ratio(o?.latency.p50Ms, b?.latency.p50Ms)],
    ['latency p99 ms', o?.latency.p99Ms, b?.latency.p99Ms, ratio(o?.latency.p99Ms, b?.latency.p99Ms)],
    ['server CPU µs / delivery', o?.cpuMicrosPerDelivery, b?.cpuMicrosPerDelivery, ratio(o?.cpuMicrosPerDelivery, b?.cpuMicrosPerDelivery)],
    ['server CPU %', o?.cpu[0].cpuPercent, b?.cpu[0].cpuPercent, ratio(o?.cpu[0].cpuPercent, b?.cpu[0].cpuPercent)],
    [`max deliveries/s with p99 <= ${p.p99LimitMs} ms`, peak(ours), peak(bare), ratio(peak(ours), peak(bare))],
    ['errors', ours.steps.reduce((a, s) => a + s.errors, 0), bare.steps.reduce((a, s) => a + s.errors, 0), null],
  ];
  const stepRows = p.deliveryTargets.map((t) => {
    const so = ours.steps.find((s) => s.targetDeliveriesPerSec === t);
    const sb = bare.steps.find((s) => s.targetDeliveriesPerSec === t);
    const cell = (s) => (s ? `${s.deliveriesPerSec}/s p99 ${s.latency.p99Ms} ms ${s.cpuMicrosPerDelivery} µs` : '-');
    return [`target ${t}/s`, cell(so), cell(sb), ratio(so?.cpuMicrosPerDelivery, sb?.cpuMicrosPerDelivery)];
  });
  const table = printTable(`fan-out: ${p.clients} clients in one room`, rows);
  const stepsTable = printTable('fan-out steps (deliveries/s, p99, CPU µs/delivery)', stepRows, ['step', 'ours', 'bare', 'CPU/delivery ours/bare']);
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
    bare,
    variants: Object.fromEntries(variants.map((v, i) => [v, others[i]])),
    headline: { ours: o, bare: b },
    table: `${table}\n${stepsTable}${variantsTable}`,
  };
  result.file = writeResult('fanout', result);
  return result;
}
