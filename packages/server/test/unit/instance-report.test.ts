import { describe, expect, it } from 'vitest';
import { MemoryInstanceRegistry } from '../../src/engine/memory/instances.js';
import type { InstanceRecord } from '../../src/engine/types.js';
import { createInstanceReport, instanceRecord, type ReportedConnection } from '../../src/instances/report.js';
import { connect } from '../helpers/clients.js';
import { startTestServer } from '../helpers/in-process.js';
import { until } from '../helpers/redis-clients.js';

const of = (tenantId: string | undefined): ReportedConnection => ({ data: tenantId === undefined ? undefined : { identity: { tenantId } } });

describe('instance record', () => {
  it('counts authenticated connections, by tenant, the 100 largest tenants only', () => {
    // Tenant ids come from tokens: `__proto__` is one like any other (here the largest).
    const conns: ReportedConnection[] = [of(undefined), ...Array.from({ length: 200 }, () => of('__proto__'))];
    // Tenant t<i> has i + 1 connections: with `__proto__`, the 100 largest are t51..t149.
    for (let i = 0; i < 150; i++) for (let k = 0; k <= i; k++) conns.push(of(`t${i}`));
    const lifecycle = { state: 'running' as const, onChange() {} };
    const r = instanceRecord({ serverId: 'srv', startedAt: 1, connections: () => conns, lifecycle }, 3.14159, 1000);
    expect(r.connections).toBe(200 + (150 * 151) / 2);
    expect(Object.keys(r.connectionsByTenant)).toHaveLength(100);
    expect(Object.getOwnPropertyDescriptor(r.connectionsByTenant, '__proto__')?.value).toBe(200);
    expect(r.connectionsByTenant.t149).toBe(150);
    expect(r.connectionsByTenant.t51).toBe(52);
    expect(r.connectionsByTenant.t50).toBeUndefined();
    expect(JSON.parse(JSON.stringify(r)).connectionsByTenant.__proto__).toBe(200);
    expect(r).toMatchObject({ serverId: 'srv', startedAt: 1, lifecycle: 'running', eventLoopLagMs: 3.14, updatedAt: 1000 });
  });

  it('is published at once, every interval, and as soon as the instance drains', async () => {
    const registry = new MemoryInstanceRegistry();
    const listeners: ((s: InstanceRecord['lifecycle']) => void)[] = [];
    const lifecycle = { state: 'running' as InstanceRecord['lifecycle'], onChange: (l: (s: InstanceRecord['lifecycle']) => void) => void listeners.push(l) };
    const conns = [of('acme')];
    const report = createInstanceReport({ serverId: 'srv', startedAt: 1, engine: { instances: registry }, connections: () => conns, lifecycle, logger: { warn() {} }, intervalMs: 60_000 });
    try {
      await until(async () => (await registry.instances(Date.now())).length === 1, 'the first record');
      expect((await registry.instances(Date.now()))[0]).toMatchObject({ serverId: 'srv', connections: 1, connectionsByTenant: { acme: 1 }, lifecycle: 'running' });
      conns.push(of('acme'));
      lifecycle.state = 'draining';
      for (const l of listeners) l('draining');
      await until(async () => (await registry.instances(Date.now()))[0]?.lifecycle === 'draining', 'the draining record');
      expect((await registry.instances(Date.now()))[0]).toMatchObject({ connections: 2, connectionsByTenant: { acme: 2 } });
      // Three intervals to live.
      expect(await registry.instances(Date.now() + 180_001)).toEqual([]);
    } finally {
      report.stop();
    }
  });

  it('lists this instance on the embedded engine, with its connections', async () => {
    const srv = await startTestServer();
    try {
      await connect(srv.url, { claims: { sub: 'a', tenantId: 'acme' } });
      await connect(srv.url, { claims: { sub: 'b', tenantId: 'globex' } });
      // Published every 5 s: the first record, at start, has no connection yet.
      await until(async () => (await srv.server.engine.instances.instances(Date.now()))[0]?.connections === 2, 'a record with both connections', 15_000);
      const [record] = await srv.server.engine.instances.instances(Date.now());
      expect(record).toMatchObject({ serverId: srv.server.config.serverId, lifecycle: 'running', connectionsByTenant: { acme: 1, globex: 1 } });
    } finally {
      await srv.close();
    }
  });
});
