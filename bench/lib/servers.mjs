/**
 * Starting and measuring the servers under test: ours (packages/server/dist/main.js),
 * the bare Socket.IO baseline (bench/bare-server.mjs) and a private redis-server.
 * Every process started here is registered and killed on exit, even on failure.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));
const OURS = `${ROOT}packages/server/dist/main.js`;
const BARE = fileURLToPath(new URL('../bare-server.mjs', import.meta.url));
const FLOOR = fileURLToPath(new URL('../floor-server.mjs', import.meta.url));

/** HS256 secret of the bench's server processes (production requires 64+ characters). */
export const BENCH_SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-ABCDEFGH';
export const BENCH_TENANT = 'bench';

const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout?.on('data', (d) => (out = (out + d).slice(-20_000)));
  child.stderr?.on('data', (d) => (out = (out + d).slice(-20_000)));
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
  return { output: () => out, exited };
}

/** CPU time (user + system) of any process, in microseconds, from /proc. */
export function procCpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return null;
  }
}

/** Read and write system calls of a process so far, from /proc/<pid>/io. */
export function procSyscalls(pid) {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (k) => Number(io.match(new RegExp(`^${k}: (\\d+)`, 'm'))?.[1] ?? NaN);
    return { reads: get('syscr'), writes: get('syscw') };
  } catch {
    return null;
  }
}

async function startNode(name, script, env, opts = {}) {
  const port = await freePort();
  const nodeArgs = ['--expose-gc', '--import', PROBE, ...(opts.nodeArgs ?? [])];
  if (opts.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`);
  const { PATH, HOME } = process.env;
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { ...(PATH && { PATH }), ...(HOME && { HOME }), ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const t = track(child);
  let probeSeq = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    const w = waiting.get(m?.id);
    if (w) {
      waiting.delete(m.id);
      w(m);
    }
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const err = new Error(`${name} exited with ${child.exitCode ?? child.signalCode} at start:\n${t.output().trim()}`);
      err.startFailure = true;
      throw err;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer within 20 s:\n${t.output()}`);
    }
    try {
      if ((await fetch(`${url}/health/live`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return {
    name,
    pid: child.pid,
    port,
    url,
    output: t.output,
    /** Memory (optionally after a full GC) and CPU time, from inside the process. */
    probe(gc = false) {
      const id = ++probeSeq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => (waiting.delete(id), reject(new Error(`${name}: probe timed out`))), 30_000);
        waiting.set(id, (m) => (clearTimeout(timer), resolve(m)));
        child.send({ type: 'probe', id, gc });
      });
    },
    cpuMicros: () => procCpuMicros(child.pid),
    syscalls: () => procSyscalls(child.pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await t.exited;
      clearTimeout(killer);
    },
  };
}

/** The patches of TRANSPORT_TUNING, in the server's order (packages/server/src/config-schema.ts). */
const PATCHES = ['write-batching', 'direct-broadcast', 'handshake-release', 'listener-compaction'];

/** A TRANSPORT_TUNING value; `-name` is every patch but that one. */
export function tuningValue(spec) {
  return spec.startsWith('-') ? PATCHES.filter((p) => p !== spec.slice(1)).join(',') : spec;
}

/**
 * Our server with every feature on (auth, rate limits with bench-sized limits, metrics, presence,
 * history); `opts.tuning` sets its TRANSPORT_TUNING.
 */
export function startOurs(extraEnv = {}, opts = {}) {
  return startNode(opts.name ?? 'ours', OURS, {
    ...(opts.tuning && { TRANSPORT_TUNING: tuningValue(opts.tuning) }),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    JWT_SECRET: BENCH_SECRET,
    CORS_ORIGIN: 'https://app.example.com',
    SHUTDOWN_TIMEOUT: '1000',
    RECONNECT_JITTER: '0',
    // Limits sized for the bench: all are on, none is hit by the load it sends.
    RATE_LIMIT_MESSAGES_PER_SECOND: '100000',
    RATE_LIMIT_MESSAGES_BURST: '100000',
    RATE_LIMIT_USER_MESSAGES_PER_SECOND: '100000',
    RATE_LIMIT_USER_MESSAGES_BURST: '100000',
    RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '1000000',
    RATE_LIMIT_TENANT_MESSAGES_BURST: '1000000',
    RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: '100000',
    RATE_LIMIT_CONNECTIONS_PER_IP_BURST: '100000',
    RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: '100000',
    RATE_LIMIT_SESSIONS_PER_IP_BURST: '100000',
    MAX_PENDING_SESSIONS_PER_IP: '100000',
    MAX_PENDING_SESSIONS: '1000000',
    RATE_LIMIT_EVENTS_PER_SECOND: '100000',
    RATE_LIMIT_EVENTS_BURST: '100000',
    ...extraEnv,
  }, opts);
}

export function startBare(extraEnv = {}, opts = {}) {
  return startNode(opts.name ?? 'bare', BARE, { NODE_ENV: 'production', ...extraEnv }, opts);
}

/** The floor: a minimal relay on `ws` speaking the same wire format (bench/floor-server.mjs). */
export function startFloor(extraEnv = {}, opts = {}) {
  return startNode(opts.name ?? 'floor', FLOOR, { NODE_ENV: 'production', ...extraEnv }, opts);
}

/** A private redis-server on a free port, without persistence. Resolves undefined when none is installed. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const t = track(child);
  const failed = await Promise.race([
    new Promise((resolve) => child.once('error', (err) => resolve(err))),
    t.exited.then((c) => new Error(`redis-server exited (${c}): ${t.output()}`)),
    (async () => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (await ping(port)) return undefined;
        await sleep(50);
      }
      return new Error('redis-server did not answer PING within 10 s');
    })(),
  ]);
  if (failed) {
    child.kill('SIGKILL');
    return { error: String(failed.message ?? failed) };
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    cpuMicros: () => procCpuMicros(child.pid),
    async stop() {
      child.kill('SIGTERM');
      await t.exited;
    },
  };
}

async function ping(port) {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    const done = (v) => (s.destroy(), resolve(v));
    s.setTimeout(300, () => done(false));
    s.once('error', () => done(false));
    s.once('data', (d) => done(String(d).startsWith('+PONG')));
    s.once('connect', () => s.write('PING\r\n'));
  });
}
