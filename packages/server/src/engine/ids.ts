import { randomBytes } from 'node:crypto';

/** Width of the sequence part of a message id. */
export const SEQ_WIDTH = 16;
const EPOCH_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh 8-character epoch naming one continuous history of a room. */
export function newEpoch(): string {
  const bytes = randomBytes(8);
  let out = '';
  for (const b of bytes) out += EPOCH_ALPHABET[b % EPOCH_ALPHABET.length];
  return out;
}

/** First sequence number of a new history: the time in microseconds, so new histories sort after old ones. */
export function initialSequence(nowMs: number): number {
  return nowMs * 1000;
}

export function formatMessageId(seq: number, epoch: string): string {
  return `${String(seq).padStart(SEQ_WIDTH, '0')}-${epoch}`;
}

const ID_PATTERN = /^(\d{16})-([a-z0-9]{8})$/;

export function parseMessageId(id: unknown): { seq: number; epoch: string } | undefined {
  if (typeof id !== 'string') return undefined;
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const seq = Number(m[1]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { seq, epoch: m[2] as string };
}
