/**
 * Shared pieces of the reliability runs (chaos, fuzz, soak): process helpers, /stats sampling,
 * option parsing and a child-process registry that is emptied on exit, whatever happens.
 */
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from '../../packages/server/test/helpers/server-process.js';
import { startRedisServer, type RedisServer } from '../../packages/server/test/helpers/redis-server.js';
import { mintToken, TEST_JWT_SECRET } from '../../packages/server/test/helpers/tokens.js';

export { startServerProcess, startRedisServer, mintToken, TEST_JWT_SECRET };
export type { ServerProcess, RedisServer };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when `moduleUrl` is the script node was started with (run as `tsx file.ts`). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && fileURLToPath(moduleUrl) === entry;
}

/** A numeric option: `--name=value` on the command line, else the environment variable, else the default. */
export function numberOption(flag: string, envName: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${flag}=`));
  const raw = arg !== undefined ? arg.slice(flag.length + 3) : process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} / ${envName} must be a non-negative number, got "${raw}"`);
  return n;
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** Polls `check` until it returns true; returns false after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

export interface ServerStats {
  connections: { total: number };
  rooms: { active: number; subscriptions: number };
  memory: { rssBytes: number; heapUsedBytes: number };
}

export async function getStats(url: string, token?: string): Promise<ServerStats> {
  const res = await fetch(`${url}/stats`, token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!res.ok) throw new Error(`/stats answered ${res.status}`);
  return (await res.json()) as ServerStats;
}

export async function isLive(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(5000) });
    return res.ok;
  } catch {
    return false;
  }
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Lines of process output that look like a JavaScript stack frame. */
export function stackLines(text: string): string[] {
  return text.split(/\r?\n|\\n/).filter((l) => /^\s*at\s+\S+.*(\(|:\d+:\d+)/.test(l));
}

/**
 * Everything a run started, stopped at the end (and on SIGINT/SIGTERM of the script):
 * no server process or redis-server outlives a run.
 */
export class Processes {
  private readonly servers = new Set<ServerProcess>();
  private readonly redises = new Set<RedisServer>();
  private readonly onSignal = (): void => {
    void this.stopAll().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  async server(env: Record<string, string>): Promise<ServerProcess> {
    // Instances (re)start while Redis may be down: the runs wait for liveness only, as before.
    const s = await startServerProcess(env, { ready: false });
    this.servers.add(s);
    return s;
  }

  async redis(appendOnly: boolean, args: string[] = []): Promise<RedisServer> {
    const r = await startRedisServer({ appendOnly, args });
    this.redises.add(r);
    return r;
  }

  async stopAll(): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await Promise.all([...this.servers].map((s) => s.kill().catch(() => {})));
    await Promise.all([...this.redises].map((r) => r.stop().catch(() => {})));
    this.servers.clear();
    this.redises.clear();
  }
}

/** Prints a progress line when `verbose`, prefixed by seconds since `start`. */
export function logger(verbose: boolean, start = Date.now()): (line: string) => void {
  return (line) => {
    if (verbose) process.stdout.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
}

/** Environment that preloads gc-on-signal.cjs into a server process (see gcStats). */
export function gcPreloadEnv(): Record<string, string> {
  const preload = fileURLToPath(new URL('./gc-on-signal.cjs', import.meta.url));
  return { NODE_OPTIONS: `--expose-gc --require ${JSON.stringify(preload).slice(1, -1)}` };
}

/** /stats after a full collection in a server started with gcPreloadEnv(). */
export async function gcStats(server: ServerProcess, token?: string): Promise<ServerStats> {
  server.signal('SIGUSR2');
  await sleep(300);
  server.signal('SIGUSR2');
  await sleep(300);
  return getStats(server.url, token);
}
