import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, httpUrl, loadConfig, readableFile } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const base = { JWT_SECRET: 'x'.repeat(40) };

describe('httpUrl()', () => {
  it.each(['https://keys.example.com/.well-known/jwks.json', 'http://127.0.0.1:8080/hook', undefined, ''])('accepts %s', (v) => {
    expect(httpUrl().safeParse(v).success).toBe(true);
  });
  it.each(['https://', 'ftp://example.com/x', 'example.com/hook', 'http//example.com', 'https://exa mple.com'])('refuses %s', (v) => {
    expect(httpUrl().safeParse(v).error?.issues[0]?.message).toBe('must be an http(s) URL such as https://host/path');
  });
});

describe('readableFile()', () => {
  it('reads the file at start, and gives undefined when unset', () => {
    const path = write('hello', 'hello\n');
    expect(readableFile().parse(path)).toEqual({ path, text: 'hello\n' });
    expect(readableFile().parse(undefined)).toBeUndefined();
  });
  it.each([
    ['missing', () => join(dir, 'missing'), /cannot be read \(no such file or directory\)/],
    ['a directory', () => dir, /is not a regular file/],
    ['empty', () => write('blank', ' \n'), /is empty/],
  ])('refuses a file %s', (_what, path, message) => {
    expect(readableFile().safeParse(path()).error?.issues[0]?.message).toMatch(message);
  });
});

describe('webhooks', () => {
  const secret = 's'.repeat(40);
  it('makes WEBHOOK_URL an endpoint for every tenant, with the default events unless WEBHOOK_EVENTS names them', () => {
    expect(loadConfig(base).webhooks.endpoints).toEqual([]);
    const cfg = loadConfig({ ...base, WEBHOOK_URL: 'https://hooks.example.com/in', WEBHOOK_SECRET: secret, WEBHOOK_ROOM_PREFIXES: 'support/, chat:' });
    expect(cfg.webhooks.endpoints).toEqual([
      { id: expect.stringMatching(/^[0-9a-f]{16}$/), url: 'https://hooks.example.com/in', secret, events: ['room.occupied', 'room.vacated', 'member.joined', 'member.left', 'user.online', 'user.offline', 'presence.changed'], roomPrefixes: ['support/', 'chat:'] },
    ]);
    expect(cfg.webhooks).toMatchObject({ batchSize: 100, batchWaitMs: 1000, leaveGraceMs: 5000, retryForMs: 3_600_000, deadLetterTtlMs: 604_800_000 });
    const opted = loadConfig({ ...base, WEBHOOK_URL: 'https://hooks.example.com/in', WEBHOOK_SECRET_FILE: write('webhook-secret', `${secret}\n`), WEBHOOK_EVENTS: 'message.published' });
    expect(opted.webhooks.endpoints[0]).toMatchObject({ secret, events: ['message.published'] });
  });

  it('refuses what cannot work, naming the variable', () => {
    const url = { WEBHOOK_URL: 'https://hooks.example.com/in' };
    expect(() => loadConfig({ ...base, ...url, WEBHOOK_SECRET: 'short' })).toThrow('WEBHOOK_SECRET must be at least 32 characters');
    expect(() => loadConfig({ ...base, ...url, WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'member.joined,member.kicked' })).toThrow(/^Invalid configuration: WEBHOOK_EVENTS must be one of room\.occupied/);
    expect(() => loadConfig({ ...base, ...url, WEBHOOK_SECRET: secret, WEBHOOK_ROOM_PREFIXES: 'a b' })).toThrow(/WEBHOOK_ROOM_PREFIXES must be the start of a room name/);
    expect(() => loadConfig({ ...base, WEBHOOK_SECRET: secret })).toThrow('WEBHOOK_SECRET needs WEBHOOK_URL');
    expect(() => loadConfig({ ...base, ...url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE: '5000', WEBHOOK_RETRY_MAX_DELAY: '1000' })).toThrow('WEBHOOK_RETRY_MAX_DELAY must be at least WEBHOOK_RETRY_BASE');
    expect(() => loadConfig({ ...base, WEBHOOK_BATCH_SIZE: '0' })).toThrow('WEBHOOK_BATCH_SIZE must be an integer from 1 to 1000');
  });

  it('reads per-tenant endpoints from WEBHOOKS_FILE, JSON or YAML, and refuses a bad entry by its place', () => {
    const json = write('webhooks.json', JSON.stringify({ endpoints: [{ tenantId: 'acme', url: 'https://acme.example.com/h', secret, events: ['member.joined', 'message.published'], roomPrefixes: ['support/'] }] }));
    const [acme] = loadConfig({ ...base, WEBHOOKS_FILE: json }).webhooks.endpoints;
    expect(acme).toMatchObject({ tenantId: 'acme', url: 'https://acme.example.com/h', secret, events: ['member.joined', 'message.published'], roomPrefixes: ['support/'] });
    const yaml = write('webhooks.yaml', `endpoints:\n  - tenantId: globex\n    url: http://10.0.0.5:8080/in\n    secret: ${secret}\n`);
    expect(loadConfig({ ...base, WEBHOOKS_FILE: yaml }).webhooks.endpoints[0]).toMatchObject({ tenantId: 'globex', events: expect.arrayContaining(['user.offline']) });
    const bad = (name: string, text: string) => () => loadConfig({ ...base, WEBHOOKS_FILE: write(name, text) });
    expect(bad('w1.yaml', 'endpoints: [ {')).toThrow(/WEBHOOKS_FILE ".*w1\.yaml" is neither JSON nor YAML/);
    expect(bad('w2.yaml', `endpoints:\n  - tenantId: acme\n    url: https://a.example.com/\n    secret: short\n`)).toThrow(/endpoints\[0\]\.secret must be at least 32 characters/);
    expect(bad('w3.yaml', `endpoints:\n  - tenantId: "bad tenant"\n    url: https://a.example.com/\n    secret: ${secret}\n`)).toThrow(/endpoints\[0\]\.tenantId must be a tenant id/);
    expect(bad('w4.yaml', `endpoints:\n  - tenantId: acme\n    url: https://a.example.com/\n    secret: ${secret}\n    events: [member.kicked]\n`)).toThrow(/endpoints\[0\]\.events\[0\] must be one of/);
    expect(bad('w5.yaml', `hooks: []\n`)).toThrow(/WEBHOOKS_FILE .* (endpoints|hooks)/);
    const twice = `endpoints:\n${'  - tenantId: acme\n    url: https://a.example.com/\n    secret: ' + secret + '\n'}${'  - tenantId: acme\n    url: https://a.example.com/\n    secret: ' + secret + '\n'}`;
    expect(bad('w6.yaml', twice)).toThrow(/lists the URL https:\/\/a\.example\.com\/ twice for tenant acme/);
  });
});

