import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { closeAll, connect, next, request, until } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

describe('Redis over TLS (rediss://)', () => {
  let dir: string;
  let redis: ChildProcess;
  let port: number;
  const procs: ServerProcess[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
    makeCerts(dir);
    port = await freePort();
    redis = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--tls-cert-file', 'srv.pem', '--tls-key-file', 'srv.key', '--tls-ca-cert-file', 'ca.pem', '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir], { cwd: dir, stdio: 'ignore' });
    const ca = readFileSync(join(dir, 'ca.pem'));
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
            s.end();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      10_000,
      'redis-server over TLS',
    );
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => closeAll());

  it('runs two instances on a TLS-only Redis, trusting its CA through NODE_EXTRA_CA_CERTS', async () => {
    const env = { REDIS_URL: `rediss://127.0.0.1:${port}`, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') };
    procs.push(await startServerProcess(env), await startServerProcess(env));
    for (const p of procs) expect(await (await fetch(`${p.url}/health`)).json()).toMatchObject({ status: 'ok', engine: 'redis' });
    const a = await connect(procs[0]!.url, { claims: { sub: 'alice' } });
    const b = await connect(procs[1]!.url, { claims: { sub: 'bob' } });
    await request(a.socket, 'room:join', { room: 'tls' });
    await request(b.socket, 'room:join', { room: 'tls' });
    const got = next(b.socket, 'room:message');
    const ack = await request<{ messageId: string }>(a.socket, 'room:send', { room: 'tls', payload: 'encrypted', persistent: true });
    expect(await got).toMatchObject({ id: ack.messageId, payload: 'encrypted' });
  });

  it('refuses to trust an unknown CA: not ready, still live', async () => {
    const p = await startServerProcess({ REDIS_URL: `rediss://127.0.0.1:${port}` }, { ready: false });
    procs.push(p);
    expect((await fetch(`${p.url}/health/ready`)).status).toBe(503);
    expect((await fetch(`${p.url}/health/live`)).status).toBe(200);
  });
});
