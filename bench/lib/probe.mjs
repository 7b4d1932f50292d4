/**
 * Preloaded into every measured server process (`node --expose-gc --import bench/lib/probe.mjs ...`).
 * Answers the bench over the IPC channel with the process's own CPU time and memory,
 * optionally after a full garbage collection, so that both servers are measured the same way
 * and neither needs a debug endpoint for it.
 */
if (typeof process.send === 'function') {
  process.on('message', (msg) => {
    if (!msg || msg.type !== 'probe') return;
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
    });
  });
  // The channel must not keep a server alive once it wants to exit.
  process.channel?.unref();
}
