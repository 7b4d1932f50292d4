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
 * A script of the `lua/` folder as a command of the client (ioredis `defineCommand`: EVALSHA, falling
 * back to EVAL when the server does not have it cached, e.g. after a restart). Keys come first in the
 * arguments, then ARGV. ioredis' auto-pipelining copies the client's commands into each pipeline, so
 * every script is defined when its store is built, never later.
 */
export function defineScript(client: RedisClient, file: string, numberOfKeys: number | 'variable', name = commandName(file, numberOfKeys)): ScriptCall {
  // 'variable': the call's first argument is the number of keys (ioredis then passes it on, as EVAL takes it).
  if (!(name in client)) client.defineCommand(name, { ...(numberOfKeys !== 'variable' && { numberOfKeys }), lua: luaSource(file) });
  const fn = (client as unknown as Record<string, ScriptCall | undefined>)[name];
  if (typeof fn !== 'function') throw new Error(`script ${file} was not defined`);
  return fn.bind(client);
}

/** `stream-append.lua` with 3 keys -> `igStreamAppend3`. */
function commandName(file: string, keys: number | 'variable'): string {
  const base = file.replace(/\.lua$/, '').replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());
  return `ig${base}${keys === 'variable' ? 'N' : keys}`;
}
