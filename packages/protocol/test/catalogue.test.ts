import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  errorInfo,
  httpStatusOf,
  isErrorCode,
  isRetryable,
  reconnectAdvice,
  TERMINAL_CONNECT_ERRORS,
  type ErrorCode,
} from '@intelgraph/websocket-protocol';

const protocolDoc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

/** The text of the section whose heading starts with `heading`, up to the next heading of that level. */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`no section "${heading}" in docs/protocol.md`);
  const level = heading.split(' ')[0] as string;
  const end = doc.indexOf(`\n${level} `, start + heading.length + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** The rows of the first Markdown table in `text` whose header starts with `firstColumn`, as cells. */
function table(text: string, firstColumn: string): string[][] {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith(`| ${firstColumn} |`));
  if (header < 0) throw new Error(`no table starting with "${firstColumn}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

describe('the error catalogue', () => {
  it('derives the code list, terminal connect errors and the readers from one table', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(isErrorCode(code)).toBe(true);
      const info = errorInfo(code);
      expect(info.message).toMatch(/\S/);
      expect(httpStatusOf(code)).toBe(info.httpStatus);
      expect(info.httpStatus >= 400 && info.httpStatus <= 599).toBe(true);
      expect(isRetryable(code)).toBe(info.retryable);
      expect(reconnectAdvice(code)).toBe(info.reconnect);
      expect(TERMINAL_CONNECT_ERRORS.includes(code)).toBe(info.reconnect === 'stop');
    }
    // The codes the SDK stops on, and AUTH_EXPIRED, which a new token overcomes.
    expect(TERMINAL_CONNECT_ERRORS).toEqual(expect.arrayContaining(['AUTH_REQUIRED', 'AUTH_INVALID', 'TENANT_MISMATCH']));
    expect(reconnectAdvice('AUTH_EXPIRED')).toBe('renew');
    // A Redis outage yields INTERNAL: the request can succeed once it is back.
    expect(isRetryable('INTERNAL')).toBe(true);
    expect(httpStatusOf('NOT_FOUND')).toBe(404);
    expect(httpStatusOf('METHOD_NOT_ALLOWED')).toBe(405);
  });

  it('knows only its own codes, whatever string is asked about', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'FUTURE_CODE', '']) {
      expect(isErrorCode(name)).toBe(false);
      expect(isRetryable(name)).toBe(false);
      expect(reconnectAdvice(name)).toBe('retry');
    }
    for (const value of [undefined, null, 7, {}, ['INTERNAL']]) expect(isErrorCode(value)).toBe(false);
  });
});

describe('docs/protocol.md agrees with the catalogue', () => {
  it('§7 lists every code once, with its HTTP status and retryability', () => {
    const rows = table(section(protocolDoc, '## 7.'), 'Code');
    const documented = new Map<string, { http: string; retryable: string }>();
    for (const [code, http, retryable] of rows) {
      const name = unquote(code as string);
      expect(documented.has(name), `${name} listed twice`).toBe(false);
      documented.set(name, { http: http as string, retryable: retryable as string });
    }
    expect([...documented.keys()].filter((c) => !isErrorCode(c)), 'codes documented but not in the catalogue').toEqual([]);
    expect(ERROR_CODES.filter((c) => !documented.has(c)), 'codes missing from the table').toEqual([]);
    for (const code of ERROR_CODES) {
      const row = documented.get(code);
      expect(row, code).toEqual({ http: String(httpStatusOf(code)), retryable: isRetryable(code) ? 'yes' : 'no' });
    }
  });

  it('§9 gives POST /api/publish errors the catalogue status', () => {
    const rows = table(section(protocolDoc, '### `POST /api/publish`'), 'Status').filter(([, code]) => code !== '—');
    expect(rows.length).toBeGreaterThan(0);
    for (const [status, code] of rows) {
      const name = unquote(code as string);
      expect(isErrorCode(name), name).toBe(true);
      expect(status, name).toBe(String(httpStatusOf(name as ErrorCode)));
    }
  });
});
