import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';

/**
 * The Lua scripts live in `packages/server/lua/` (beside `src/` and `dist/`, so the same relative path
 * finds them from both). A script may start with `-- include: lib/<file>.lua` lines: the loader puts
 * those files' text in their place, once each, so scripts share functions without Redis Functions
 * (which would need Redis 7 everywhere and a reload after every restart of a Redis without persistence).
 */
const LUA_DIR = new URL('../../../lua/', import.meta.url);
const INCLUDE = /^-- include: (lib\/[a-z-]+\.lua)\s*$/gm;

const cache = new Map<string, string>();

/** The text of a script of the `lua/` folder, includes resolved. */
export function luaSource(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    const seen = new Set<string>();
    const expand = (name: string): string =>
      readFileSync(new URL(name, LUA_DIR), 'utf8').replace(INCLUDE, (_, lib: string) => {
        if (seen.has(lib)) return '';
        seen.add(lib);
        return expand(lib);
      });
    text = expand(file);
    cache.set(file, text);
  }
  return text;
}

export type ScriptArg = string | number;
export type ScriptCall = (...keysAndArgs: ScriptArg[]) => Promise<unknown>;

/**
 * Per client, per script (SHA), the Redis nodes known to hold it ('' for a single Redis; `host:port`
 * on a Cluster). Forgotten when the client (re)connects and when a Cluster's connections or slot map
 * change: a restarted or newly promoted Redis starts with an empty script cache.
 */
const cachedOn = new WeakMap<RedisClient, Map<string, Set<string>>>();

function scriptsOf(client: RedisClient): Map<string, Set<string>> {
  let known = cachedOn.get(client);
  if (!known) {
    const map = new Map<string, Set<string>>();
    const forget = () => map.clear();
    client.on('ready', forget);
    // A Cluster does not reconnect a node's connection: it drops it (-node) and makes a new one (+node).
    if (client.isCluster) for (const event of ['+node', '-node', 'refresh']) client.on(event, forget);
    cachedOn.set(client, map);
    known = map;
  }
  return known;
}

/** The node a call with `firstKey` goes to; undefined when it cannot be told (no key, slots not known yet). */
function nodeOf(client: RedisClient, firstKey: ScriptArg | undefined): string | undefined {
  if (!client.isCluster) return '';
  if (typeof firstKey !== 'string') return undefined;
  return (client as Cluster).slots[calculateSlot(firstKey)]?.[0];
}

/**
 * A script of the `lua/` folder as a function. Keys come first in the arguments, then ARGV; with
 * `'variable'` the first argument is the number of keys.
 *
 * A call sends EVALSHA where Redis is known to hold the script (it ran there since the connection
 * was made), and the script's text (EVAL, which caches it) everywhere else. Relying on NOSCRIPT to
 * learn it is missing would reorder calls: one answered NOSCRIPT goes again with the text after
 * later calls, some of which use scripts Redis still has and run first, so two appends to a room could
 * take their ids out of publish order. NOSCRIPT is still handled (SCRIPT FLUSH by hand): the call goes
 * again with the text.
 *
 * Not ioredis' `defineCommand`: its auto-pipelining builds a pipeline for every event-loop turn that
 * sends a command, and a pipeline copies each defined command of its client onto itself (~1.2 µs per
 * script, ~40 µs per turn with this server's scripts). EVALSHA and EVAL are plain commands, so a
 * turn's calls still leave in one write, and on a Cluster ioredis routes them by their keys.
 */
export function defineScript(client: RedisClient, file: string, numberOfKeys: number | 'variable'): ScriptCall {
  const lua = luaSource(file);
  const sha = createHash('sha1').update(lua).digest('hex');
  const fixedKeys = numberOfKeys === 'variable' ? undefined : numberOfKeys;
  const known = scriptsOf(client);
  return async (...keysAndArgs) => {
    const [keys, ...rest] = fixedKeys === undefined ? keysAndArgs : [fixedKeys, ...keysAndArgs];
    if (keys === undefined) throw new Error(`script ${file}: the number of keys is missing`);
    const node = nodeOf(client, Number(keys) > 0 ? rest[0] : undefined);
    const byText = async (): Promise<unknown> => {
      const reply = await client.eval(lua, keys, ...rest);
      if (node !== undefined) {
        const nodes = known.get(sha);
        if (nodes) nodes.add(node);
        else known.set(sha, new Set([node]));
      }
      return reply;
    };
    const nodes = known.get(sha);
    if (node === undefined || !nodes?.has(node)) return byText();
    try {
      return await client.evalsha(sha, keys, ...rest);
    } catch (err) {
      // Only a cache miss is retried: any other error (including one raised by the script) is the answer.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      nodes.delete(node);
      return byText();
    }
  };
}
