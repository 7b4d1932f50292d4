import { SignJWT } from 'jose';
import { WireClient } from './lib/wire-client.mjs';
import { BENCH_SECRET, startOurs, startRedis } from './lib/servers.mjs';
const redis = process.argv[2] === 'redis' ? await startRedis() : undefined;
const srv = await startOurs(redis ? { REDIS_URL: redis.url } : {});
const tok = (i) => new SignJWT({ tenantId: 'bench' }).setProtectedHeader({ alg: 'HS256' }).setSubject(`u${i}`).setExpirationTime('1h').sign(new TextEncoder().encode(BENCH_SECRET));
const lat = [];
const clients = [];
for (let i = 0; i < 300; i++) {
  const c = new WireClient(srv.url, { timeoutMs: 10000, auth: { token: await tok(i) }, onRoomMessage() {} });
  const t = performance.now();
  try { await c.connect(); } catch (e) { console.log('err', e.message, e.data); }
  lat.push(performance.now() - t);
  clients.push(c);
}
lat.sort((a, b) => a - b);
console.log('p50', lat[150].toFixed(1), 'p90', lat[270].toFixed(1), 'max', lat[299].toFixed(1));
for (const c of clients) c.disconnect();
await srv.stop(); await redis?.stop(); process.exit(0);
