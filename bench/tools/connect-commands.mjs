#!/usr/bin/env node
/**
 * The Redis commands a handshake and a disconnect cost, by command, on three of our instances sharing a
 * private redis-server: `node bench/tools/connect-commands.mjs [clients=1200] [concurrency=40]`.
 * The clients connect as in the `connect` scenario (ClientFleet, one user each, `concurrency` in flight
 * per load worker), then disconnect. Figures: `INFO commandstats` calls per connect (and per
 * disconnect) of each command, script calls (EVALSHA) apart from the commands they run.
 */
import { Redis } from 'ioredis';
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { BENCH_SECRET, BENCH_TENANT, startRedis } from '../lib/servers.mjs';
import { startInstances } from '../scenarios/cluster.mjs';

const [clients = 1200, concurrency = 40] = process.argv.slice(2).map(Number);
const redis = await startRedis();
if (redis.error) throw new Error(redis.error);
const admin = new Redis(redis.url);
const stats = async () => {
  const out = {};
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'config') out[m[1]] = +(Number(m[2]) / clients).toFixed(3);
  return out;
};
const instances = await startInstances('ours', 3, redis.url, {});
try {
  const addresses = sourceAddresses();
  const per = Math.ceil(clients / instances.length);
  const fleets = instances.map((s, i) => new ClientFleet(`cmds-${i}`, { url: s.url, tenantId: BENCH_TENANT, addresses, count: per, indexBase: i * per, userPrefix: 'cmds-', concurrency, secret: BENCH_SECRET }));
  await Promise.all(fleets.map((f) => f.prepare()));
  await sleep(1500);
  await admin.config('RESETSTAT');
  const results = await Promise.all(fleets.map((f) => f.connect()));
  const connected = results.reduce((a, r) => a + r.connected, 0);
  const onConnect = await stats();
  await sleep(500);
  await admin.config('RESETSTAT');
  await Promise.all(fleets.map((f) => f.close()));
  await sleep(1500);
  const onDisconnect = await stats();
  console.log(JSON.stringify({ clients, connected, perConnect: onConnect, perDisconnect: onDisconnect }, null, 1));
} finally {
  await Promise.allSettled(instances.map((s) => s.stop()));
  admin.disconnect();
  await redis.stop();
}
