#!/usr/bin/env node
/**
 * npm run bench [-- <scenario...>] [--smoke] [--cpu-prof DIR]
 * Scenarios: fanout, idle, chat, cluster (default: all, in that order).
 * Each scenario runs our server and the bare Socket.IO baseline one after the other,
 * prints a table (ours, bare, ratio) and writes bench/results/<scenario>-<timestamp>.json.
 */
import { runScenarios, SCENARIOS } from './lib/suite.mjs';
import { killAll } from './lib/servers.mjs';

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const profIdx = args.indexOf('--cpu-prof');
const cpuProfDir = profIdx >= 0 ? args[profIdx + 1] : undefined;
const names = args.filter((a, i) => !a.startsWith('--') && (profIdx < 0 || i !== profIdx + 1));
const unknown = names.filter((n) => n !== 'all' && !SCENARIOS.includes(n));
if (unknown.length) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')}, all)\n`);
  process.exit(2);
}
const chosen = names.length === 0 || names.includes('all') ? SCENARIOS : names;

// A hard bound on the whole run, whatever happens.
const limit = setTimeout(() => {
  process.stderr.write('bench: time limit reached, stopping\n');
  killAll();
  process.exit(3);
}, (smoke ? 5 : 60) * 60_000);
limit.unref();

try {
  await runScenarios(chosen, { smoke, ...(cpuProfDir && { cpuProfDir }) });
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
}
