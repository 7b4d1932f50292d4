#!/usr/bin/env node
/**
 * Mints a token signed with the configured JWT_SECRET (from the environment or `.env`), its `kid`
 * header the secret's id, and prints only the token on stdout (errors go to stderr):
 *   npm run -s token -- --user alice --tenant acme [--rooms 'investigation:*,chat'] [--roles admin] [--name Alice] [--ttl 1h]
 */
import { parseArgs } from 'node:util';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { mintToken } from '../auth/mint.js';
import { parseSecret } from '../auth/secrets.js';
import { commaList, parseDuration, withDotEnv } from '../config.js';

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      user: { type: 'string' },
      tenant: { type: 'string' },
      rooms: { type: 'string' },
      roles: { type: 'string' },
      name: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write("usage: npm run token -- --user alice --tenant acme [--rooms 'investigation:*'] [--roles r1,r2] [--name N] [--ttl 1h|0]\n");
  process.exit(0);
}
const env = withDotEnv(process.env);
if (!env.JWT_SECRET) fail('JWT_SECRET is not set (export it or put it in .env); the server logs a token of its own when it generates a secret');
const secret = parseSecret(env.JWT_SECRET);
if (secret.secret.length < 32) fail('JWT_SECRET must be at least 32 characters');
if (!values.user) fail('--user is required');
if (!values.tenant) fail('--tenant is required');
if (!TENANT_ID_PATTERN.test(values.tenant)) fail('--tenant must be 1-64 characters of A-Z a-z 0-9 _ . -');
const ttl = parseDuration(values.ttl ?? '1h');
if (ttl === undefined) fail('--ttl must be like 30s, 15m, 1h, 7d, or 0 for no expiry');
const list = (v: string | undefined) => (v === undefined ? undefined : commaList(v));
const rooms = list(values.rooms);
const roles = list(values.roles);
const token = await mintToken({
  secret,
  userId: values.user,
  tenantId: values.tenant,
  ttlSeconds: ttl,
  ...(rooms && { rooms }),
  ...(roles && { roles }),
  ...(values.name && { name: values.name }),
  ...(env.JWT_ISSUER && { issuer: env.JWT_ISSUER }),
  ...(env.JWT_AUDIENCE && { audience: env.JWT_AUDIENCE }),
});
process.stdout.write(`${token}\n`);
