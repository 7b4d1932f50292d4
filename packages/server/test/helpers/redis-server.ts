/**
 * Private `redis-server` processes for tests: each suite starts its own on free
 * ports, so suites never share state with each other or with a Redis already
 * running on the machine.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RedisServerOptions {
  /** Append-only file persistence, so data survives `restart()`. */
  appendOnly?: boolean;
  /** Extra `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: string[];
  /** Port to use; a free one is picked when absent. */
  port?: number;
  /** Working directory (a fresh temporary one when absent). */
  dir?: string;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the process (SIGTERM) and removes its directory unless it was given. */
  stop(): Promise<void>;
  /** Kills the process at once (SIGKILL), keeping its directory for `restart()`. */
  kill(): Promise<void>;
  /** Starts the process again on the same port and directory (after `kill` or `pause`). */
  restart(): Promise<void>;
  /** Stops the process gracefully without removing its directory. */
  pause(): Promise<void>;
  /** Kills the process (SIGKILL), deletes what it persisted (AOF, RDB) and starts it again: a Redis that lost its data. */
  restartEmpty(): Promise<void>;
  /** Sends a signal without waiting (SIGSTOP freezes the process, SIGCONT lets it go on). */
  signal(sig: NodeJS.Signals): void;
}

/** Whether a TCP port on 127.0.0.1 can be bound now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A port that is free together with port + 10000 (a cluster node's bus port).
 * Picked at random, and below the kernel's ephemeral range (32768 and up) for
 * both: a port there may be held by an outgoing connection (even in TIME-WAIT)
 * the moment Redis binds it.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10_000 + Math.floor(Math.random() * 12_700);
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port found');
}

/** Sends one inline command and returns the raw reply text, or undefined when nothing answers. */
function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    const done = (v: string | undefined) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(undefined));
    sock.once('error', () => done(undefined));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (replyComplete(data)) done(data);
    });
    sock.once('connect', () => sock.write(`${command}\r\n`));
  });
}

