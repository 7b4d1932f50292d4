/**
 * Starting the server process: every failure before it listens ends it with a
 * non-zero status and one line naming the variable or resource, on both
 * engines; TLS files and `_FILE` secrets are read at start.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts, type Certs } from '../helpers/certs.js';
import { closeAll, connect, next, request, until } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { freePort as freeRedisPort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { runServerProcess, serverEnv, startServerProcess, status, type RunOptions, type ServerProcess } from '../helpers/server-process.js';
import { TEST_JWT_SECRET } from '../helpers/tokens.js';

/** A port below the first one any user may bind (1024 unless the kernel says otherwise). */
function privilegedPort(): number {
  const first = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  if (!(first > 1)) throw new Error(`every port may be bound by any user here (ip_unprivileged_port_start=${first})`);
  return first - 1;
}

/** Root may bind any port: the refusal is seen by running as `nobody`. */
const unprivileged: RunOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

let redis: RedisServer;
let dir: string;
let certs: Certs;
let blocker: Server;
let busyPort: number;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  redis = await startRedisServer();
  dir = mkdtempSync(join(tmpdir(), 'ws-start-'));
  certs = makeCerts(dir);
  writeFileSync(file('not-pem.txt'), 'this is not a certificate\n');
  writeFileSync(file('empty'), '');
  writeFileSync(file('secret'), `${TEST_JWT_SECRET}\n`);
  writeFileSync(file('short-secret'), 'too-short\n');
  writeFileSync(file('webhooks-bad-url.yaml'), 'endpoints:\n  - tenantId: acme\n    url: hooks.example.com\n    secret: 0123456789abcdefghijklmnopqrstuvwxyz\n');
  mkdirSync(file('a-directory'));
  // Whatever still holds the port when an instance restarts.
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  busyPort = (blocker.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => blocker?.close(r));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Failure {
  what: string;
  env: () => Record<string, string>;
  /** 1: configuration refused; 2: the server could not start. */
  code: 1 | 2;
  line: RegExp;
  run?: RunOptions;
}

