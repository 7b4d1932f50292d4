#!/usr/bin/env node
/**
 * node bench/tools/profile-top.mjs <file.cpuprofile> [n=40]
 * Self time by function and by package (node_modules/<pkg>, packages/<pkg>, node:internal, (gc) ...).
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const top = Number(process.argv[3] ?? 40);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
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
