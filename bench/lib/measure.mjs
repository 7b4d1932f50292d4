/** One measured step: senders send at a fixed rate; receivers record deliveries and latency; servers report CPU. */
import { summary, round } from './hist.mjs';
import { merge, newHist } from './hist.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU time of each server so far; with a probe, also what held its event loop up since its previous probe. */
async function cpuOf(servers) {
  return Promise.all(
    servers.map(async (s) => {
      if (!s.probe) return { micros: s.cpuMicros() ?? 0 };
      const p = await s.probe(false);
      return { micros: p.cpu.userMicros + p.cpu.systemMicros, systemMicros: p.cpu.systemMicros, since: p.since };
    }),
  );
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
    cpuMicros: cpu1[i].micros - cpu0[i].micros,
    cpuPercent: round(((cpu1[i].micros - cpu0[i].micros) / 1000 / wallMs) * 100, 1),
    // Share of that CPU time spent in the kernel (socket writes and the loopback delivery they trigger).
    ...(cpu1[i].systemMicros !== undefined && {
      systemShare: cpu1[i].micros > cpu0[i].micros ? round((cpu1[i].systemMicros - cpu0[i].systemMicros) / (cpu1[i].micros - cpu0[i].micros), 2) : null,
    }),
    // Garbage-collection pauses and event-loop stalls over the step (the probe before it reset them).
    ...(cpu1[i].since && { pauses: cpu1[i].since }),
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
    // How evenly the senders kept their pace (see worker.mjs): bunched sends queue at the server.
    senderPace: sent.pace,
    inboundPerSec: round(sent.acked / (opts.durationMs / 1000), 0),
    received,
    deliveredFraction: expected ? round(received / expected, 3) : undefined,
    deliveriesPerSec: round(received / (opts.durationMs / 1000), 0),
    latency: lat,
    // Each receiving fleet's own latency (e.g. the subscribers of each instance).
    ...(after.length > 1 && { latencyByReceiver: after.map((a) => summary(a.hist)) }),
    cpu,
    loadgenCpuPercent: round((loadgenCpuMicros / 1000 / wallMs) * 100, 1),
    writeSyscallsPerDelivery: received > 0 && writes > 0 ? round(writes / received, 3) : null,
    cpuMicrosPerDelivery: received > 0 ? round(serverCpu / received, 2) : null,
    errors: errors + senderErrors,
    errorSamples: [...new Set(after.flatMap((a) => a.errorSamples))].slice(0, 5),
  };
}

/** ", ours gc 12 ms (longest 4), loop stalled up to 9 ms" for each server of a step that has probe figures ("" otherwise). */
export function pausesText(step) {
  return step.cpu
    .filter((c) => c.pauses)
    .map(({ name, pauses: p }) => `, ${name} gc ${Math.round(p.gcTotalMs)} ms (longest ${Math.round(p.gcMaxMs)}), loop stalled up to ${p.loopStallMaxMs ?? '-'} ms`)
    .join('');
}
