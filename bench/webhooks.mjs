#!/usr/bin/env node
/**
 * npm run bench:webhooks [-- --redis] [--clients=N] [--rounds=N] [--rooms=N]
 *
 * What webhooks cost and how fast they arrive: the same join/leave churn against our server with
 * webhooks off, then on (every event type but message.published to one node:http receiver in this
 * process, WEBHOOK_LEAVE_GRACE=0 so every leave is sent). Prints joins+leaves acknowledged per second
 * for both, the events received (each id once), their delay from the change (`time`) to arrival
 * (p50, p99, max: batching included) and how long after the last acknowledgement the last event
 * arrived. --redis runs both on a private redis-server instead of the embedded engine.
 */
import { createServer } from 'node:http';
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';
import { BENCH_SECRET, BENCH_TENANT, killAll, startOurs, startRedis } from './lib/servers.mjs';
import { machine, writeResult } from './lib/report.mjs';
import { newHist, record, summary } from './lib/hist.mjs';

const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const CLIENTS = arg('clients', 100);
const ROUNDS = arg('rounds', 20);
const ROOMS = arg('rooms', 20);
const useRedis = process.argv.includes('--redis');
const SECRET = 'bench-webhook-secret-0123456789abcdefghijklmnop';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The receiver: each event id once, with its delay from `time` to arrival. */
async function receiver() {
  const seen = new Set();
  const delay = newHist();
  let requests = 0;
  let lastAt = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const now = Date.now();
      for (const e of JSON.parse(Buffer.concat(chunks).toString()).events) {
        if (seen.has(e.id)) continue;
        seen.add(e.id);
        record(delay, now - Date.parse(e.time));
        lastAt = now;
      }
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks`,
    stats: () => ({ events: seen.size, requests, lastAt, delay: summary(delay) }),
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

const token = (sub) => new SignJWT({ tenantId: BENCH_TENANT }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(BENCH_SECRET));

function ack(socket, event, payload) {
  return new Promise((resolve, reject) => socket.timeout(30_000).emit(event, payload, (err, res) => (err ? reject(err) : res?.success === false ? reject(new Error(JSON.stringify(res))) : resolve(res))));
}

/** CLIENTS connections, each joining and leaving a room ROUNDS times; resolves with acknowledgements per second. */
async function churn(url) {
  const sockets = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: await token(`u${i}`) }, extraHeaders: { origin: 'https://app.example.com' } });
      await new Promise((resolve, reject) => (s.once('connection:established', resolve), s.once('connect_error', reject)));
      return s;
    }),
  );
  const started = performance.now();
  await Promise.all(
    sockets.map(async (s, i) => {
      for (let r = 0; r < ROUNDS; r++) {
        const room = `r${(i + r) % ROOMS}`;
        await ack(s, 'room:join', { room });
        await ack(s, 'room:leave', { room });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const doneAt = Date.now();
  for (const s of sockets) s.disconnect();
  return { opsPerSecond: Math.round((2 * CLIENTS * ROUNDS) / seconds), doneAt };
}

async function run(webhooks, redisUrl, rx) {
  const server = await startOurs({
    ...(redisUrl && { REDIS_URL: redisUrl }),
    ...(webhooks && { WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET, WEBHOOK_LEAVE_GRACE: '0', WEBHOOK_BATCH_WAIT: '100' }),
  }, { name: webhooks ? 'webhooks-on' : 'webhooks-off' });
  try {
    return await churn(server.url);
  } finally {
    if (webhooks) {
      // Until nothing more arrives for 2 s (the disconnects' user.offline included).
      for (let last = -1; last !== rx.stats().events; ) {
        last = rx.stats().events;
        await sleep(2000);
      }
    }
    await server.stop();
  }
}

try {
  const redis = useRedis ? await startRedis() : undefined;
  if (redis?.error) throw new Error(redis.error);
  const rx = await receiver();
  const off = await run(false, redis?.url, rx);
  const on = await run(true, redis?.url, rx);
  const got = rx.stats();
  const result = {
    engine: useRedis ? 'redis' : 'memory',
    clients: CLIENTS,
    rounds: ROUNDS,
    rooms: ROOMS,
    joinsAndLeavesPerSecond: { webhooksOff: off.opsPerSecond, webhooksOn: on.opsPerSecond },
    events: got.events,
    requests: got.requests,
    delayMs: got.delay,
    lastEventAfterLastAckMs: got.lastAt - on.doneAt,
    machine: machine(),
  };
  console.log(`webhooks (${result.engine} engine, ${CLIENTS} clients x ${ROUNDS} join+leave rounds over ${ROOMS} rooms)`);
  console.log(`  joins+leaves acknowledged/s: webhooks off ${off.opsPerSecond}, on ${on.opsPerSecond}`);
  console.log(`  events received (distinct ids): ${got.events} in ${got.requests} requests`);
  console.log(`  delay change -> receiver, ms: p50 ${got.delay.p50Ms} p99 ${got.delay.p99Ms} max ${got.delay.maxMs}`);
  console.log(`  last event ${result.lastEventAfterLastAckMs} ms after the last acknowledgement`);
  writeResult('webhooks', result);
  await rx.close();
  await redis?.stop();
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
}
