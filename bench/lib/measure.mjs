/** One measured step: senders send at a fixed rate; receivers record deliveries and latency; servers report CPU. */
import { summary, round } from './hist.mjs';
import { merge, newHist } from './hist.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function cpuOf(servers) {
  const r = await Promise.all(servers.map(async (s) => (s.probe ? (await s.probe(false)).cpu : { userMicros: s.cpuMicros() ?? 0, systemMicros: 0 })));
  return r.map((c) => c.userMicros + c.systemMicros);
}

/**
 * opts: { servers: [{name, probe?|cpuMicros}], senders: ClientFleet, receivers: ClientFleet[],
 *         rate (messages/s in total), durationMs, persistent?, phase, settleMs?, membersPerMessage? }
 */
export async function measureStep(opts) {
  const fleets = [...new Set([opts.senders, ...opts.receivers])];
  await Promise.all(fleets.map((f) => f.phase(opts.phase)));
  const before = await Promise.all(opts.receivers.map((f) => f.collect()));
  const sys0 = opts.servers.map((s) => s.syscalls?.() ?? null);
  const cpu0 = await cpuOf(opts.servers);
  const t0 = performance.now();
  const sent = await opts.senders.send({ rate: opts.rate, durationMs: opts.durationMs, persistent: opts.persistent === true });
  await sleep(opts.settleMs ?? 300);
  const wallMs = performance.now() - t0;
  const cpu1 = await cpuOf(opts.servers);
  const sys1 = opts.servers.map((s) => s.syscalls?.() ?? null);
  const after = await Promise.all(opts.receivers.map((f) => f.collect()));
  const hist = newHist();
  for (const a of after) merge(hist, a.hist);
  const received = after.reduce((a, x) => a + x.received, 0);
  const errors = after.reduce((a, x) => a + x.errors, 0) - before.reduce((a, x) => a + x.errors, 0);
  const senderErrors = opts.receivers.includes(opts.senders) ? 0 : (await opts.senders.collect()).errors;
  const loadgenCpuMicros = after.reduce((a, x) => a + x.cpuMicros, 0) - before.reduce((a, x) => a + x.cpuMicros, 0);
  const cpu = opts.servers.map((s, i) => ({
    name: s.name,
    cpuMicros: cpu1[i] - cpu0[i],
    cpuPercent: round(((cpu1[i] - cpu0[i]) / 1000 / wallMs) * 100, 1),
    ...(sys0[i] && sys1[i] && { writeSyscalls: sys1[i].writes - sys0[i].writes, readSyscalls: sys1[i].reads - sys0[i].reads }),
  }));
  const writes = cpu.reduce((a, c) => a + (c.writeSyscalls ?? 0), 0);
  const serverCpu = cpu.filter((c) => !c.name.startsWith('redis')).reduce((a, c) => a + c.cpuMicros, 0);
  const expected = opts.membersPerMessage ? sent.sent * opts.membersPerMessage : undefined;
  const lat = summary(hist);
  return {
    phase: opts.phase,
    targetMessagesPerSec: opts.rate,
    targetDeliveriesPerSec: opts.membersPerMessage ? opts.rate * opts.membersPerMessage : undefined,
    sent: sent.sent,
    acked: sent.acked,
    ackErrors: sent.ackErrors,
    skipped: sent.skipped,
    inboundPerSec: round(sent.acked / (opts.durationMs / 1000), 0),
    received,
    deliveredFraction: expected ? round(received / expected, 3) : undefined,
    deliveriesPerSec: round(received / (opts.durationMs / 1000), 0),
    latency: lat,
    cpu,
    loadgenCpuPercent: round((loadgenCpuMicros / 1000 / wallMs) * 100, 1),
    writeSyscallsPerDelivery: received > 0 && writes > 0 ? round(writes / received, 3) : null,
    cpuMicrosPerDelivery: received > 0 ? round(serverCpu / received, 2) : null,
    errors: errors + senderErrors,
    errorSamples: [...new Set(after.flatMap((a) => a.errorSamples))].slice(0, 5),
  };
}
