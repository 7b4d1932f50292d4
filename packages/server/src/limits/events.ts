import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, type ClientEventName } from '@intelgraph/websocket-protocol';

/**
 * What each client event costs from the connection's event budget
 * (RATE_LIMIT_EVENTS_PER_SECOND / _BURST), by the work it causes on the server and its stores. A
 * heartbeat is one unit; a history read of 1,000 messages eleven. `room:send` has budgets of its own
 * (per connection, user and tenant) and is not charged here. An event the protocol does not define
 * costs one unit, like the cheapest.
 */
export const EVENT_COSTS: Readonly<Record<ClientEventName, number | ((payload: unknown) => number)>> = {
  'room:join': 2,
  'room:leave': 1,
  'room:send': 0,
  'room:history': (payload) => 1 + Math.ceil(historyLimit(payload) / 100),
  'query:rooms': 1,
  'query:presence': 2,
  'presence:status': 2,
  'presence:heartbeat': 1,
  'auth:refresh': 5,
};

export const UNKNOWN_EVENT_COST = 1;

function historyLimit(payload: unknown): number {
  const limit = (payload as { limit?: unknown } | null)?.limit;
  return typeof limit === 'number' && Number.isFinite(limit) && limit >= 1 ? Math.min(limit, MAX_HISTORY_LIMIT) : DEFAULT_HISTORY_LIMIT;
}

/** The cost of one event with its payload. */
export function eventCost(event: ClientEventName | undefined, payload: unknown): number {
  if (event === undefined) return UNKNOWN_EVENT_COST;
  const cost = EVENT_COSTS[event];
  return typeof cost === 'number' ? cost : cost(payload);
}
