import type { DeadLetter, DeadLetterLimits, DeadLetterQuery, OutboxItem, QueuedEvent, WebhookStore } from '../types.js';

interface Held {
  item: OutboxItem;
  dueAt: number;
  /** Order of holding, so leaves due at the same time are queued in the order they happened. */
  seq: number;
}

/** The webhook outbox of one process (the embedded engine): the same contract as on Redis. */
export class MemoryWebhookStore implements WebhookStore {
  private readonly queues = new Map<string, QueuedEvent[]>();
  private readonly held = new Map<string, Held>();
  private readonly leases = new Map<string, { owner: string; until: number }>();
  /** Letters by id (ids start with the failure time: their order is the failures' order). */
  private readonly letters = new Map<string, DeadLetter>();
  private readonly servers = new Map<string, { seenAt: number; users: Set<string> }>();
  private seq = 0;

  async add(items: readonly OutboxItem[], now: number, graceMs: number, queueMax: number): Promise<number> {
    let dropped = 0;
    for (const item of items) {
      const hold = item.hold;
      if (hold?.kind === 'leave' && graceMs > 0) {
        this.held.set(hold.subject, { item, dueAt: now + graceMs, seq: this.seq++ });
      } else if (hold?.kind === 'enter' && this.held.delete(hold.subject)) {
        continue;
      } else {
        dropped += this.enqueue(item, now, queueMax);
      }
    }
    return dropped;
  }

  async due(now: number, limit: number): Promise<string[]> {
    return [...this.held.entries()]
      .filter(([, h]) => h.dueAt <= now)
      .sort((a, b) => a[1].dueAt - b[1].dueAt || a[1].seq - b[1].seq)
      .slice(0, limit)
      .map(([subject]) => subject);
  }

  async settle(release: readonly string[], drop: readonly string[], now: number, queueMax: number): Promise<number> {
    let queued = 0;
    for (const subject of release) {
      const h = this.held.get(subject);
      if (!h) continue;
      this.held.delete(subject);
      this.enqueue(h.item, now, queueMax);
      queued++;
    }
    for (const subject of drop) this.held.delete(subject);
    return queued;
  }

  private enqueue(item: OutboxItem, now: number, queueMax: number): number {
    let dropped = 0;
    for (const endpoint of item.endpoints) {
      let q = this.queues.get(endpoint);
      if (!q) this.queues.set(endpoint, (q = []));
      if (q.length >= queueMax) dropped++;
      else q.push({ id: item.id, json: item.json, queuedAt: now });
    }
    return dropped;
  }

  async active(): Promise<string[]> {
    return [...this.queues].filter(([, q]) => q.length > 0).map(([e]) => e);
  }

  async peek(endpoint: string, max: number): Promise<QueuedEvent[]> {
    return (this.queues.get(endpoint) ?? []).slice(0, max).map((e) => ({ ...e }));
  }

  async ack(endpoint: string, ids: readonly string[]): Promise<number> {
    const q = this.queues.get(endpoint);
    if (!q) return 0;
    let n = 0;
    while (n < ids.length && q[0]?.id === ids[n]) {
      q.shift();
      n++;
    }
    if (q.length === 0) this.queues.delete(endpoint);
    return n;
  }

  async deadLetter(endpoint: string, ids: readonly string[], letters: readonly DeadLetter[], limits: DeadLetterLimits, now: number): Promise<number> {
    const n = await this.ack(endpoint, ids);
    for (const l of letters) this.letters.set(l.id, structuredClone(l));
    this.prune(limits, now);
    return n;
  }

  /** Letter ids, oldest first. */
  private ids(): string[] {
    return [...this.letters.keys()].sort();
  }

  private prune(limits: DeadLetterLimits, now: number): void {
    for (const id of this.ids()) {
      const l = this.letters.get(id) as DeadLetter;
      if (this.letters.size <= limits.max && l.failedAt >= now - limits.ttlMs) break;
      this.letters.delete(id);
    }
  }

  async lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const l = this.leases.get(name);
    if (l && l.owner !== owner && l.until > now) return false;
    this.leases.set(name, { owner, until: now + ttlMs });
    return true;
  }

  async unlease(name: string, owner: string): Promise<void> {
    if (this.leases.get(name)?.owner === owner) this.leases.delete(name);
  }

  async deadLetters(query: DeadLetterQuery, now: number, ttlMs: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const l of this.ids().reverse().map((id) => this.letters.get(id) as DeadLetter)) {
      if (out.length >= query.limit) break;
      if (l.failedAt < now - ttlMs) continue;
      if (query.before !== undefined && l.id >= query.before) continue;
      if (query.tenantId !== undefined && l.tenantId !== query.tenantId) continue;
      out.push(structuredClone(l));
    }
    return out;
  }

  async letter(id: string, now: number, ttlMs: number): Promise<DeadLetter | undefined> {
    const l = this.letters.get(id);
    return l && l.failedAt >= now - ttlMs ? structuredClone(l) : undefined;
  }

  async replay(id: string, now: number): Promise<DeadLetter | undefined> {
    const l = this.letters.get(id);
    if (!l) return undefined;
    this.letters.delete(id);
    let q = this.queues.get(l.endpoint);
    if (!q) this.queues.set(l.endpoint, (q = []));
    // A replay is what the application asked for: it is not refused by the queue's cap.
    for (const e of l.events) q.push({ id: e.id, json: e.json, queuedAt: now });
    return l;
  }

  async discard(id: string): Promise<boolean> {
    return this.letters.delete(id);
  }

  async track(serverId: string, users: readonly string[], now: number): Promise<void> {
    let s = this.servers.get(serverId);
    if (!s) this.servers.set(serverId, (s = { seenAt: now, users: new Set() }));
    s.seenAt = now;
    for (const u of users) s.users.add(u);
  }

  async untrack(serverId: string, user: string): Promise<void> {
    this.servers.get(serverId)?.users.delete(user);
  }

  async refresh(serverId: string, now: number): Promise<boolean> {
    const s = this.servers.get(serverId);
    if (!s) return false;
    s.seenAt = now;
    return true;
  }

  async silent(before: number): Promise<string[]> {
    return [...this.servers].filter(([, s]) => s.seenAt < before).map(([id]) => id);
  }

  async takeUsers(serverId: string, max: number): Promise<string[]> {
    const s = this.servers.get(serverId);
    if (!s || s.users.size === 0) {
      this.servers.delete(serverId);
      return [];
    }
    const taken = [...s.users].slice(0, max);
    for (const u of taken) s.users.delete(u);
    return taken;
  }
}
