import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MAX_TENANTS_PER_INSTANCE_RECORD, type Engine, type InstanceRecord } from '../engine/types.js';
import type { Logger } from '../logger.js';

/** How often an instance publishes its record; a record lives three times as long. */
export const INSTANCE_REPORT_INTERVAL_MS = 5000;

/** What the report reads of a connection: its tenant, once authenticated. */
export interface ReportedConnection {
  data: { identity?: { tenantId: string } } | undefined;
}

export interface InstanceReportDeps {
  serverId: string;
  startedAt: number;
  engine: Pick<Engine, 'instances'>;
  /** The instance's Socket.IO connections. */
  connections(): Iterable<ReportedConnection>;
  lifecycle: { readonly state: InstanceRecord['lifecycle']; onChange(listener: (state: InstanceRecord['lifecycle']) => void): void };
  logger: Pick<Logger, 'warn'>;
  intervalMs?: number;
  /** This instance's counts by tenant since it started (the metrics' counters). */
  counts?: () => Promise<ReadonlyMap<string, { messages: number; refused: number }>>;
}

/** The tenants with the most messages (then refusals), at most MAX_TENANTS_PER_INSTANCE_RECORD. */
export function topCounts(counts: ReadonlyMap<string, { messages: number; refused: number }>): Record<string, { messages: number; refused: number }> {
  const top = [...counts].sort((a, b) => b[1].messages - a[1].messages || b[1].refused - a[1].refused || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_TENANTS_PER_INSTANCE_RECORD);
  // Tenant ids come from tokens: fromEntries defines own properties, so `__proto__` is a tenant like any other.
  return Object.fromEntries(top);
}

/** This instance's record now: its authenticated connections, by tenant (the largest tenants only). */
export function instanceRecord(deps: Pick<InstanceReportDeps, 'serverId' | 'startedAt' | 'connections' | 'lifecycle'>, eventLoopLagMs: number, now: number): InstanceRecord {
  const byTenant = new Map<string, number>();
  let connections = 0;
  for (const s of deps.connections()) {
    const t = s.data?.identity?.tenantId;
    if (t === undefined) continue;
    connections++;
    byTenant.set(t, (byTenant.get(t) ?? 0) + 1);
  }
  const top = [...byTenant].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_TENANTS_PER_INSTANCE_RECORD);
  return {
    serverId: deps.serverId,
    startedAt: deps.startedAt,
    lifecycle: deps.lifecycle.state,
    connections,
    // Tenant ids come from tokens: fromEntries defines own properties, so `__proto__` is a tenant like any other.
    connectionsByTenant: Object.fromEntries(top),
    eventLoopLagMs: Math.round(eventLoopLagMs * 100) / 100,
    updatedAt: now,
  };
}

/**
 * Publishes this instance's record in the engine's instance registry at once and every
 * `intervalMs` (default 5 s), with a time to live of three intervals: an instance that dies drops out
 * of `instances()` within 15 s, and a registry that lost its data (a Redis restarted empty) is whole
 * again within one interval. Returns a function that stops publishing.
 */
export function createInstanceReport(deps: InstanceReportDeps): { stop(): void } {
  const intervalMs = deps.intervalMs ?? INSTANCE_REPORT_INTERVAL_MS;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  let failing = false;
  let stopped = false;
  const publish = () => {
    const p99 = lag.percentile(99);
    lag.reset();
    const record = instanceRecord(deps, Number.isFinite(p99) ? p99 / 1e6 : 0, Date.now());
    const counted = deps.counts ? deps.counts().then((c) => ({ ...record, countsByTenant: topCounts(c) })) : Promise.resolve(record);
    counted.then((r) => deps.engine.instances.publish(r, 3 * intervalMs)).then(
      () => (failing = false),
      (err: unknown) => {
        // Once per outage (the next success re-arms it), and not for a publication cut short by closing.
        if (!failing && !stopped) deps.logger.warn({ err }, 'instance record not published');
        failing = true;
      },
    );
  };
  publish();
  // Other instances and the admin view see a drain begin at once, not up to an interval later.
  deps.lifecycle.onChange((state) => {
    if (state === 'draining' && !stopped) publish();
  });
  const timer = setInterval(publish, intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      lag.disable();
    },
  };
}
