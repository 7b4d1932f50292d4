/** An event on its way to the outbox: its JSON (as delivered), its id, who receives it, and its grace rule. */
export interface OutboxItem {
  id: string;
  /** `{ id, type, tenantId, time, data }` as JSON: stored and delivered as is. */
  json: string;
  /** Endpoint ids that receive it (none: it is dropped, unless it cancels a held leave). */
  endpoints: readonly string[];
  /**
   * A `leave` (member.left, room.vacated, user.offline) is held for the grace window; an `enter`
   * (member.joined, room.occupied, user.online) of the same subject during it cancels both.
   */
  hold?: { kind: 'enter' | 'leave'; subject: string };
}

/** One event in an endpoint's queue. */
export interface QueuedEvent {
  id: string;
  json: string;
  /** When it entered the queue (ms). */
  queuedAt: number;
}

/** A batch that was not delivered within the retry time, for one tenant. */
export interface DeadLetter {
  /** `dl_<failedAt, 13 digits>_<random>`: sorts by failure time. */
  id: string;
  tenantId: string;
  endpoint: string;
  url: string;
  events: QueuedEvent[];
  attempts: number;
  lastError: string;
  failedAt: number;
}

export interface DeadLetterQuery {
  /** Only this tenant's (undefined: every tenant's). */
  tenantId?: string;
  /** Only letters older than this id (the last id of the previous page). */
  before?: string;
  limit: number;
}

export interface DeadLetterLimits {
  /** Letters kept at most (the oldest go first). */
  max: number;
  /** Letters older than this are dropped (ms). */
  ttlMs: number;
}

/**
 * The webhook outbox, shared by every instance on Redis (all its keys in one Cluster slot, each
 * operation one script): so that each event, derived once by the instance whose store change made
 * it, is delivered by exactly one instance at a time, in order per endpoint.
 */
export interface WebhookStore {
  /**
   * Adds events in order: a `leave` is held until `now + graceMs` (graceMs 0: queued at once); an
   * `enter` whose subject has a held leave cancels both; anything else goes to the tail of each of
   * its endpoints' queues, unless that queue holds `queueMax` events (then it is dropped there).
   * Returns the number of (event, endpoint) pairs dropped.
   */
  add(items: readonly OutboxItem[], now: number, graceMs: number, queueMax: number): Promise<number>;
  /** Subjects of held leaves whose grace window ended, in the order they were held (at most `limit`). */
  due(now: number, limit: number): Promise<string[]>;
  /**
   * Queues the held leaves of `release` (in this order) and forgets those of `drop` (a leave no
   * longer true when its window ended). A subject no longer held (another instance settled it) is
   * skipped. Returns the number of events queued.
   */
  settle(release: readonly string[], drop: readonly string[], now: number, queueMax: number): Promise<number>;
  /** Endpoints with queued events. */
  active(): Promise<string[]>;
  /** The first `max` events of an endpoint's queue. */
  peek(endpoint: string, max: number): Promise<QueuedEvent[]>;
  /** Removes the queue's first events while they are these ids, in this order; returns how many. */
  ack(endpoint: string, ids: readonly string[]): Promise<number>;
  /** Like `ack`, and stores the letters, within `limits`; returns how many events were removed. */
  deadLetter(endpoint: string, ids: readonly string[], letters: readonly DeadLetter[], limits: DeadLetterLimits, now: number): Promise<number>;
  /** Takes or renews the delivery lease `name` for `owner`; false when another owner holds it. */
  lease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease back if `owner` holds it. */
  unlease(name: string, owner: string): Promise<void>;
  /** Newest first, expired ones left out. */
  deadLetters(query: DeadLetterQuery, now: number, ttlMs: number): Promise<DeadLetter[]>;
  /** One letter (undefined when there is none, or it expired). */
  letter(id: string, now: number, ttlMs: number): Promise<DeadLetter | undefined>;
  /** Queues a letter's events again at the tail of its endpoint's queue and removes the letter; undefined when there is none. */
  replay(id: string, now: number): Promise<DeadLetter | undefined>;
  /** Removes a letter; false when there was none. */
  discard(id: string): Promise<boolean>;
  /**
   * The users with connections on an instance, for the events of an instance that dies: `track` adds
   * them (and marks the instance as alive now), `untrack` removes one, `refresh` marks it alive
   * (false when its user set is missing: a store that lost it gets it back with `track`).
   */
  track(serverId: string, users: readonly string[], now: number): Promise<void>;
  untrack(serverId: string, user: string): Promise<void>;
  refresh(serverId: string, now: number): Promise<boolean>;
  /** Instances tracked and not marked alive since `before`. */
  silent(before: number): Promise<string[]>;
  /** Up to `max` users of a silent instance, removed from its set; an empty answer forgets the instance. */
  takeUsers(serverId: string, max: number): Promise<string[]>;
}
