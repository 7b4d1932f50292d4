/**
 * Reading the environment: the `.env` file, the schema's parse of every variable, the list and
 * duration values the steps of `loadConfig` read, and the one error every step throws.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { envSchema, type Env } from './config-schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Throws the ConfigError of one variable: its message is one line naming the variable. */
export const fail = (name: string, message: string): never => {
  throw new ConfigError(`Invalid configuration: ${name} ${message}`);
};

/** Reads `.env` from `dir` into a copy of `env`, without overriding variables already set. */
export function withDotEnv(env: NodeJS.ProcessEnv, dir = process.cwd()): NodeJS.ProcessEnv {
  const file = `${dir}/.env`;
  if (!existsSync(file)) return env;
  const parsed = parseEnv(readFileSync(file, 'utf8'));
  return { ...parsed, ...env };
}

/** Every variable typed and within its bounds; the first one that is not is named, its value shown unless it is a credential. */
export function parseEnvironment(env: NodeJS.ProcessEnv): Env {
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? 'configuration');
  const value = env[name];
  const secret = name.endsWith('_FILE') || /SECRET|KEY|TOKEN|PASSWORD/.test(name);
  // Credentials in a URL (redis://:password@host) are not shown either.
  const shown = secret || value === undefined ? '' : ` (got "${value.replace(/\/\/[^/@\s]*@/, '//[redacted]@')}")`;
  throw new ConfigError(`Invalid configuration: ${name} ${issue?.message ?? 'is invalid'}${shown}`);
}

/** `30s`, `15m`, `1h`, `7d` or a number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/** The entries of a comma-separated list, spaces around them ignored, empty ones skipped. */
export function commaList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
