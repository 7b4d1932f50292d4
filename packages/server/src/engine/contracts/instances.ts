/** What one instance says of itself (see `InstanceRegistry`). */
export interface InstanceRecord {
  serverId: string;
  /** When the process started (ms). */
  startedAt: number;
  lifecycle: 'running' | 'draining' | 'closed';
  /** Socket.IO connections authenticated on the instance. */
  connections: number;
  /** Connections by tenant, the largest `MAX_TENANTS_PER_INSTANCE_RECORD` tenants only. */
  connectionsByTenant: Record<string, number>;
  /**
   * Per tenant since the instance started: `room:send` events received and client events refused
   * (the tenants with the most messages, `MAX_TENANTS_PER_INSTANCE_RECORD` at most). Absent in
   * records of instances that do not count.
   */
  countsByTenant?: Record<string, { messages: number; refused: number }>;
  /** Event loop delay (p99 over the last interval), ms. */
  eventLoopLagMs: number;
  /** When the record was published (ms). */
  updatedAt: number;
}

/** Tenants an instance record lists in `connectionsByTenant` at most. */
export const MAX_TENANTS_PER_INSTANCE_RECORD = 100;

/**
 * The live instances of the deployment: each publishes its record every few
 * seconds with a time to live; a record not published again within it is gone.
 * The embedded engine knows this instance only.
 */
export interface InstanceRegistry {
  publish(record: InstanceRecord, ttlMs: number): Promise<void>;
  /** The records whose time to live has not run out, by serverId. */
  instances(now: number): Promise<InstanceRecord[]>;
}
