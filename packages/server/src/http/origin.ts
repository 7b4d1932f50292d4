import type { IncomingHttpHeaders } from 'node:http';

/**
 * Which browser origins may use the server. A browser names the page's origin in the `Origin`
 * header; non-browser clients usually send none. Allowed are:
 * - requests without `Origin` (native, mobile and server clients: a browser always sends one on
 *   cross-origin requests and on every WebSocket upgrade);
 * - the server's own origin (a page it serves, or a client such as python-socketio's, which sends
 *   the URL it connects to): such a request carries nothing a client without `Origin` could not send;
 * - the origins listed in `CORS_ORIGIN` (`*`: any).
 */
export interface OriginPolicy {
  check(req: OriginRequest): OriginVerdict;
  allows(req: OriginRequest): boolean;
  /** The origin the request was addressed to, as the server sees it (scheme://host[:port]). */
  ownOrigin(req: OriginRequest): string | undefined;
}

export type OriginVerdict = 'absent' | 'own' | 'listed' | 'refused';

/** What the policy reads of a request: its headers, and whether it arrived over TLS. */
export interface OriginRequest {
  headers: IncomingHttpHeaders;
  socket?: object | null;
}

export interface OriginConfig {
  corsOrigins: readonly string[];
  trustProxy: boolean;
}

/** `scheme://host[:port]` and nothing else (no path, query, credentials or whitespace). */
const ORIGIN_SYNTAX = /^https?:\/\/[^/?#@\s\\]+$/i;

/** The serialized origin of `value` (lower-case host, no default port), or undefined when it is not an http(s) origin. */
export function normalizeOrigin(value: string): string | undefined {
  if (!ORIGIN_SYNTAX.test(value)) return undefined;
  try {
    return new URL(value).origin;
  } catch {
    return undefined;
  }
}

/** The first value of a header a proxy may have appended to (`a, b`). */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first ? first : undefined;
}

/** Host header syntax: a DNS name or an IPv4/bracketed IPv6 address, with an optional port. */
const HOST = /^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function createOriginPolicy(config: OriginConfig): OriginPolicy {
  const any = config.corsOrigins.includes('*');
  const listed = new Set(config.corsOrigins.map((o) => normalizeOrigin(o) ?? o));

  function ownOrigin(req: OriginRequest): string | undefined {
    const socket = req.socket as { encrypted?: unknown } | null | undefined;
    let scheme = socket?.encrypted === true ? 'https' : 'http';
    let host = firstValue(req.headers.host);
    if (config.trustProxy) {
      const proto = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
      if (proto === 'http' || proto === 'https') scheme = proto;
      host = firstValue(req.headers['x-forwarded-host']) ?? host;
    }
    if (host === undefined || !HOST.test(host)) return undefined;
    return normalizeOrigin(`${scheme}://${host}`);
  }

  function check(req: OriginRequest): OriginVerdict {
    const origin = req.headers.origin;
    if (origin === undefined) return 'absent';
    if (any) return 'listed';
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined) return 'refused';
    if (listed.has(normalized)) return 'listed';
    return normalized === ownOrigin(req) ? 'own' : 'refused';
  }

  return { check, allows: (req) => check(req) !== 'refused', ownOrigin };
}

/** Engine.IO's error for a refused origin (`FORBIDDEN` is its code 4), the body of every refusal on its path. */
export const ORIGIN_REFUSAL = { code: 4, message: 'Origin not allowed' } as const;

/**
 * The CORS headers that let a refused page read its refusal, so that a client can tell an origin
 * refusal from a network failure. The refusal says nothing more than that, and creates no session
 * or other state.
 */
export function refusalReadableBy(origin: string | undefined): Record<string, string> {
  const readableBy = origin === undefined ? undefined : normalizeOrigin(origin);
  if (readableBy === undefined) return {};
  return { 'access-control-allow-origin': readableBy, 'access-control-allow-credentials': 'true', vary: 'Origin' };
}
