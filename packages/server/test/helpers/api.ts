/** Calls of the server API (`/api/v1`) for tests: status, headers and parsed body of each answer. */
export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export interface ApiCallOptions {
  key?: string;
  /** A JSON value to send (encoded here), or a raw string body. */
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** Keys of the test servers: a tenant key for acme, one for globex, and an operator key. */
export const KEYS = {
  acme: 'acme-key-0123456789abcdefghijklmnopqrstuv',
  acmeRotated: 'acme-key-rotated-0123456789abcdefghijklmn',
  globex: 'globex-key-0123456789abcdefghijklmnopqrstu',
  operator: 'operator-key-0123456789abcdefghijklmnopqrs',
};
export const API_KEYS = `acme:${KEYS.acme},acme:${KEYS.acmeRotated},globex:${KEYS.globex},*:${KEYS.operator}`;

export async function api<T = Record<string, unknown>>(base: string, method: string, path: string, o: ApiCallOptions = {}): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.key !== undefined) headers.authorization = `Bearer ${o.key}`;
  let body: string | undefined = o.raw;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** A room name as it goes in a path. */
export const enc = (name: string) => encodeURIComponent(name);
