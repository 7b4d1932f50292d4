import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceRecord, InstanceRegistry } from '../../src/engine/types.js';

export interface InstancesContext {
  /** Two instances' views of one registry; with the embedded engine both are the same process. */
  a: InstanceRegistry;
  b: InstanceRegistry;
  close(): Promise<void>;
  wipe?(): Promise<void>;
}

export interface InstancesFactory {
  create(): Promise<InstancesContext>;
  /** The registry is shared by instances (Redis): each lists every live one. Otherwise it holds this process only. */
  shared: boolean;
}

let seq = 0;

/** The semantics every InstanceRegistry implementation must have. */
export function instancesContract(name: string, factory: InstancesFactory): void {
  describe(`InstanceRegistry contract: ${name}`, () => {
    let ctx: InstancesContext;
    beforeEach(async () => {
      ctx = await factory.create();
    });
    afterEach(async () => ctx.close());

    const record = (serverId: string, now: number, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
      serverId,
      startedAt: now - 5000,
      lifecycle: 'running',
      connections: 3,
      connectionsByTenant: { acme: 2, globex: 1 },
      eventLoopLagMs: 1.5,
      updatedAt: now,
      ...extra,
    });

    it('lists a published record until its time to live runs out, and the latest publication of it', async () => {
      const now = Date.now();
      const id = `srv-${process.pid}-${++seq}`;
      await ctx.a.publish(record(id, now), 10_000);
      expect(await ctx.a.instances(now + 1)).toEqual([record(id, now)]);
      await ctx.a.publish(record(id, now + 2000, { lifecycle: 'draining', connections: 1, connectionsByTenant: { acme: 1 } }), 10_000);
      expect(await ctx.b.instances(now + 2001)).toEqual([record(id, now + 2000, { lifecycle: 'draining', connections: 1, connectionsByTenant: { acme: 1 } })]);
      expect(await ctx.a.instances(now + 12_001)).toEqual([]);
    });

    it(factory.shared ? 'lists every live instance, by id' : 'knows this instance only', async () => {
      const now = Date.now();
      const [x, y] = [`srv-${process.pid}-${++seq}-x`, `srv-${process.pid}-${seq}-y`];
      await ctx.b.publish(record(y, now), 10_000);
      await ctx.a.publish(record(x, now), 10_000);
      const ids = (await ctx.a.instances(now + 1)).map((r) => r.serverId);
      expect(ids).toEqual(factory.shared ? [x, y] : [x]);
    });

    it('is whole again after a loss once each instance has published again', async () => {
      const now = Date.now();
      const id = `srv-${process.pid}-${++seq}`;
      await ctx.a.publish(record(id, now), 10_000);
      if (ctx.wipe) {
        await ctx.wipe();
        expect(await ctx.a.instances(now + 1)).toEqual([]);
      }
      await ctx.a.publish(record(id, now + 1000), 10_000);
      expect((await ctx.b.instances(now + 1001)).map((r) => r.serverId)).toEqual([id]);
    });
  });
}
