/**
 * Preloaded into every measured server process (`node --expose-gc --import bench/lib/probe.mjs ...`).
 * Answers the bench over the IPC channel with the process's own CPU time and memory,
 * optionally after a full garbage collection, so that both servers are measured the same way
 * and neither needs a debug endpoint for it. It also reports what held the event loop up
 * since the previous probe: garbage-collection pauses (count, total, longest) and the event
 * loop's stalls (how much later than due a 5 ms timer ran: p99 and longest): a latency spike seen by the clients can be
 * told apart from a server that was busy or paused.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

if (typeof process.send === 'function') {
  const gc = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      if (e.duration > gc.maxMs) gc.maxMs = e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const RESOLUTION_MS = 5;
  const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loop.enable();
  // The histogram holds the intervals between the timer's runs: what exceeds the resolution is the stall.
  const stallMs = (ns) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
  process.on('message', (msg) => {
    if (!msg || msg.type !== 'probe') return;
    const since = {
      gcCount: gc.count,
      gcTotalMs: Math.round(gc.totalMs * 100) / 100,
      gcMaxMs: Math.round(gc.maxMs * 100) / 100,
      loopStallP99Ms: loop.count > 0 ? stallMs(loop.percentile(99)) : null,
      loopStallMaxMs: loop.count > 0 ? stallMs(loop.max) : null,
    };
    gc.count = 0;
    gc.totalMs = 0;
    gc.maxMs = 0;
    loop.reset();
    if (msg.gc && typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    process.send({
      type: 'probe',
      id: msg.id,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, arrayBuffersBytes: mem.arrayBuffers },
      cpu: { userMicros: cpu.user, systemMicros: cpu.system },
      since,
    });
  });
  // The channel must not keep a server alive once it wants to exit.
  process.channel?.unref();
}
