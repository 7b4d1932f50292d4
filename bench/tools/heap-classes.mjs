#!/usr/bin/env node
/**
 * node bench/tools/heap-classes.mjs <ours|bare> [connections=2000] [out-dir=/tmp]
 * Starts one server with --heapsnapshot-signal, takes a snapshot with no client and one
 * with N idle connections, and prints which object kinds grew, per connection
 * (count and self bytes), largest first.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { sleep } from '../lib/measure.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs } from '../lib/servers.mjs';

const impl = process.argv[2] ?? 'ours';
const n = Number(process.argv[3] ?? 2000);
const dir = process.argv[4] ?? '/tmp';

function classes(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
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

const opts = { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] };
const server = impl === 'ours' ? await startOurs({}, opts) : await startBare({}, opts);
const fleet = new ClientFleet('heap', { url: server.url, tenantId: BENCH_TENANT, addresses: sourceAddresses(), count: n, userPrefix: 'heap-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
try {
  const warm = new ClientFleet('warm', { url: server.url, tenantId: BENCH_TENANT, addresses: sourceAddresses(), count: 10, userPrefix: 'warm-', ...(impl === 'ours' && { secret: BENCH_SECRET }) });
  await warm.connect();
  await warm.close();
  await sleep(1000);
  const a = classes(await snapshot(server));
  const c = await fleet.connect();
  await sleep(1000);
  const b = classes(await snapshot(server));
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
}
