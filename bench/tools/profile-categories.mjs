#!/usr/bin/env node
/**
 * node bench/tools/profile-categories.mjs <file.cpuprofile> --window FROM,TO [--per N]
 * Where a V8 CPU profile's time went between FROM and TO seconds after its start, by part of the server:
 * each sample goes to the nearest frame (from the leaf up) of one of the server's modules or of a
 * library (node:internal and native frames are passed over, so a hash or a write counts for whoever
 * called it), except the socket write system calls, the garbage collector and idle, kept apart.
 * With --per N, also microseconds per N (e.g. per connect: the connects made in the window).
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const [from, to] = (arg('--window') ?? '0,1e9').split(',').map((x) => Number(x) * 1e6);
const per = Number(arg('--per') ?? 0);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** [category, test on (url, functionName)], the first that matches a frame wins. */
const RULES = [
  ['JWT verification (auth/verify)', (u) => u.includes('/dist/auth/')],
  ['admission and limits (limits/)', (u) => u.includes('/dist/limits/')],
  ['connection registry (engine/, ioredis)', (u) => u.includes('/dist/engine/') || u.includes('/ioredis/') || u.includes('/redis-parser/')],
  ['metrics (prom-client, metrics.ts)', (u) => u.includes('/prom-client/') || u.endsWith('/dist/metrics.js')],
  ['handshake middleware (realtime/handshake)', (u) => u.includes('/dist/realtime/handshake')],
  ['connection setup and teardown (realtime/)', (u) => u.includes('/dist/realtime/')],
  ['transport tuning (transport-tuning/)', (u) => u.includes('/dist/transport-tuning/')],
  ['other server modules', (u) => u.includes('/packages/server/dist/')],
  ['Socket.IO (socket.io, parser, adapter)', (u) => /\/(socket\.io|socket\.io-parser|socket\.io-adapter|@socket\.io\/[^/]+)\//.test(u)],
  ['Engine.IO (engine.io, parser)', (u) => /\/(engine\.io|engine\.io-parser)\//.test(u)],
  ['WebSocket (ws)', (u) => u.includes('/node_modules/ws/')],
  ['debug, cors, other libraries', (u) => u.includes('/node_modules/')],
  ['HTTP upgrade and TCP (node:http, node:net)', (u) => /^node:(_http_|http|net)/.test(u)],
  ['bench probe', (u) => u.includes('/bench/')],
];
const SPECIAL = new Map([
  ['writev', 'socket writes (writev, writeUtf8String)'],
  ['writeUtf8String', 'socket writes (writev, writeUtf8String)'],
  ['writeBuffer', 'socket writes (writev, writeUtf8String)'],
  ['(garbage collector)', 'garbage collector'],
  ['(idle)', 'idle'],
  ['(program)', 'V8 (program)'],
]);
const cache = new Map();
function categoryOf(id) {
  if (cache.has(id)) return cache.get(id);
  const leaf = byId.get(id);
  let cat = SPECIAL.get(leaf.callFrame.functionName);
  for (let at = id; !cat && at !== undefined; at = parent.get(at)) {
    const url = byId.get(at).callFrame.url ?? '';
    cat = RULES.find(([, test]) => test(url))?.[0];
  }
  cat ??= 'other (node internals)';
  cache.set(id, cat);
  return cat;
}
const sums = new Map();
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at < from || at > to) continue;
  const c = categoryOf(prof.samples[i]);
  sums.set(c, (sums.get(c) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const busy = [...sums].filter(([c]) => c !== 'idle').reduce((a, [, v]) => a + v, 0);
process.stdout.write(`busy ${(busy / 1e6).toFixed(2)} s in the window${per ? `, ${(busy / per).toFixed(1)} µs per ${per}th` : ''}\n`);
for (const [c, v] of [...sums].sort((a, b) => b[1] - a[1])) {
  if (c === 'idle') continue;
  process.stdout.write(`${((v / busy) * 100).toFixed(1).padStart(5)}%  ${per ? `${(v / per).toFixed(1).padStart(7)} µs  ` : ''}${c}\n`);
}
