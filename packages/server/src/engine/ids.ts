import { randomBytes } from 'node:crypto';

/** Width of the sequence part of a message id. */
export const SEQ_WIDTH = 16;
const EPOCH_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const EPOCH_LENGTH = 8;
/** Random bytes drawn 4 KiB at a time: the Redis engine passes a fresh epoch with every append (in case the room has no history), so one draw serves 512 of them. */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * The epoch of a position in a room without history (see `RoomStream.head`): never the epoch of a
 * history, so a read from such a position is told apart from one from an id.
 */
export const NO_HISTORY_EPOCH = '00000000';

/** A fresh 8-character epoch naming one continuous history of a room. */
export function newEpoch(): string {
  for (;;) {
    if (poolAt + EPOCH_LENGTH > pool.length) {
      pool = randomBytes(POOL_SIZE);
      poolAt = 0;
    }
    let out = '';
    for (let i = 0; i < EPOCH_LENGTH; i++) out += EPOCH_ALPHABET[(pool[poolAt + i] as number) % EPOCH_ALPHABET.length];
    poolAt += EPOCH_LENGTH;
    if (out !== NO_HISTORY_EPOCH) return out;
  }
}

/** First sequence number of a new history: the time in microseconds, so new histories sort after old ones. */
export function initialSequence(nowMs: number): number {
  return nowMs * 1000;
}

const ZEROS = '00000000';
const pad8 = (digits: string) => (digits.length < 8 ? ZEROS.slice(digits.length) + digits : digits);

/**
 * `<seq, 16 digits>-<epoch>`. The sequence is written as two 8-digit halves: each half is a small
 * integer, which V8 turns into a string several times faster than a 16-digit one.
 */
export function formatMessageId(seq: number, epoch: string): string {
  const high = Math.floor(seq / 1e8);
  return pad8(String(high)) + pad8(String(seq - high * 1e8)) + '-' + epoch;
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
