#!/usr/bin/env node
/**
 * node bench/tools/heap-classes.mjs <ours|floor|bare> [connections=2000] [out-dir=/tmp] [--why kind,kind...] [--redis]
 * Starts one server (with --redis: on a private redis-server) with --heapsnapshot-signal, takes a snapshot with no client and one
 * with N idle connections, and prints which object kinds grew, per connection
 * (count and self bytes), largest first. With --why, prints the retainer chains of a
 * few objects of each kind named (as printed, e.g. "object:IncomingMessage").
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startFloor, startOurs, startRedis } from '../lib/servers.mjs';

const whyAt = process.argv.indexOf('--why');
const why = whyAt > 0 ? process.argv[whyAt + 1].split(',') : [];
const withRedis = process.argv.includes('--redis');
const positional = process.argv.slice(2).filter((a, i, all) => a !== '--why' && a !== '--redis' && all[i - 1] !== '--why');
const impl = positional[0] ?? 'ours';
const n = Number(positional[1] ?? 2000);
const dir = positional[2] ?? '/tmp';

function kindOf(type, name) {
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return `${type}:(string)`;
  if (type === 'code') return 'code:(code)';
  if (type === 'number') return 'number:(heap number)';
  return `${type}:${name.slice(0, 80)}`;
}

/** Retainer chains (up to 8 steps) of a few objects of the given kinds. */
function retainers(snap, kinds) {
  const f = snap.snapshot.meta.node_fields;
  const ef = snap.snapshot.meta.edge_fields;
  const types = snap.snapshot.meta.node_types[0];
  const etypes = snap.snapshot.meta.edge_types[0];
  const [iType, iName, iEdges] = ['type', 'name', 'edge_count'].map((k) => f.indexOf(k));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((k) => ef.indexOf(k));
  const stride = f.length;
  const estride = ef.length;
  const nodes = snap.nodes;
  const edges = snap.edges;
  const count = nodes.length / stride;
  const retainedBy = Array.from({ length: count }, () => []);
  let e = 0;
  for (let i = 0; i < count; i++) {
    const ec = nodes[i * stride + iEdges];
    for (let k = 0; k < ec; k++, e += estride) {
      const et = etypes[edges[e + eType]];
      if (et === 'weak' || et === 'shortcut') continue;
      const name = et === 'element' || et === 'hidden' ? `[${edges[e + eName]}]` : snap.strings[edges[e + eName]];
      retainedBy[edges[e + eTo] / stride].push([i, name]);
    }
  }
  const label = (i) => kindOf(types[nodes[i * stride + iType]], snap.strings[nodes[i * stride + iName]]);
  const iId = f.indexOf('id');
  for (const kind of kinds) {
    // Objects that are new since the first snapshot (node ids are stable within a process), a few at random.
    const fresh = [];
    for (let i = 0; i < count; i++) if (label(i) === kind && !firstIds.has(nodes[i * stride + iId])) fresh.push(i);
    const hits = Array.from({ length: Math.min(4, fresh.length) }, () => fresh[Math.floor(Math.random() * fresh.length)]);
    for (const h of hits) {
      const chain = [label(h)];
      let cur = h;
      const seen = new Set([cur]);
      for (let d = 0; d < 8; d++) {
        const r = retainedBy[cur].find(([j]) => !seen.has(j));
        if (!r) break;
        chain.push(`<-${r[1]}- ${label(r[0])}`);
        cur = r[0];
        seen.add(cur);
      }
      process.stdout.write(`why ${chain.join(' ')}\n`);
    }
  }
}

const firstIds = new Set();

function classes(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  if (why.length && file !== lastFile) {
    const idAt = snap.snapshot.meta.node_fields.indexOf('id');
    const stride = snap.snapshot.meta.node_fields.length;
    for (let i = idAt; i < snap.nodes.length; i += stride) firstIds.add(snap.nodes[i]);
  }
  if (why.length && file === lastFile) retainers(snap, why);
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((k) => f.indexOf(k));
  const stride = f.length;
  const out = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + iType]];
    let name = snap.strings[nodes[i + iName]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'code') name = '(code)';
    else if (type === 'number') name = '(heap number)';
    const key = `${type}:${name.slice(0, 80)}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += nodes[i + iSize];
    out.set(key, e);
  }
  return out;
}

async function snapshot(server) {
  const before = new Set(readdirSync(dir).filter((x) => x.endsWith('.heapsnapshot')));
  await server.probe(true);
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(200);
    const now = readdirSync(dir).filter((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    if (now.length) {
      // Written when its size stops changing.
      const file = `${dir}/${now[0]}`;
      let last = -1;
      for (;;) {
        await sleep(500);
        const size = statSync(file).size;
        if (size === last && size > 0) return file;
        last = size;
      }
    }
  }
  throw new Error('no snapshot written');
}

let lastFile;
const opts = { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] };
const redis = withRedis ? await startRedis() : undefined;
if (redis?.error) throw new Error(redis.error);
const env = redis ? { REDIS_URL: redis.url } : {};
const server = await { ours: startOurs, floor: startFloor, bare: startBare }[impl](env, opts);
const fleet = new ClientFleet('heap', { url: server.url, tenantId: BENCH_TENANT, addresses: sourceAddresses(), count: n, userPrefix: 'heap-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
try {
  const warm = new ClientFleet('warm', { url: server.url, tenantId: BENCH_TENANT, addresses: sourceAddresses(), count: 10, userPrefix: 'warm-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
  await warm.connect();
  await warm.close();
  await sleep(1000);
  const a = classes(await snapshot(server));
  const c = await fleet.connect();
  await sleep(1000);
  lastFile = await snapshot(server);
  const b = classes(lastFile);
  const rows = [];
  for (const [k, v] of b) {
    const o = a.get(k) ?? { count: 0, bytes: 0 };
    const dBytes = v.bytes - o.bytes;
    if (dBytes > n * 8) rows.push([k, (v.count - o.count) / c.connected, dBytes / c.connected]);
  }
  rows.sort((x, y) => y[2] - x[2]);
  let total = 0;
  for (const r of rows) total += r[2];
  process.stdout.write(`${impl}: ${c.connected} connections, ${total.toFixed(0)} B/conn in the kinds listed\n`);
  for (const r of rows.slice(0, 45)) process.stdout.write(`${r[2].toFixed(0).padStart(7)} B ${r[1].toFixed(2).padStart(7)} x  ${r[0]}\n`);
} finally {
  await fleet.close();
  await server.stop();
  await redis?.stop();
}
