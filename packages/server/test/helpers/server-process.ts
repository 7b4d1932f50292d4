import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { TEST_JWT_SECRET } from './tokens.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ServerProcess {
  url: string;
  port: number;
  env: Record<string, string>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** The process's exit code, once it exited. */
  exitCode(): number | null;
  /** SIGTERM, then wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash without goodbye), then wait for the exit. */
  kill(): Promise<void>;
  /** Starts the process again on the same port, with the same environment. */
  start(): Promise<void>;
  /** Sends a signal without waiting. */
  signal(sig: NodeJS.Signals): void;
  /** Resolves when the process exits. */
  exited(): Promise<number | null>;
}

export interface StartOptions {
  /**
   * Wait for /health/ready rather than /health/live. Default: when the server
   * is given a Redis (REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES), whose
   * connection comes up after the HTTP listener (a TLS handshake under load
   * can take a while); false for tests of a Redis that never becomes ready.
   */
  ready?: boolean;
  /**
   * The CA of the certificate in TLS_CERT_FILE: the process is then reached
   * over HTTPS (`url` is https://...) and its certificate checked against it.
   */
  ca?: string;
}

/** What every test server runs with unless `env` says otherwise (PORT aside); TRANSPORT_TUNING from the test run's environment. */
export function serverEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    CORS_ORIGIN: 'http://localhost:3000',
    SHUTDOWN_TIMEOUT: '2000',
    RECONNECT_JITTER: '200',
    // A test machine under load stalls event loops past the production limit; overload.test.ts sets its own.
    OVERLOAD_LAG_MS: '0',
    ...(process.env.TRANSPORT_TUNING !== undefined && { TRANSPORT_TUNING: process.env.TRANSPORT_TUNING }),
    ...env,
  };
}

/** Spawns `node dist/main.js` with `env` and nothing else of this process's environment but PATH and HOME. */
function spawnServer(env: Record<string, string>, opts: Pick<SpawnOptions, 'cwd' | 'uid' | 'gid'> = {}): ChildProcess {
  const { PATH, HOME } = process.env;
  return spawn(process.execPath, [MAIN], { env: { ...(PATH && { PATH }), ...(HOME && { HOME }), ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** The status of a GET, or undefined when nothing answered. */
export function status(url: string, ca?: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, { ...(ca !== undefined && { ca }), timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

export interface ProcessExit {
  /** Exit status; null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every non-empty line of stdout and stderr. */
  lines: string[];
  /** True when it was still running after `timeoutMs` and had to be killed. */
  killed: boolean;
}

export interface RunOptions {
  cwd?: string;
  /** Run as this user and group (a root test run needs another user to be refused a privileged port). */
  uid?: number;
  gid?: number;
  /** A process still running this long after the spawn is killed (default 10 s). */
  timeoutMs?: number;
}

/**
 * Runs `node dist/main.js` with exactly `env` (see `serverEnv`) until it exits
 * by itself, for starts that must fail. A process that neither listens nor
 * exits (kept up by a Redis connection, say) is killed after `timeoutMs` and
 * reported as `killed`: the test sees it, rather than waiting forever.
 */
export function runServerProcess(env: Record<string, string>, opts: RunOptions = {}): Promise<ProcessExit> {
  const { timeoutMs = 10_000, ...spawnOpts } = opts;
  const child = spawnServer(env, spawnOpts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const lines = `${stdout}\n${stderr}`.split('\n').filter((l) => l.trim() !== '');
      resolve({ code, signal, stdout, stderr, lines, killed });
    });
  });
}

/**
 * Starts `node packages/server/dist/main.js` as a real process on a free port
 * (the test run builds dist first) and waits until /health/live answers, and
 * /health/ready as well when it uses Redis (see StartOptions). `start()` after
 * `stop()` waits the same way.
 */
export async function startServerProcess(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<ServerProcess> {
  const waitReady = opts.ready ?? ['REDIS_URL', 'REDIS_HOST', 'REDIS_CLUSTER_NODES'].some((k) => env[k] !== undefined && env[k] !== '');
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const fullEnv: Record<string, string> = { ...serverEnv(env), PORT: String(port) };
  const url = `${opts.ca !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let out = '';
  let code: number | null = null;
  let exitPromise: Promise<number | null> = Promise.resolve(null);

  async function start(): Promise<void> {
    code = null;
    const proc = spawnServer(fullEnv);
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exitPromise = new Promise((resolve) => proc.once('exit', (c, sig) => resolve((code = c ?? (sig ? 128 : null)))));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${out}`);
      if ((await status(`${url}${waitReady ? '/health/ready' : '/health/live'}`, opts.ca)) === 200) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`server did not ${waitReady ? 'become ready' : 'start'} within 20 s:\n${out}`);
  }

  await start();
  return {
    url,
    port,
    env: fullEnv,
    output: () => out,
    exitCode: () => code,
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exitPromise;
    },
    async kill() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exitPromise;
    },
    start,
    signal(sig) {
      child?.kill(sig);
    },
    exited: () => exitPromise,
  };
}
