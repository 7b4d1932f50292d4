import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
 * A script of the `lua/` folder as a function: EVALSHA, and EVAL with the text when Redis answers
 * NOSCRIPT (its script cache is empty after a restart or a failover), which caches it again. Keys
 * come first in the arguments, then ARGV; with `'variable'` the first argument is the number of keys.
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
  return async (...keysAndArgs) => {
    const [keys, ...rest] = fixedKeys === undefined ? keysAndArgs : [fixedKeys, ...keysAndArgs];
    if (keys === undefined) throw new Error(`script ${file}: the number of keys is missing`);
    try {
      return await client.evalsha(sha, keys, ...rest);
    } catch (err) {
      // Only a cache miss is retried: any other error (including one raised by the script) is the answer.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(lua, keys, ...rest);
    }
  };
}
