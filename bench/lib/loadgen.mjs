/**
 * The load generator: forks worker processes (each holding its share of the
 * connections), spreads them over loopback source addresses that rotate from
 * run to run, and merges what they measured.
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { merge, newHist } from './hist.mjs';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

/** Connections one worker holds at most (a process may open 20,000 descriptors). */
export const MAX_PER_WORKER = 6000;

/**
 * Loopback source addresses for this run: 127.B.0.2 .. 127.B.0.(n+1), with B moving on
 * each call (kept in bench/results/.address-base), so that the ports left in TIME_WAIT by
 * the previous run do not slow this one.
 */
export function sourceAddresses(n = 16) {
  mkdirSync(RESULTS, { recursive: true });
  const file = `${RESULTS}.address-base`;
  let base = 1;
  try {
    base = Number(readFileSync(file, 'utf8')) || 1;
  } catch {
    // first run
  }
  const next = (base % 250) + 1;
  writeFileSync(file, String(next));
  return Array.from({ length: n }, (_, i) => `127.${next}.0.${i + 2}`);
}

export class Worker {
  /** `script`: the worker's module (default lib/worker.mjs). */
  constructor(name, script = WORKER) {
    this.name = name;
    this.pending = new Map();
    this.seq = 0;
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.on('message', (m) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${this.name}: ${m.error}`));
      else p.resolve(m);
    });
    this.child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited (${code})`));
      this.pending.clear();
    });
  }

  call(cmd, args = {}, timeoutMs = 120_000) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ ...args, cmd, id });
    });
  }

  async close() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call('close', {}, 5000).catch(() => {});
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(killer);
  }
}

/**
 * A group of workers holding `count` clients of one server.
 * opts: { url, count, secret?, tenantId, userPrefix, addresses, workers?, concurrency?, connectTimeoutMs? }
 */
export class ClientFleet {
  constructor(name, opts) {
    this.name = name;
    this.opts = opts;
    const n = Math.max(opts.workers ?? 1, Math.ceil(opts.count / MAX_PER_WORKER));
    this.workers = Array.from({ length: n }, (_, i) => new Worker(`${name}#${i}`));
  }

  /** Signs the clients' tokens ahead, so that a timed `connect` measures connecting alone. */
  async prepare() {
    await this.#each('prepare');
  }

  /** Connects everything; resolves with how many connected and how long it took. */
  async connect() {
    const started = Date.now();
    const results = await this.#each('connect');
    return {
      connected: results.reduce((a, r) => a + r.connected, 0),
      ms: Date.now() - started,
      // Handshakes refused with OVERLOADED and tried again after retryAfterMs (not errors).
      overloadedRefusals: results.reduce((a, r) => a + (r.overloadedRefusals ?? 0), 0),
    };
  }

  #each(cmd) {
    const { count, workers: _w, addresses, ...rest } = this.opts;
    const per = Math.ceil(count / this.workers.length);
    return Promise.all(
      this.workers.map((w, i) => {
        const startIndex = (this.opts.indexBase ?? 0) + i * per;
        const n = Math.max(0, Math.min(per, count - i * per));
        // Each worker gets its own slice of the source addresses.
        const own = addresses.filter((_, k) => k % this.workers.length === i % addresses.length);
        return w.call(
          cmd,
          {
            client: process.env.BENCH_CLIENT === 'socket.io' ? 'socket.io' : 'wire',
            ...rest,
            count: n,
            startIndex,
            addresses: own.length ? own : addresses,
            concurrency: this.opts.concurrency ?? 50,
            connectTimeoutMs: this.opts.connectTimeoutMs ?? 20_000,
            deadlineMs: this.opts.deadlineMs ?? 180_000,
          },
          (this.opts.deadlineMs ?? 180_000) + 30_000,
        );
      }),
    );
  }

  async join(o) {
    const r = await Promise.all(this.workers.map((w) => w.call('join', { concurrency: 50, timeoutMs: 10_000, ...o })));
    return r.reduce((a, x) => a + x.joined, 0);
  }

  phase(p) {
    return Promise.all(this.workers.map((w) => w.call('phase', { phase: p })));
  }

  /** Sends at `rate` messages/s in total (split evenly over the workers) for durationMs. */
  async send(o) {
    const per = o.rate / this.workers.length;
    const r = await Promise.all(
      this.workers.map((w) =>
        w.call('send', { tickMs: 5, padBytes: 48, maxInFlight: 20_000, drainMs: 2000, persistent: false, ...o, rate: per }, o.durationMs + 30_000),
      ),
    );
    return r.reduce(
      (a, x) => ({
        sent: a.sent + x.sent,
        acked: a.acked + x.acked,
        ackErrors: a.ackErrors + x.ackErrors,
        skipped: a.skipped + x.skipped,
        pace: {
          bunched: a.pace.bunched + x.pace.bunched,
          maxPerTick: Math.max(a.pace.maxPerTick, x.pace.maxPerTick),
          maxTickGapMs: Math.max(a.pace.maxTickGapMs, x.pace.maxTickGapMs),
        },
      }),
      { sent: 0, acked: 0, ackErrors: 0, skipped: 0, pace: { bunched: 0, maxPerTick: 0, maxTickGapMs: 0 } },
    );
  }

  async collect() {
    const r = await Promise.all(this.workers.map((w) => w.call('collect')));
    const hist = newHist();
    for (const x of r) merge(hist, x.hist);
    return {
      hist,
      received: r.reduce((a, x) => a + x.received, 0),
      stale: r.reduce((a, x) => a + x.stale, 0),
      errors: r.reduce((a, x) => a + x.errors, 0),
      errorSamples: [...new Set(r.flatMap((x) => x.errorSamples))].slice(0, 10),
      connected: r.reduce((a, x) => a + x.connected, 0),
      cpuMicros: r.reduce((a, x) => a + x.cpuMicros, 0),
    };
  }

  async close() {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
