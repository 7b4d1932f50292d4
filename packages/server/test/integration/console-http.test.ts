import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowser } from '../../../client/scripts/build-browser.mjs';
import { loadConfig } from '../../src/config.js';
import { CONSOLE_CSP } from '../../src/http/console.js';
import { api, API_KEYS, KEYS } from '../helpers/api.js';
import { closeAll, connect, request } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

const PROD = { NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(64), CORS_ORIGIN: 'https://app.example.com' };

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mint = (url: string, body: unknown) =>
  fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the console over HTTP', () => {
  let dev: TestServer;
  let bundle: Buffer;
  beforeAll(async () => {
    bundle = await readFile((await buildBrowser()).outfile);
    // No JWT_SECRET: a secret generated for the process, so the development token endpoint exists.
    dev = await startTestServer({ JWT_SECRET: '', API_KEYS });
  });
  afterAll(async () => dev.close());
  afterEach(() => closeAll());

  it('is on by default outside production, off in production unless CONSOLE_ENABLED, and never mints tokens there', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).console).toEqual({ enabled: true, devTokens: true });
    expect(loadConfig({ NODE_ENV: 'development', JWT_SECRET: 's'.repeat(32) }).console).toEqual({ enabled: true, devTokens: false });
    expect(loadConfig({ NODE_ENV: 'development', CONSOLE_ENABLED: 'false' }).console).toEqual({ enabled: false, devTokens: false });
    expect(loadConfig(PROD).console).toEqual({ enabled: false, devTokens: false });
    expect(loadConfig({ ...PROD, CONSOLE_ENABLED: 'true' }).console).toEqual({ enabled: true, devTokens: false });
    expect(() => loadConfig({ CONSOLE_ENABLED: 'maybe' })).toThrow('Invalid configuration: CONSOLE_ENABLED must be true or false (got "maybe")');
  });

  it('serves the pages under a strict Content-Security-Policy, revalidated by ETag', async () => {
    for (const [path, type] of [['/', 'text/html'], ['/admin', 'text/html'], ['/console/demo.js', 'text/javascript'], ['/console/style.css', 'text/css']] as const) {
      const res = await fetch(`${dev.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const etag = res.headers.get('etag') ?? '';
      expect(etag).toMatch(/^"[\w-]+"$/);
      const again = await fetch(`${dev.url}${path}`, { headers: { 'if-none-match': etag } });
      expect(again.status, path).toBe(304);
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    // No inline script or handler in the pages: the policy would refuse them.
    for (const page of ['/', '/admin']) {
      const html = await (await fetch(`${dev.url}${page}`)).text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/\son[a-z]+=/i);
    }
    // Paths outside the files read at start are not found, whatever they try.
    for (const path of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/', '/client/x.js']) {
      expect((await fetch(`${dev.url}${path}`)).status, path).toBe(404);
    }
  });

  it('serves the SDK browser bundle as built, with its ETag', async () => {
    const res = await fetch(`${dev.url}/client/websocket-client.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(Buffer.from(await res.arrayBuffer()).equals(bundle)).toBe(true);
    expect(res.headers.get('etag')).toBe(`"${createHash('sha256').update(bundle).digest('base64url').slice(0, 27)}"`);
    expect((await fetch(`${dev.url}/client/websocket-client.js.map`)).status).toBe(200);
  });

  it('docs/sdk.md gives the Subresource Integrity hash of the bundle as built', async () => {
    const sdkDoc = await readFile(new URL('../../../../docs/sdk.md', import.meta.url), 'utf8');
    const documented = /`(sha384-[A-Za-z0-9+/=]+)`/.exec(sdkDoc)?.[1];
    expect(documented, 'docs/sdk.md: update the hash (openssl dgst -sha384 -binary packages/client/dist/browser/websocket-client.js | openssl base64 -A)').toBe(
      `sha384-${createHash('sha384').update(bundle).digest('base64')}`,
    );
  });

  it('mints development tokens that connect, refuses bad requests with coded errors', async () => {
    expect(await (await fetch(`${dev.url}/console/settings.json`)).json()).toEqual({ devTokens: true, serverApi: true });
    const res = await mint(dev.url, { userId: 'alice', tenantId: 'demo' });
    expect(res.status).toBe(200);
    const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: number };
    expect(expiresAt).toBeGreaterThan(Date.now() + 3500_000);
    const { established } = await connect(dev.url, { token });
    expect(established).toMatchObject({ userId: 'alice', tenantId: 'demo' });
    for (const body of [{ userId: 'alice' }, { userId: 'a b', tenantId: 'demo' }, { userId: 'alice', tenantId: 'demo', ttlSeconds: 10 ** 9 }, []]) {
      const bad = await mint(dev.url, body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(await bad.json()).toEqual({ error: 'INVALID_PAYLOAD', message: expect.any(String) });
    }
    const notJson = await fetch(`${dev.url}/dev/token`, { method: 'POST', body: 'x' });
    expect(notJson.status).toBe(400);
    expect((await fetch(`${dev.url}/dev/token`)).status).toBe(405);
  });

  it('has no development token endpoint with JWT_SECRET set, and no console when CONSOLE_ENABLED=false', async () => {
    const withSecret = await startTestServer({});
    const off = await startTestServer({ CONSOLE_ENABLED: 'false' });
    try {
      const res = await mint(withSecret.url, { userId: 'alice', tenantId: 'demo' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
      expect((await fetch(`${withSecret.url}/`)).status).toBe(200);
      expect(await (await fetch(`${withSecret.url}/console/settings.json`)).json()).toEqual({ devTokens: false, serverApi: false });
      for (const path of ['/', '/admin', '/console/demo.js', '/client/websocket-client.js', '/console/settings.json']) {
        expect((await fetch(`${off.url}${path}`)).status, path).toBe(404);
      }
    } finally {
      await withSecret.close();
      await off.close();
    }
  });

  it('tells a key what it is, and counts messages and refusals per tenant in GET /api/v1/tenants', async () => {
    expect((await api(dev.url, 'GET', '/key', { key: KEYS.acme })).body).toEqual({ tenant: 'acme', operator: false });
    expect((await api(dev.url, 'GET', '/key', { key: KEYS.operator })).body).toEqual({ tenant: '*', operator: true });
    expect((await api(dev.url, 'GET', '/key', { key: `${KEYS.acme}x` })).status).toBe(401);

    const token = ((await (await mint(dev.url, { userId: 'carol', tenantId: 'counted' })).json()) as { token: string }).token;
    const { socket } = await connect(dev.url, { token });
    await request(socket, 'room:join', { room: 'r' });
    for (let i = 0; i < 3; i++) await request(socket, 'room:send', { room: 'r', payload: i });
    expect(await request(socket, 'room:send', { room: 'not-joined', payload: 0 })).toMatchObject({ success: false, error: 'NOT_IN_ROOM' });
    type Tenants = { tenants: { tenantId: string; connections: number; messages: number; refused: number }[] };
    // The instance publishes its counts every 5 s.
    await until(async () => {
      const { body } = await api<Tenants>(dev.url, 'GET', '/tenants', { key: KEYS.operator });
      const t = body.tenants.find((x) => x.tenantId === 'counted');
      return t !== undefined && t.messages === 4 && t.refused === 1 && t.connections === 1;
    }, 'the counts of tenant "counted"');
  });
});
