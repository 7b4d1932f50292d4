import { fail } from './config-parse.js';
import type { Env } from './config-schema.js';

/** Secrets given in a variable or, as mounted Kubernetes/Docker secrets are, in the file its `_FILE` twin names. */
export interface Secrets {
  jwtSecret?: string;
  jwtPublicKey?: string;
  redisPassword?: string;
  apiKeys?: string;
  authProxySecret?: string;
  webhookSecret?: string;
  /** The variable's name as messages should give it (`JWT_SECRET (read from JWT_SECRET_FILE)`). */
  named(name: string): string;
}

export function mountedSecrets(r: Env): Secrets {
  const fromFile = new Set<string>();
  const value = (name: string, direct: string | undefined, file: { text: string } | undefined): string | undefined => {
    if (file === undefined) return direct;
    if (direct !== undefined) fail(name, `and ${name}_FILE are both set: set only one`);
    fromFile.add(name);
    return file.text.replace(/[\r\n]+$/, '');
  };
  const jwtSecret = value('JWT_SECRET', r.JWT_SECRET, r.JWT_SECRET_FILE);
  const jwtPublicKey = value('JWT_PUBLIC_KEY', r.JWT_PUBLIC_KEY, r.JWT_PUBLIC_KEY_FILE)?.replace(/\\n/g, '\n');
  const redisPassword = value('REDIS_PASSWORD', r.REDIS_PASSWORD, r.REDIS_PASSWORD_FILE);
  const apiKeys = value('API_KEYS', r.API_KEYS, r.API_KEYS_FILE);
  const authProxySecret = value('AUTH_PROXY_SECRET', r.AUTH_PROXY_SECRET, r.AUTH_PROXY_SECRET_FILE);
  const webhookSecret = value('WEBHOOK_SECRET', r.WEBHOOK_SECRET, r.WEBHOOK_SECRET_FILE);
  return {
    ...(webhookSecret !== undefined && { webhookSecret }),
    ...(apiKeys !== undefined && { apiKeys }),
    ...(authProxySecret !== undefined && { authProxySecret }),
    ...(jwtSecret !== undefined && { jwtSecret }),
    ...(jwtPublicKey !== undefined && { jwtPublicKey }),
    ...(redisPassword !== undefined && { redisPassword }),
    named: (name) => (fromFile.has(name) ? `${name} (read from ${name}_FILE)` : name),
  };
}
