import type { InstanceRecord, InstanceRegistry } from '../types.js';

/** The embedded engine's instance registry: this process is the only instance. */
export class MemoryInstanceRegistry implements InstanceRegistry {
  private record: InstanceRecord | undefined;
  private expiresAt = 0;

  async publish(record: InstanceRecord, ttlMs: number): Promise<void> {
    this.record = structuredClone(record);
    this.expiresAt = record.updatedAt + ttlMs;
  }

  async instances(now: number): Promise<InstanceRecord[]> {
    return this.record && this.expiresAt > now ? [structuredClone(this.record)] : [];
  }
}
