import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';

/** The client's address: the peer, or the first X-Forwarded-For hop when TRUST_PROXY is on. */
export function clientAddress(headers: IncomingMessage['headers'], peer: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return peer ?? 'unknown';
}

/**
 * The key per-address limits count under: an IPv4 address as it is (an IPv4-mapped IPv6 address
 * included), an IPv6 address by its /64 network, which one host usually holds whole: counting each
 * of its addresses apart would let one host take as many budgets as it likes.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
