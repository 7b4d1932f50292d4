#!/usr/bin/env node
/**
 * node bench/tools/profile-top.mjs <file.cpuprofile> [n=40] [--callers functionName]
 * Self time by function and by package (node_modules/<pkg>, packages/<pkg>, node:internal, (gc) ...);
 * with --callers, the call stacks (6 frames up) that lead to a function, by time;
 * --window FROM,TO keeps the samples between FROM and TO seconds after the start
 * (--timeline prints how busy each second was, to choose one).
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const top = Number(process.argv[3] ?? 40);
const callersAt = process.argv.indexOf('--callers');
const callersOf = callersAt > 0 ? process.argv[callersAt + 1] : undefined;
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
const windowAt = process.argv.indexOf('--window');
const [from, to] = windowAt > 0 ? process.argv[windowAt + 1].split(',').map((x) => Number(x) * 1e6) : [0, Infinity];
const idleId = prof.nodes.find((n) => n.callFrame.functionName === '(idle)')?.id;
const timeline = [];
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  at += dt[i] ?? 0;
  const sec = Math.floor(at / 1e6);
  timeline[sec] ??= [0, 0];
  timeline[sec][id === idleId ? 1 : 0] += dt[i] ?? 0;
  if (at < from || at > to) continue;
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
if (process.argv.includes('--timeline')) {
  for (const [sec, [busy, idle]] of timeline.entries()) if (busy + idle > 0) process.stdout.write(`${String(sec).padStart(4)} s  busy ${((busy / (busy + idle)) * 100).toFixed(0).padStart(3)}%\n`);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fns = new Map();
const pkgs = new Map();
const pkgOf = (url) => {
  if (!url) return '(native)';
  let m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1];
  m = url.match(/packages\/([^/]+)\//);
  if (m) return `packages/${m[1]}`;
  if (url.startsWith('node:')) return 'node:internal';
  return url.split('/').slice(-2).join('/');
};
for (const [id, t] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${(cf.url || '').replace(/^.*node_modules\//, '').replace(/^.*\/packages\//, 'packages/')}:${cf.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + t);
  const p = cf.url ? pkgOf(cf.url) : cf.functionName.startsWith('(') ? cf.functionName : '(native)';
  pkgs.set(p, (pkgs.get(p) ?? 0) + t);
}
const pct = (t) => `${((t / total) * 100).toFixed(1).padStart(5)}%`;
process.stdout.write(`total ${(total / 1e6).toFixed(2)} s sampled\n\n-- by package --\n`);
for (const [k, t] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`${pct(t)}  ${k}\n`);
process.stdout.write('\n-- by function (self) --\n');
for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(t)}  ${k}\n`);

if (callersOf) {
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map();
  for (const [id, t] of self) {
    let n = byId.get(id);
    // Attribute the time of the function and of everything it calls.
    let cur = id;
    let hit;
    while (cur !== undefined) {
      const node = byId.get(cur);
      if (node.callFrame.functionName === callersOf) {
        hit = cur;
        break;
      }
      cur = parent.get(cur);
    }
    if (hit === undefined) continue;
    const chain = [];
    cur = parent.get(hit);
    for (let d = 0; d < 6 && cur !== undefined; d++) {
      n = byId.get(cur);
      chain.push(`${n.callFrame.functionName || '(anon)'}@${(n.callFrame.url || '').split('/').slice(-1)[0]}:${n.callFrame.lineNumber + 1}`);
      cur = parent.get(cur);
    }
    const k = chain.join(' < ');
    stacks.set(k, (stacks.get(k) ?? 0) + t);
  }
  process.stdout.write(`\n-- callers of ${callersOf} (inclusive time) --\n`);
  for (const [k, t] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`${pct(t)}  ${k}\n`);
}
