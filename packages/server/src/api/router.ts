/**
 * The server API's routes: `METHOD /path/{param}` patterns under `/api/v1`, matched segment by
 * segment on the raw (still percent-encoded) path, so a room name's `/` travels as `%2F`.
 */
import { CodedError } from '../errors.js';

export interface Matched<H> {
  route: Route<H>;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
}

export interface Route<H> {
  method: 'GET' | 'POST' | 'DELETE';
  /** `/rooms/{room}/messages`: the path below `/api/v1`. */
  path: string;
  handler: H;
}

interface Compiled<H> {
  route: Route<H>;
  /** Literal segments as strings; parameters as `{ name }`. */
  segments: (string | { name: string })[];
}

export class Router<H> {
  private readonly compiled: Compiled<H>[];

  constructor(readonly routes: readonly Route<H>[]) {
    this.compiled = routes.map((route) => ({
      route,
      segments: route.path
        .split('/')
        .slice(1)
        .map((s) => (/^\{\w+\}$/.test(s) ? { name: s.slice(1, -1) } : s)),
    }));
  }

  /**
   * The route for `method` and `path` (below `/api/v1`); NOT_FOUND when no pattern has this path,
   * METHOD_NOT_ALLOWED (with the methods it has) when only other methods do.
   */
  match(method: string, path: string): Matched<H> | { allow: string[] } | undefined {
    const parts = path.split('/').slice(1);
    const allow: string[] = [];
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      if (c.route.method === method || (method === 'HEAD' && c.route.method === 'GET')) return { route: c.route, params };
      allow.push(c.route.method);
    }
    return allow.length > 0 ? { allow } : undefined;
  }
}

function matchSegments(segments: Compiled<unknown>['segments'], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, seg] of segments.entries()) {
    const part = parts[i] as string;
    if (typeof seg === 'string') {
      if (seg !== part) return undefined;
      continue;
    }
    if (part === '') return undefined;
    try {
      params[seg.name] = decodeURIComponent(part);
    } catch {
      throw new CodedError(seg.name === 'room' ? 'INVALID_ROOM' : 'INVALID_PAYLOAD', `The ${seg.name} in the path is not validly percent-encoded`);
    }
  }
  return params;
}
