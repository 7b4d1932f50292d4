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
