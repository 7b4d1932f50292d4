import { spawn, type ChildProcess } from 'node:child_process';
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
  const fullEnv: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    CORS_ORIGIN: 'http://localhost:3000',
    SHUTDOWN_TIMEOUT: '2000',
    RECONNECT_JITTER: '200',
    ...env,
    PORT: String(port),
  };
  let child: ChildProcess | undefined;
  let out = '';
  let code: number | null = null;
  let exitPromise: Promise<number | null> = Promise.resolve(null);

  async function start(): Promise<void> {
    code = null;
    const { PATH, HOME } = process.env;
    const proc = spawn(process.execPath, [MAIN], {
      env: { ...(PATH && { PATH }), ...(HOME && { HOME }), ...fullEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exitPromise = new Promise((resolve) => proc.once('exit', (c, sig) => resolve((code = c ?? (sig ? 128 : null)))));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${out}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}${waitReady ? '/health/ready' : '/health/live'}`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`server did not ${waitReady ? 'become ready' : 'start'} within 20 s:\n${out}`);
  }

  await start();
  return {
    url: `http://127.0.0.1:${port}`,
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
