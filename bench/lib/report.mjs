/** Tables on stdout and JSON files in bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

export function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryBytes: totalmem(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
  };
}

export function ratio(a, b, digits = 2) {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  const f = 10 ** digits;
  return Math.round((a / b) * f) / f;
}

const fmt = (v) => (v === null || v === undefined ? '-' : typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : String(v)) : String(v));

/** rows: [label, ours, bare, ratio, note?] */
export function printTable(title, rows, header = ['metric', 'ours', 'bare', 'ours/bare']) {
  const all = [header, ...rows.map((r) => r.map(fmt))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r) => `| ${header.map((_, i) => (r[i] ?? '').padEnd(widths[i])).join(' | ')} |`;
  const out = [`\n## ${title}`, line(all[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...all.slice(1).map(line)].join('\n');
  process.stdout.write(`${out}\n`);
  return out;
}

export function writeResult(scenario, result) {
  mkdirSync(RESULTS, { recursive: true });
  const ts = new Date().toISOString().replace(/[:.]/g, '-');
  const file = `${RESULTS}${scenario}-${ts}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
  return file;
}
