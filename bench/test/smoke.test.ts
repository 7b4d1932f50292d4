/**
 * The bench at CI size: every scenario path once, against our server and the bare
 * Socket.IO baseline, small N, no timing assertions — only that figures were produced
 * and are sane.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRANSPORT_PATCH_NAMES } from '../../packages/server/src/config.js';
import { tuningValue } from '../lib/servers.mjs';
import { runScenarios, type Climb, type Step } from '../lib/suite.mjs';

function expectDelivered(steps: Step[] | undefined): void {
  expect(steps?.length ?? 0).toBeGreaterThan(0);
  for (const s of steps ?? []) {
    expect(s.errors, s.errorSamples.join('; ')).toBe(0);
    expect(s.ackErrors).toBe(0);
    expect(s.received).toBeGreaterThan(0);
    expect(s.deliveriesPerSec).toBeGreaterThan(0);
    expect(s.latency.samples).toBeGreaterThan(0);
    // A delivery over loopback through a server takes some time: a zero is a broken clock or histogram.
    expect(s.latency.p50Ms ?? 0).toBeGreaterThan(0);
    expect(s.latency.p99Ms ?? -1).toBeGreaterThanOrEqual(s.latency.p50Ms ?? Infinity);
    // Percentiles are bucket midpoints (1 % precision), the maximum is exact.
    expect(s.latency.maxMs ?? -1).toBeGreaterThanOrEqual((s.latency.p99Ms ?? Infinity) * 0.99);
    expect(s.cpuMicrosPerDelivery ?? 0).toBeGreaterThan(0);
    expect(s.senderPace.maxPerTick).toBeGreaterThanOrEqual(1);
    // Sends that went out in a late tick are some of the sends.
    expect(s.senderPace.bunched).toBeLessThanOrEqual(s.sent);
    expect(s.acked).toBeLessThanOrEqual(s.sent);
    // Every Node server reports its pauses over the step (redis-server has no probe).
    for (const c of s.cpu.filter((x) => !x.name.startsWith('redis'))) {
      expect(c.pauses, c.name).toBeDefined();
      expect(c.systemShare === null || (c.systemShare! >= 0 && c.systemShare! <= 1), c.name).toBe(true);
      expect(c.pauses?.gcTotalMs).toBeGreaterThanOrEqual(c.pauses?.gcMaxMs ?? 0);
      expect(c.pauses?.loopStallMaxMs ?? -1).toBeGreaterThanOrEqual(c.pauses?.loopStallP99Ms ?? Infinity);
    }
  }
}

function expectClimbed(c: Climb | undefined): void {
  expect(c).toBeDefined();
  expectDelivered(c?.steps.slice(0, 1));
}

describe('bench options', () => {
  it('knows the server\'s transport patches: -name is every patch but that one', () => {
    expect(tuningValue('off')).toBe('off');
    expect(tuningValue('-write-batching')).toBe(TRANSPORT_PATCH_NAMES.filter((n) => n !== 'write-batching').join(','));
    expect(tuningValue('-none').split(',')).toEqual([...TRANSPORT_PATCH_NAMES]);
  });
});

describe('bench smoke run', () => {
  it('produces sane figures for every scenario, ours and bare (and ours untuned in fanout and idle)', { timeout: 480_000 }, async () => {
    const r = await runScenarios(['fanout', 'idle', 'chat', 'cluster', 'connect', 'storm'], { smoke: true, variants: ['off'] });

    expect(r.fanout && existsSync(r.fanout.file)).toBe(true);
    expectDelivered(r.fanout?.ours.steps);
    expectDelivered(r.fanout?.floor.steps);
    expectDelivered(r.fanout?.bare.steps);
    expectDelivered(r.fanout?.variants.off?.steps);
    expect(r.fanout?.variants.off?.steps.length).toBe(r.fanout?.ours.steps.length);

    for (const side of [r.idle?.ours, r.idle?.floor, r.idle?.bare, r.idle?.variants.off]) {
      expect(side?.errors).toBe(0);
      for (const l of side?.levels ?? []) {
        expect(l.connected).toBe(l.target);
        expect(Number.isFinite(l.heapPerConnBytes)).toBe(true);
        expect(Number.isFinite(l.rssPerConnBytes)).toBe(true);
      }
      expect(side?.levels.length).toBeGreaterThan(0);
    }
    const idleCluster = r.idle?.cluster;
    expect(idleCluster).toBeDefined();
    if (!idleCluster?.redisError) {
      for (const side of [idleCluster?.ours, idleCluster?.bare]) {
        expect(side?.errors).toBe(0);
        expect(side?.connected).toBe(side?.target);
        expect(side?.instances).toBe(3);
        expect(Number.isFinite(side?.heapPerConnBytes)).toBe(true);
        expect(side?.connectsPerSec).toBeGreaterThan(0);
      }
    }

    expectClimbed(r.chat?.ours.volatile);
    expectClimbed(r.chat?.ours.persistent);
    expectClimbed(r.chat?.bare.volatile);

    // Handshakes: every client connected on both sides, with figures.
    const hs = r.connect;
    expect(hs && existsSync(hs.file)).toBe(true);
    for (const side of [hs?.single.ours, hs?.single.bare, ...(hs?.cluster && 'ours' in hs.cluster ? [hs.cluster.ours, hs.cluster.bare] : [])]) {
      expect(side?.errors).toBe(0);
      expect(side?.connected).toBe(side?.target);
      expect(side?.connectsPerSec).toBeGreaterThan(0);
      expect(side?.serverCpuMicrosPerConnect).toBeGreaterThan(0);
    }

    // The storm: every client of the killed and the drained instance recovered through the SDK, nothing
    // lost, only retryable refusals seen (no timing asserted).
    const st = r.storm;
    if (st && !('redisError' in st)) {
      expect(existsSync(st.file)).toBe(true);
      for (const run of [st.withSpread, st.without]) {
        expect(run.moved).toBeGreaterThan(0);
        expect(run.stayed).toBeGreaterThan(0);
        expect(run.recoveredAll).toBe(true);
        expect(run.lost).toBe(0);
        expect(run.duplicates).toBe(0);
        expect(run.published.acked).toBeGreaterThan(0);
        for (const code of Object.keys(run.errorsByCode)) expect(['OVERLOADED', 'SHUTTING_DOWN', 'TRANSPORT_ERROR', 'INTERNAL'], code).toContain(code);
        expect(run.stableLatency.storm.samples).toBeGreaterThan(0);
      }
    }

    const cl = r.cluster;
    expect(cl && existsSync(cl.file)).toBe(true);
    if (cl?.redisError) return; // no redis-server on this machine: said in the table
    expectDelivered(cl?.bare?.fanout);
    expectDelivered(cl?.bare?.spreadFanout);
    // The spread steps give the latency of each instance's subscribers.
    for (const s of [...(cl?.bare?.spreadFanout ?? []), ...(cl?.ours?.spreadFanout ?? [])]) expect(s.latencyByReceiver?.length).toBe(2);
    expectClimbed(cl?.bare?.persistentChat);
    if (cl?.ours?.refused) expect(cl.ours.refused).toMatch(/REDIS_URL/);
    else {
      expectDelivered(cl?.ours?.fanout);
      expectDelivered(cl?.ours?.spreadFanout);
      expectClimbed(cl?.ours?.persistentChat);
    }
  });
});
