#!/usr/bin/env node
/**
 * npm run bench [-- <scenario...>] [--smoke] [--cpu-prof DIR] [--tuning T] [--compare-tuning T]...
 * Scenarios: fanout, idle, chat, cluster (default: all, in that order).
 * --tuning T: our server's TRANSPORT_TUNING (on, off, or patch names; default on).
 * --compare-tuning T (repeatable): in fanout and idle, our server with TRANSPORT_TUNING=T measured
 * too, in the same rotation (fanout) or right after (idle), to see what the patches earn; `-name`
 * stands for every patch but that one.
 * Each scenario runs our server and the bare Socket.IO baseline one after the other,
 * prints a table (ours, bare, ratio) and writes bench/results/<scenario>-<timestamp>.json.
 */
import { runScenarios, SCENARIOS } from './lib/suite.mjs';
import { killAll } from './lib/servers.mjs';

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
/** Options taking a value: their values, in order, and the indexes they occupy. */
const valued = ['--cpu-prof', '--tuning', '--compare-tuning'];
const taken = new Set();
const values = (flag) =>
  args.flatMap((a, i) => {
    if (a !== flag) return [];
    taken.add(i + 1);
    if (args[i + 1] === undefined) {
      process.stderr.write(`${flag} needs a value\n`);
      process.exit(2);
    }
    return [args[i + 1]];
  });
const [cpuProfDir] = values('--cpu-prof');
const [tuning] = values('--tuning');
const variants = values('--compare-tuning');
const unknownFlags = args.filter((a, i) => a.startsWith('--') && !taken.has(i) && a !== '--smoke' && !valued.includes(a));
if (unknownFlags.length) {
  process.stderr.write(`unknown option(s): ${unknownFlags.join(', ')}\n`);
  process.exit(2);
}
const names = args.filter((a, i) => !a.startsWith('--') && !taken.has(i));
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
  await runScenarios(chosen, { smoke, ...(cpuProfDir && { cpuProfDir }), ...(tuning && { tuning }), variants });
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
}
