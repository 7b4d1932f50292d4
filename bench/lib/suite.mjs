/** The scenarios, full-size or smoke-sized. */
import { chat, CHAT_SMOKE } from '../scenarios/chat.mjs';
import { cluster, CLUSTER_SMOKE } from '../scenarios/cluster.mjs';
import { connect, CONNECT_SMOKE } from '../scenarios/connect.mjs';
import { fanout, FANOUT_SMOKE } from '../scenarios/fanout.mjs';
import { idle, IDLE_SMOKE } from '../scenarios/idle.mjs';
import { storm, STORM_SMOKE } from '../scenarios/storm.mjs';

export const SCENARIOS = ['fanout', 'idle', 'chat', 'cluster', 'connect', 'storm'];

/**
 * `tuning`: our server's TRANSPORT_TUNING; `variants`: more TRANSPORT_TUNING values of our server to
 * measure alongside in fanout and idle.
 */
export async function runScenarios(names, { smoke = false, cpuProfDir, tuning, variants = [] } = {}) {
  const opts = { ...(cpuProfDir && { cpuProfDir }), ...(tuning && { tuning }), variants };
  const results = {};
  for (const name of names) {
    process.stdout.write(`\n# ${name}${smoke ? ' (smoke)' : ''}\n`);
    switch (name) {
      case 'fanout':
        results.fanout = await fanout(smoke ? FANOUT_SMOKE : {}, opts);
        break;
      case 'idle':
        results.idle = await idle(smoke ? IDLE_SMOKE : {}, opts);
        break;
      case 'chat':
        results.chat = await chat(smoke ? CHAT_SMOKE : {}, opts);
        break;
      case 'cluster':
        results.cluster = await cluster(smoke ? CLUSTER_SMOKE : {}, opts);
        break;
      case 'connect':
        results.connect = await connect(smoke ? CONNECT_SMOKE : {}, opts);
        break;
      case 'storm':
        results.storm = await storm(smoke ? STORM_SMOKE : {}, opts);
        break;
    }
  }
  return results;
}
