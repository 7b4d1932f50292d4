import type { Config } from '../config.js';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { RoomKey, RoomStream } from '../engine/types.js';
import { CodedError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { jsonSize } from '../validation.js';

/** A message published by the application's backend (server API, `POST /api/publish`). */
export interface BackendMessage {
  payload: unknown;
  persistent?: boolean | undefined;
  /** Shown as the message's `from` (default `system`). */
  from?: string | undefined;
  /** Repeats within DEDUPE_WINDOW (same room and `from`) are answered with the first message's id, not delivered again. */
  idempotencyKey?: string | undefined;
}

export interface PublishDeps {
  config: Readonly<Config>;
  stream: RoomStream;
  metrics: Metrics;
  /** Told of each message published (not of duplicates): the webhooks' `message.published`. */
  onPublished?: (key: RoomKey, message: RoomMessage) => void;
}

/** Checks and publishes one backend message: `{ messageId, duplicate }`, or a coded error. */
export async function publishBackendMessage(deps: PublishDeps, key: RoomKey, m: BackendMessage): Promise<{ messageId: string; duplicate: boolean }> {
  const { config } = deps;
  if (m.payload === undefined) throw new CodedError('INVALID_PAYLOAD', 'A payload is required');
  const size = jsonSize(m.payload);
  if (config.maxMessageBytes > 0 && size > config.maxMessageBytes) throw new CodedError('PAYLOAD_TOO_LARGE', `Payloads are limited to ${config.maxMessageBytes} bytes`);
  const persistent = m.persistent === true;
  if (persistent && !config.persistence.enabled) throw new CodedError('INVALID_PAYLOAD', 'Persistence is disabled on this server');
  const result = await deps.stream.publish(
    key,
    { from: m.from ?? 'system', payload: m.payload, timestamp: Date.now(), ...(m.idempotencyKey !== undefined && { clientMessageId: m.idempotencyKey }) },
    { persistent },
  );
  if (persistent && !result.duplicate) deps.metrics.messagesPersisted.inc({ tenant: deps.metrics.tenant(key.tenantId) });
  if (!result.duplicate) deps.onPublished?.(key, result.message);
  return { messageId: result.message.id, duplicate: result.duplicate };
}
