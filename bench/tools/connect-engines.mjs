#!/usr/bin/env node
/**
 * What the Redis engine adds to a handshake: `node bench/tools/connect-engines.mjs [clients=8000]`.
 * Our server on one instance, with the embedded engine and then on a private redis-server (order
 * alternating over two rounds, two timed connects each after a warm-up), 40 handshakes in flight as
 * in the `connect` scenario. Prints connects/s, server CPU µs per connect (with its disconnect) and
 * Redis CPU µs per connect for each.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { BENCH_SECRET, BENCH_TENANT, startOurs, startRedis } from '../lib/servers.mjs';
const count = Number(process.argv[2] ?? 8000);
const redis = await startRedis();
async function round(s, tag) {
  const fleet = new ClientFleet(`x-${tag}`, { url: s.url, tenantId: BENCH_TENANT, addresses: sourceAddresses(), count, indexBase: 0, userPrefix: `${tag}-`, concurrency: 40, secret: BENCH_SECRET });
  await fleet.prepare();
  const c0 = await s.probe();
  const r0 = redis.cpuMicros();
  const t0 = Date.now();
  const res = await fleet.connect();
  const ms = Date.now() - t0;
  const c1 = await s.probe();
  const r1 = redis.cpuMicros();
  await fleet.close();
  await sleep(1500);
  const us = c1.cpu.userMicros + c1.cpu.systemMicros - c0.cpu.userMicros - c0.cpu.systemMicros;
  return `${tag}: ${Math.round((res.connected * 1000) / ms)}/s, ${(us / res.connected).toFixed(0)} µs/connect, redis ${((r1 - r0) / res.connected).toFixed(0)} µs`;
}
for (const k of [0, 1]) {
  for (const side of k === 0 ? ['memory', 'redis'] : ['redis', 'memory']) {
    const s = await startOurs(side === 'redis' ? { REDIS_URL: redis.url } : {}, { name: `ours-${side}` });
    await round(s, `${side}-warm`).catch(() => {});
    console.log(await round(s, `${side}-r${k}`));
    console.log(await round(s, `${side}-r${k}b`));
    await s.stop();
  }
}
await redis.stop();