const failures: Failure[] = [
  { what: 'PORT in use', env: () => ({ PORT: String(busyPort) }), code: 2, line: /PORT \d+ is already in use on HOST 127\.0\.0\.1/ },
  { what: 'PORT not permitted', env: () => ({ PORT: String(privilegedPort()) }), code: 2, line: /PORT \d+ on HOST 127\.0\.0\.1 is not permitted/, run: unprivileged },
  { what: 'HOST not an address of this machine', env: () => ({ HOST: '192.0.2.1' }), code: 2, line: /HOST 192\.0\.2\.1 is not an address of this machine/ },
  { what: 'HOST that does not resolve', env: () => ({ HOST: 'no-such-host.invalid' }), code: 2, line: /HOST no-such-host\.invalid does not resolve/ },
  { what: 'JWKS_URL unparsable', env: () => ({ JWKS_URL: 'https://' }), code: 1, line: /JWKS_URL must be an http\(s\) URL/ },
  { what: 'REDIS_URL unparsable', env: () => ({ REDIS_URL: 'redis://127.0.0.1:99999' }), code: 1, line: /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/ },
  { what: 'REDIS_CLUSTER_NODES unparsable', env: () => ({ REDIS_CLUSTER_NODES: '127.0.0.1:70000' }), code: 1, line: /REDIS_CLUSTER_NODES has an invalid node "127\.0\.0\.1:70000"/ },
  { what: 'TLS_CERT_FILE missing', env: () => ({ TLS_CERT_FILE: file('nope.pem'), TLS_KEY_FILE: certs.key }), code: 1, line: /TLS_CERT_FILE ".*nope\.pem" cannot be read \(no such file or directory\)/ },
  { what: 'TLS_KEY_FILE a directory', env: () => ({ TLS_CERT_FILE: certs.cert, TLS_KEY_FILE: file('a-directory') }), code: 1, line: /TLS_KEY_FILE ".*a-directory" is not a regular file/ },
  { what: 'TLS_CERT_FILE without TLS_KEY_FILE', env: () => ({ TLS_CERT_FILE: certs.cert }), code: 1, line: /TLS_KEY_FILE must be set with TLS_CERT_FILE/ },
  { what: 'TLS_CERT_FILE not a certificate', env: () => ({ TLS_CERT_FILE: file('not-pem.txt'), TLS_KEY_FILE: certs.key }), code: 1, line: /TLS_CERT_FILE ".*not-pem\.txt" does not hold a PEM certificate/ },
  { what: 'TLS_KEY_FILE of another certificate', env: () => ({ TLS_CERT_FILE: certs.cert, TLS_KEY_FILE: certs.caKey }), code: 1, line: /TLS_KEY_FILE ".*ca\.key" does not match the certificate of TLS_CERT_FILE/ },
  { what: 'JWT_SECRET_FILE missing', env: () => ({ JWT_SECRET: '', JWT_SECRET_FILE: file('nope') }), code: 1, line: /JWT_SECRET_FILE ".*nope" cannot be read/ },
  { what: 'JWT_SECRET and JWT_SECRET_FILE together', env: () => ({ JWT_SECRET_FILE: file('secret') }), code: 1, line: /JWT_SECRET and JWT_SECRET_FILE are both set/ },
  { what: 'JWT_SECRET_FILE too short', env: () => ({ JWT_SECRET: '', JWT_SECRET_FILE: file('short-secret') }), code: 1, line: /JWT_SECRET \(read from JWT_SECRET_FILE\) must be at least 32 characters/ },
  { what: 'JWT_PUBLIC_KEY_FILE not a key', env: () => ({ JWT_PUBLIC_KEY_FILE: file('not-pem.txt') }), code: 1, line: /JWT_PUBLIC_KEY \(read from JWT_PUBLIC_KEY_FILE\) must be a PEM public key/ },
  { what: 'WEBHOOK_URL unparsable', env: () => ({ WEBHOOK_URL: 'hooks.example.com/in', WEBHOOK_SECRET: 'x'.repeat(40) }), code: 1, line: /WEBHOOK_URL must be an http\(s\) URL/ },
  { what: 'WEBHOOK_URL without its secret', env: () => ({ WEBHOOK_URL: 'https://hooks.example.com/in' }), code: 1, line: /WEBHOOK_SECRET is required with WEBHOOK_URL/ },
  { what: 'WEBHOOKS_FILE missing', env: () => ({ WEBHOOKS_FILE: file('no-webhooks.yaml') }), code: 1, line: /WEBHOOKS_FILE ".*no-webhooks\.yaml" cannot be read/ },
  { what: 'WEBHOOKS_FILE with a bad URL', env: () => ({ WEBHOOKS_FILE: file('webhooks-bad-url.yaml') }), code: 1, line: /WEBHOOKS_FILE ".*webhooks-bad-url\.yaml" endpoints\[0\]\.url must be an http\(s\) URL/ },
  { what: 'REDIS_PASSWORD_FILE empty', env: () => ({ REDIS_PASSWORD_FILE: file('empty') }), code: 1, line: /REDIS_PASSWORD_FILE ".*empty" is empty/ },
];

const engines: [string, () => Record<string, string>][] = [
  ['embedded engine', () => ({})],
  ['Redis engine', () => ({ REDIS_URL: redis.url })],
];

describe.each(engines)('a start that fails (%s)', (_engine, engineEnv) => {
  it.each(failures)('$what: exits with $code and one line naming it', async (f) => {
    const r = await runServerProcess(serverEnv({ PORT: String(await freePort()), ...engineEnv(), ...f.env() }), f.run);
    expect(r.killed, `still running 10 s after the start:\n${r.lines.join('\n')}`).toBe(false);
    expect(r.code, r.lines.join('\n')).toBe(f.code);
    expect(r.lines).toHaveLength(1);
    const line = r.lines[0] as string;
    if (f.code === 1) {
      // Refused before the logger exists: a plain line on stderr.
      expect(r.stderr.trim()).toBe(line);
      expect(line).toMatch(/^Invalid configuration: /);
      expect(line).toMatch(f.line);
    } else {
      expect(JSON.parse(line)).toMatchObject({ level: 'fatal', exitCode: 2, msg: expect.stringMatching(f.line) });
    }
  });
});

