import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { secretId } from '../../src/auth/secrets.js';
import { closeAll, connect, connectError, next, request, until } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { runServerProcess, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mintToken, TEST_JWT_SECRET } from '../helpers/tokens.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const TOKEN_CLI = fileURLToPath(new URL('../../dist/cli/token.js', import.meta.url));

/** Runs the server entry point, with no variable but `env`, expecting it to refuse its configuration. */
const startFails = (env: Record<string, string>, cwd?: string) => runServerProcess({ PORT: '1', ...env }, cwd === undefined ? {} : { cwd });

describe('the server process', () => {
  let proc: ServerProcess | undefined;
  afterEach(async () => {
    closeAll();
    await proc?.kill();
    proc = undefined;
  });

  it('on SIGTERM: readiness 503, system:restart with jittered reconnectIn, new connections refused, then exit 0', async () => {
    proc = await startServerProcess({ SHUTDOWN_TIMEOUT: '1500', RECONNECT_JITTER: '1000' });
    const clients = await Promise.all(Array.from({ length: 5 }, (_, i) => connect(proc!.url, { claims: { sub: `u${i}` } })));
    const restarts = clients.map((c) => next<{ reason: string; reconnectIn: number }>(c.socket, 'system:restart'));
    expect((await fetch(`${proc.url}/health/ready`)).status).toBe(200);
    proc.signal('SIGTERM');
    const notices = await Promise.all(restarts);
    for (const n of notices) {
      expect(n.reason).toEqual(expect.any(String));
      expect(n.reconnectIn).toBeGreaterThanOrEqual(0);
      expect(n.reconnectIn).toBeLessThanOrEqual(1000);
    }
    expect(new Set(notices.map((n) => n.reconnectIn)).size).toBeGreaterThan(1);
    const ready = await fetch(`${proc.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect((await fetch(`${proc.url}/health/live`)).status).toBe(200);
    const refused = await connectError(proc.url, { claims: { sub: 'late' } });
    expect(refused.message).toBe('SHUTTING_DOWN');
    // Clients still connected keep being served while draining.
    await request(clients[0]!.socket, 'room:join', { room: 'drain' });
    expect(await request(clients[0]!.socket, 'query:rooms')).toEqual({ success: true, rooms: ['drain'] });
    const gone = clients.map((c) => next<string>(c.socket, 'disconnect', () => true, 5000));
    expect(await proc.exited()).toBe(0);
    expect(await Promise.all(gone)).toEqual(clients.map(() => expect.any(String)));
  });

  it('exits as soon as every client has left while draining', async () => {
    proc = await startServerProcess({ SHUTDOWN_TIMEOUT: '20000' });
    const c = await connect(proc.url);
    const restart = next(c.socket, 'system:restart');
    const started = Date.now();
    proc.signal('SIGTERM');
    await restart;
    c.socket.disconnect();
    expect(await proc.exited()).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('writes JSON logs with connection, user and tenant ids and never the token', async () => {
    proc = await startServerProcess({ LOG_LEVEL: 'debug' });
    const token = await mintToken({ sub: 'logged-user', tenantId: 'logged-tenant' });
    const c = await connect(proc.url, { token });
    await request(c.socket, 'room:join', { room: 'x' });
    c.socket.disconnect();
    await until(() => proc!.output().includes('"msg":"disconnected"'), 5000, 'disconnect log');
    const lines = proc.output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'connected')).toMatchObject({ userId: 'logged-user', tenantId: 'logged-tenant', connectionId: expect.any(String) });
    expect(proc.output()).not.toContain(token);
    expect(proc.output()).not.toContain(TEST_JWT_SECRET);
  });

  it.each([
    [{ PORT: 'abc' }, /PORT must be an integer/],
    [{ HEARTBEAT_INTERVAL: '-5' }, /HEARTBEAT_INTERVAL must be an integer/],
    [{ PERSISTENCE_ENABLED: 'maybe' }, /PERSISTENCE_ENABLED must be true or false/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV must be development, production or test/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET must be at least 32 characters/],
    [{ NODE_ENV: 'production', CORS_ORIGIN: 'https://app.example.com' }, /JWT_SECRET is required in production/],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), CORS_ORIGIN: 'https://app.example.com' }, /JWT_SECRET must be at least 64 characters in production/],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(64), CORS_ORIGIN: 'http://localhost:3000' }, /CORS_ORIGIN must not include localhost in production/],
    [{ CORS_ORIGIN: 'not a url' }, /CORS_ORIGIN has an invalid origin/],
    [{ REDIS_URL: 'http://nope' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(got "http:\/\/nope"\)/],
    [{ REDIS_URL: 'redis://:s3cret@127.0.0.1:99999' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(got "redis:\/\/\[redacted\]@127\.0\.0\.1:99999"\)/],
    [{ HEARTBEAT_INTERVAL: '60000', HEARTBEAT_TIMEOUT: '30000' }, /HEARTBEAT_TIMEOUT must be greater than HEARTBEAT_INTERVAL/],
    [{ RATE_LIMIT_MESSAGES_PER_SECOND: '1.5' }, /RATE_LIMIT_MESSAGES_PER_SECOND must be an integer/],
    [{ REDIS_COMMAND_TIMEOUT: '50' }, /REDIS_COMMAND_TIMEOUT must be an integer from 100 to 600000/],
    [{ JWT_SECRET: `k1:${'s'.repeat(31)}` }, /JWT_SECRET must be at least 32 characters/],
    [{ JWT_PREVIOUS_SECRETS: 'p'.repeat(40) }, /JWT_PREVIOUS_SECRETS needs JWT_SECRET/],
    [{ JWT_SECRET: 's'.repeat(40), JWT_PREVIOUS_SECRETS: `${'p'.repeat(40)}, ${'q'.repeat(31)}` }, /JWT_PREVIOUS_SECRETS entry 2 must be at least 32 characters/],
    [{ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(64), JWT_PREVIOUS_SECRETS: 'p'.repeat(40), CORS_ORIGIN: 'https://app.example.com' }, /JWT_PREVIOUS_SECRETS entry 1 must be at least 64 characters in production/],
    [{ JWT_SECRET: 's'.repeat(40), JWT_PREVIOUS_SECRETS: `old:${'s'.repeat(40)}` }, /JWT_PREVIOUS_SECRETS entry 1 repeats a secret or a secret id/],
    [{ JWT_SECRET: `k1:${'s'.repeat(40)}`, JWT_PREVIOUS_SECRETS: `k1:${'p'.repeat(40)}` }, /JWT_PREVIOUS_SECRETS entry 1 repeats a secret or a secret id/],
    [{ JWT_SECRET: `unknown:${'s'.repeat(40)}` }, /JWT_SECRET uses the reserved id "unknown"/],
    [{ JWT_MAX_AGE: '1 week' }, /JWT_MAX_AGE must be a duration/],
  ])('refuses a bad configuration with one line naming the variable: %o', async (env, pattern) => {
    const r = await startFails(env);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([r.stderr.trim()]);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/at .*\(|node:internal|s3cret/);
    for (const [name, value] of Object.entries(env)) if (name.includes('SECRET')) expect(r.stderr).not.toContain(value.slice(-31));
  });

  it('in development without JWT_SECRET logs a generated secret and a token that works', async () => {
    proc = await startServerProcess({ JWT_SECRET: '', NODE_ENV: 'development', LOG_LEVEL: 'info' });
    await until(() => proc!.output().includes('devToken'), 5000, 'dev token log');
    const line = proc.output().split('\n').find((l) => l.includes('devToken')) as string;
    const { devToken, devJwtSecret } = JSON.parse(line) as { devToken: string; devJwtSecret: string };
    const { established } = await connect(proc.url, { token: devToken });
    expect(established).toMatchObject({ userId: 'dev-user', tenantId: 'dev' });
    expect(JSON.parse(Buffer.from(devToken.split('.')[0] as string, 'base64url').toString())).toMatchObject({ kid: secretId(devJwtSecret) });
  });

  it('loads a .env file from the working directory without overriding the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PERSISTENCE_TTL=nope\nPORT=2\n');
      const r = await startFails({}, dir);
      expect(r.stderr).toMatch(/PERSISTENCE_TTL must be an integer/);
      const port = await freePort();
      writeFileSync(join(dir, '.env'), `PORT=${port}\nHOST=127.0.0.1\nJWT_SECRET=${TEST_JWT_SECRET}\nLOG_LEVEL=silent\n`);
      const { PATH } = process.env;
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [MAIN], { cwd: dir, env: { ...(PATH && { PATH }), LOG_LEVEL: 'silent' }, stdio: 'ignore' });
      try {
        await until(async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.ok === true, 10_000, 'server from .env');
        const { established } = await connect(`http://127.0.0.1:${port}`);
        expect(established.userId).toBe('alice');
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run token mints a token the server accepts, with rooms and ttl', async () => {
    proc = await startServerProcess();
    const { PATH } = process.env;
    const { stdout } = await run(process.execPath, [TOKEN_CLI, '--user', 'alice', '--tenant', 'acme', '--rooms', 'investigation:*', '--ttl', '1h'], {
      env: { ...(PATH && { PATH }), JWT_SECRET: TEST_JWT_SECRET },
    });
    const token = stdout.trim();
    const { socket, established } = await connect(proc.url, { token });
    expect(established).toMatchObject({ userId: 'alice', tenantId: 'acme' });
    expect(established.expiresAt! - Date.now()).toBeGreaterThan(3500_000);
    expect(await request(socket, 'room:join', { room: 'investigation:7' })).toMatchObject({ success: true });
    expect(await request(socket, 'room:join', { room: 'other' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    const bad = await run(process.execPath, [TOKEN_CLI, '--user', 'alice'], { env: { ...(PATH && { PATH }), JWT_SECRET: TEST_JWT_SECRET } }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/--tenant is required/) });
  });

  it('`npm run -s token` prints the token alone on stdout, its kid the id of JWT_SECRET, and the server accepts it', { timeout: 120_000 }, async () => {
    const secret = `ops-2025:${TEST_JWT_SECRET}`;
    proc = await startServerProcess({ JWT_SECRET: 'x'.repeat(40), JWT_PREVIOUS_SECRETS: secret });
    const { PATH, HOME } = process.env;
    const root = fileURLToPath(new URL('../../../..', import.meta.url));
    const { stdout } = await run('npm', ['run', '-s', 'token', '--', '--user', 'a', '--tenant', 'b'], {
      cwd: root,
      env: { ...(PATH && { PATH }), ...(HOME && { HOME }), JWT_SECRET: secret },
      timeout: 110_000,
    });
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const header = JSON.parse(Buffer.from(stdout.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'ops-2025' });
    const { established } = await connect(proc.url, { token: stdout.trim() });
    expect(established).toMatchObject({ userId: 'a', tenantId: 'b' });
  });
});