/** Whether a simple or bulk RESP reply has arrived whole. */
function replyComplete(data: string): boolean {
  const eol = data.indexOf('\r\n');
  if (eol < 0) return false;
  if (data[0] !== '$') return true;
  const len = Number(data.slice(1, eol));
  return len < 0 || Buffer.byteLength(data) >= eol + 2 + len + 2;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Kills a Redis process once this (test) process is gone, even when it was
 * killed before its afterAll hooks ran: a detached shell checks every second.
 */
function watch(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  const script = `while kill -0 ${proc.pid} 2>/dev/null; do kill -0 ${process.pid} 2>/dev/null || { kill -9 ${proc.pid}; exit 0; }; sleep 1; done`;
  spawn('sh', ['-c', script], { stdio: 'ignore', detached: true }).unref();
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'redis-test-')));
  let child: ChildProcess | undefined;

  const launch = async () => {
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', opts.appendOnly ? 'yes' : 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...(opts.args ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    watch(proc);
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child = proc;
    try {
      await waitFor(async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr}`);
        return (await rawCommand(port, 'PING'))?.startsWith('+PONG') ?? false;
      }, `redis-server on port ${port}`);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  };

  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    proc.kill(signal);
    await exited(proc);
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async stop() {
      await halt('SIGTERM');
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    kill: () => halt('SIGKILL'),
    pause: () => halt('SIGTERM'),
    signal(sig) {
      child?.kill(sig);
    },
    async restartEmpty() {
      await halt('SIGKILL');
      await Promise.all(['appendonlydir', 'appendonly.aof', 'dump.rdb'].map((f) => rm(join(dir, f), { recursive: true, force: true })));
      await launch();
    },
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
  };
}

export interface RedisClusterHandle {
  /** All six nodes (three masters, three replicas). */
  readonly nodes: RedisServer[];
  /** `{ host, port }` of every node, for ioredis `Cluster`. */
  readonly startupNodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Six `--cluster-enabled` nodes joined into a cluster of three masters with one replica each. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  };
  try {
    for (let i = 0; i < 6; i++) {
      nodes.push(
        await startRedisServer({
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '2000',
            // A replica may take over however long ago it last heard from its master (an idle test cluster).
            '--cluster-replica-validity-factor', '0',
          ],
        }),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await waitFor(
      async () => {
        const infos = await Promise.all(nodes.map((n) => rawCommand(n.port, 'CLUSTER INFO')));
        return infos.every((i) => i?.includes('cluster_state:ok'));
      },
      'cluster_state:ok on every node',
      60_000,
    );
    // Every node must also agree that all slots are assigned before clients route commands.
    await waitFor(
      async () => {
        const infos = await Promise.all(nodes.map((n) => rawCommand(n.port, 'CLUSTER INFO')));
        return infos.every((i) => i?.includes('cluster_slots_ok:16384') && i.includes('cluster_known_nodes:6'));
      },
      'all slots known on every node',
      60_000,
    );
    // Every replica attached and in sync with its master, and known as such by every node: a master
    // killed before that has no replica ready to take over its slots (a failover could then never happen).
    await waitFor(
      async () => {
        const repl = await Promise.all(nodes.map((n) => rawCommand(n.port, 'INFO replication')));
        const masters = repl.filter((i) => i?.includes('role:master'));
        const replicas = repl.filter((i) => i?.includes('role:slave'));
        if (masters.length !== 3 || replicas.length !== 3) return false;
        if (!masters.every((i) => i?.includes('connected_slaves:1'))) return false;
        if (!replicas.every((i) => i?.includes('master_link_status:up') && i.includes('master_sync_in_progress:0'))) return false;
        const views = await Promise.all(nodes.map((n) => rawCommand(n.port, 'CLUSTER NODES')));
        return views.every((v) => (v?.match(/\bslave\b/g) ?? []).length === 3);
      },
      'every replica in sync and known by every node',
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), stop };
}

/**
 * Has the replica listening on `port` take over its master's slots with `CLUSTER FAILOVER` (the
 * master stays up and becomes its replica). A manual failover gives up after a few seconds when the
 * two do not agree in time (a loaded machine), so it is asked again until the replica is a master.
 */
export async function handOver(port: number, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const isMaster = async () => (await rawCommand(port, 'INFO replication', 1000))?.includes('role:master') ?? false;
  while (Date.now() < deadline) {
    const reply = await rawCommand(port, 'CLUSTER FAILOVER', 2000);
    if (!reply?.startsWith('+OK') && !(await isMaster())) throw new Error(`CLUSTER FAILOVER on ${port}: ${reply}`);
    const asked = Date.now();
    while (Date.now() - asked < 8000 && Date.now() < deadline) {
      if (await isMaster()) return;
      await sleep(100);
    }
  }
  throw new Error(`replica ${port} did not take over within ${timeoutMs} ms`);
}

/**
 * Has the replica listening on `port` take its (dead or unreachable) master's slots with
 * `CLUSTER FAILOVER TAKEOVER`: no agreement with the master or the other masters, whatever the
 * replica has or has not received. Asked again until the replica is a master (it may still be
 * rejoining the cluster after a pause, or be promoted by an automatic failover meanwhile).
 */
export async function takeOver(port: number, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const isMaster = async () => (await rawCommand(port, 'INFO replication', 1000))?.includes('role:master') ?? false;
  while (Date.now() < deadline) {
    if (await isMaster()) return;
    await rawCommand(port, 'CLUSTER FAILOVER TAKEOVER', 2000);
    const asked = Date.now();
    while (Date.now() - asked < 3000 && Date.now() < deadline) {
      if (await isMaster()) return;
      await sleep(100);
    }
  }
  throw new Error(`replica ${port} did not take over within ${timeoutMs} ms`);
}