describe.each(engines)('the library after a failed listen (%s)', (_engine, engineEnv) => {
  it('closes what createServer opened: a process that catches the error ends by itself', async () => {
    const index = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
    const script = `
      import { createServer, loadConfig } from ${JSON.stringify(index)};
      const server = await createServer({ config: loadConfig(process.env) });
      await server.listen().then(() => console.log('listening'), (err) => console.log(err.name, err.message));`;
    const env = { PATH: process.env.PATH ?? '', ...serverEnv({ ...engineEnv(), PORT: String(busyPort), LOG_LEVEL: 'error' }) };
    const result = await new Promise<{ killed: boolean; code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 10_000 }, (err, stdout, stderr) =>
        resolve({ killed: err?.killed ?? false, code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
    expect(result.killed, 'still running 10 s after the failed listen').toBe(false);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trim()).toBe(`StartError PORT ${busyPort} is already in use on HOST 127.0.0.1`);
  });
});

describe('TLS and secret files', () => {
  const procs: ServerProcess[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(procs.splice(0).map((p) => p.kill()));
  });

  it.each(engines)('serves HTTPS and WSS with TLS_CERT_FILE and TLS_KEY_FILE (%s)', async (_engine, engineEnv) => {
    const ca = readFileSync(certs.ca, 'utf8');
    const p = await startServerProcess({ ...engineEnv(), TLS_CERT_FILE: certs.cert, TLS_KEY_FILE: certs.key, LOG_LEVEL: 'info' }, { ca });
    procs.push(p);
    expect(p.url).toMatch(/^https:/);
    expect(await status(`${p.url}/health/ready`, ca)).toBe(200);
    // Nothing answers plain HTTP on that port, and the certificate is checked.
    expect(await status(`http://127.0.0.1:${p.port}/health/live`)).toBeUndefined();
    expect(await status(`${p.url}/health/live`)).toBeUndefined();
    expect(p.output()).toContain(`listening on https://127.0.0.1:${p.port}`);
    const a = await connect(p.url, { ca, claims: { sub: 'alice' } });
    const b = await connect(p.url, { ca, claims: { sub: 'bob' }, transports: ['polling'] });
    await request(a.socket, 'room:join', { room: 'tls' });
    await request(b.socket, 'room:join', { room: 'tls' });
    const got = next<{ payload: unknown }>(a.socket, 'room:message');
    expect(await request(b.socket, 'room:send', { room: 'tls', payload: 'over https' })).toMatchObject({ success: true });
    expect((await got).payload).toBe('over https');
  });

  it('reads JWT_SECRET from JWT_SECRET_FILE (a trailing newline is not part of it)', async () => {
    const p = await startServerProcess({ JWT_SECRET: '', JWT_SECRET_FILE: file('secret') });
    procs.push(p);
    const { established } = await connect(p.url, { claims: { sub: 'from-file' } });
    expect(established.userId).toBe('from-file');
  });
});

describe('Redis unreachable at start', () => {
  const procs: ServerProcess[] = [];
  let late: RedisServer | undefined;
  afterAll(async () => {
    closeAll();
    await Promise.all(procs.map((p) => p.kill()));
    await late?.stop();
  });

  it('stays live, answers 503 on /health/ready until Redis comes, then hears the other instances', async () => {
    const port = await freeRedisPort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
    const early = await startServerProcess(env, { ready: false });
    procs.push(early);
    const notReady = await fetch(`${early.url}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ reason: expect.stringContaining('redis') });
    expect((await fetch(`${early.url}/health/live`)).status).toBe(200);

    late = await startRedisServer({ port });
    await until(async () => (await fetch(`${early.url}/health/ready`)).status === 200, 20_000, 'ready once Redis is up');
    const other = await startServerProcess(env);
    procs.push(other);
    expect(early.exitCode()).toBeNull();

    // Presence goes through the Socket.IO adapter: its subscription was made once Redis came.
    const a = await connect(early.url, { claims: { sub: 'alice' } });
    const b = await connect(other.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'late-redis' });
    const joined = next<{ user: { userId: string } }>(a.socket, 'presence:join');
    await request(b.socket, 'room:join', { room: 'late-redis' });
    expect((await joined).user.userId).toBe('bob');
    expect(early.output()).not.toContain('unhandled rejection');
  });
});