describe('secrets in files (the _FILE twins)', () => {
  it('takes JWT_PUBLIC_KEY from JWT_PUBLIC_KEY_FILE', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const cfg = loadConfig({ JWT_PUBLIC_KEY_FILE: write('jwt.pub', publicKey) });
    expect(cfg.jwt.publicKey).toBe(publicKey.trimEnd());
    expect(cfg.jwt.secrets).toEqual([]);
  });
  it('takes REDIS_PASSWORD from REDIS_PASSWORD_FILE, without the trailing newline', () => {
    const cfg = loadConfig({ ...base, REDIS_HOST: 'redis', REDIS_PASSWORD_FILE: write('redis-pw', 'p@ss word\r\n') });
    expect(cfg.redis?.password).toBe('p@ss word');
  });
  it.each(['JWT_SECRET', 'JWT_PUBLIC_KEY', 'REDIS_PASSWORD'])('refuses %s together with its _FILE twin', (name) => {
    const env = { ...base, [name]: 'value', [`${name}_FILE`]: write(`${name}.txt`, 'value') };
    expect(() => loadConfig(env)).toThrow(new ConfigError(`Invalid configuration: ${name} and ${name}_FILE are both set: set only one`));
  });
});

describe('server API keys and authorization proxies', () => {
  const key = (c: string) => c.repeat(40);
  it('reads tenant and operator keys, API_KEY as an operator key, and keys from API_KEYS_FILE one a line', () => {
    const cfg = loadConfig({ ...base, API_KEYS: ` acme:${key('a')} , acme:${key('b')},*:${key('c')}`, API_KEY: key('d') });
    expect(cfg.api.keys).toEqual([
      { tenant: 'acme', key: key('a') },
      { tenant: 'acme', key: key('b') },
      { tenant: '*', key: key('c') },
      { tenant: '*', key: key('d') },
    ]);
    const fromFile = loadConfig({ ...base, API_KEYS_FILE: write('keys', `acme:${key('a')}\nglobex:${key('e')}\n`) });
    expect(fromFile.api.keys.map((k) => k.tenant)).toEqual(['acme', 'globex']);
    expect(loadConfig(base).api.keys).toEqual([]);
  });
  it.each([
    [`acme:${'a'.repeat(31)}`, 'API_KEYS entry 1 has a key shorter than 32 characters'],
    [`acme:${key('a')},bad tenant:${key('b')}`, 'API_KEYS entry 2 names an invalid tenant id (1-64 characters of A-Z a-z 0-9 _ . -, or *)'],
    [`acme:${key('a')},globex:${key('a')}`, 'API_KEYS entry 2 repeats a key already listed'],
    [key('a'), 'API_KEYS entry 1 must be tenant:key or *:key'],
    [`acme:${'a'.repeat(35)} x`, 'API_KEYS entry 1 has a key with characters other than A-Z a-z 0-9 . _ ~ + / = -'],
  ])('refuses API_KEYS %#, naming the entry but never the key', (value, message) => {
    let error: unknown;
    try {
      loadConfig({ ...base, API_KEYS: value });
    } catch (err) {
      error = err;
    }
    expect(error).toEqual(new ConfigError(`Invalid configuration: ${message}`));
    expect(String(error)).not.toContain('aaaaaaaaaa');
  });
  it('refuses API_KEY listed in API_KEYS too, and API_KEYS with its _FILE twin', () => {
    expect(() => loadConfig({ ...base, API_KEYS: `acme:${key('a')}`, API_KEY: key('a') })).toThrow('API_KEY is also listed in API_KEYS');
    expect(() => loadConfig({ ...base, API_KEYS: `acme:${key('a')}`, API_KEYS_FILE: write('k2', `acme:${key('a')}`) })).toThrow('API_KEYS and API_KEYS_FILE are both set');
  });
  it('keeps a revocation for JWT_MAX_AGE when set, else REVOCATION_TTL', () => {
    expect(loadConfig(base).api.revocationTtlSeconds).toBe(7 * 86_400);
    expect(loadConfig({ ...base, REVOCATION_TTL: '36h' }).api.revocationTtlSeconds).toBe(36 * 3600);
    expect(loadConfig({ ...base, REVOCATION_TTL: '36h', JWT_MAX_AGE: '2h' }).api.revocationTtlSeconds).toBe(7200);
    expect(() => loadConfig({ ...base, REVOCATION_TTL: 'soon' })).toThrow('REVOCATION_TTL must be a duration');
  });
  it('needs AUTH_PROXY_SECRET (32+ characters) with any proxy URL', () => {
    expect(loadConfig(base).backendAuth).toBeUndefined();
    expect(() => loadConfig({ ...base, JOIN_PROXY_URL: 'https://backend.example.com/join' })).toThrow('AUTH_PROXY_SECRET is required');
    expect(() => loadConfig({ ...base, AUTH_PROXY_URL: 'https://backend.example.com/c', AUTH_PROXY_SECRET: 'short' })).toThrow('AUTH_PROXY_SECRET must be at least 32 characters');
    expect(() => loadConfig({ ...base, AUTH_PROXY_URL: 'backend/c', AUTH_PROXY_SECRET: key('s') })).toThrow('AUTH_PROXY_URL must be an http(s) URL');
    const cfg = loadConfig({ ...base, PUBLISH_PROXY_URL: 'http://127.0.0.1:8080/p', AUTH_PROXY_SECRET_FILE: write('proxy-secret', `${key('s')}\n`), AUTH_PROXY_FAILURE_POLICY: 'allow' });
    expect(cfg.backendAuth).toMatchObject({ publishUrl: 'http://127.0.0.1:8080/p', secret: key('s'), failurePolicy: 'allow', timeoutMs: 2000, cacheTtlMs: 10_000, breaker: { failures: 5, cooldownMs: 10_000 } });
    expect(cfg.backendAuth?.connectUrl).toBeUndefined();
  });
});

describe('TRANSPORT_TUNING', () => {
  const all = ['write-batching', 'direct-broadcast', 'handshake-release', 'listener-compaction'];
  it('is every patch by default and with on, none with off, the ones named otherwise (in their order)', () => {
    expect(loadConfig(base).transportTuning).toEqual(all);
    expect(loadConfig({ ...base, TRANSPORT_TUNING: 'on' }).transportTuning).toEqual(all);
    expect(loadConfig({ ...base, TRANSPORT_TUNING: 'OFF' }).transportTuning).toEqual([]);
    expect(loadConfig({ ...base, TRANSPORT_TUNING: ' listener-compaction, write-batching ' }).transportTuning).toEqual(['write-batching', 'listener-compaction']);
  });
  it('refuses a name it does not know, naming it', () => {
    expect(() => loadConfig({ ...base, TRANSPORT_TUNING: 'write-batching,turbo' })).toThrow(/TRANSPORT_TUNING.*unknown: turbo/);
    expect(() => loadConfig({ ...base, TRANSPORT_TUNING: 'true' })).toThrow(ConfigError);
  });
});
