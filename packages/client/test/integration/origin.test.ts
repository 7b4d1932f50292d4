/**
 * A server refusing the client's origin: the SDK stops with ORIGIN_NOT_ALLOWED instead of retrying
 * forever with TRANSPORT_ERROR, on both transports, and only then (a server that is down, or a 403
 * for another reason, is still retried). Node sends the Origin a browser would through extraHeaders;
 * browser.test.ts does the same from a page in Chromium.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../server/test/helpers/ports.js';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { SocketFactory, Transport, WebSocketClientError } from '../../src/index.js';
import { ClientPool, until } from '../helpers/harness.js';

const FOREIGN = 'https://evil.example';

let server: ServerProcess;
const pool = new ClientPool();

beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => server?.stop());
afterEach(() => pool.closeAll());

/** A socket factory sending `origin` as a browser would, counting the attempts. */
function withOrigin(origin: string): { factory: SocketFactory; attempts: () => number } {
  let attempts = 0;
  return {
    factory: (url, options) => {
      attempts++;
      return io(url, { ...options, extraHeaders: { ...options.extraHeaders, origin } });
    },
    attempts: () => attempts,
  };
}

describe('an origin the server refuses', () => {
  for (const transports of [['websocket'], ['polling'], ['websocket', 'polling']] as Transport[][]) {
    it(`fails for good with ORIGIN_NOT_ALLOWED naming the origin and CORS_ORIGIN (${transports.join(', ')})`, async () => {
      const net = withOrigin(FOREIGN);
      const client = await pool.create(server.url, 'alice', { socketFactory: net.factory, transports, autoConnect: false });
      const connectErrors: WebSocketClientError[] = [];
      client.on('connect_error', (e) => connectErrors.push(e));
      const failure = (await client.connect().catch((e: unknown) => e)) as WebSocketClientError;
      expect(failure.code).toBe('ORIGIN_NOT_ALLOWED');
      expect(failure.message).toContain(FOREIGN);
      expect(failure.message).toContain('CORS_ORIGIN');
      expect(client.status).toBe('failed');
      expect(client.lastError).toBe(failure);
      expect(connectErrors.map((e) => e.code)).toEqual(['ORIGIN_NOT_ALLOWED']);
      expect(net.attempts()).toBe(1);
      await expect(client.joinRoom('r')).rejects.toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    });
  }

  it('connects from the server\'s own origin on both transports', async () => {
    for (const transports of [['websocket'], ['polling']] as Transport[][]) {
      const client = await pool.create(server.url, 'alice', { socketFactory: withOrigin(server.url).factory, transports });
      await client.joinRoom('own');
      expect(client.status).toBe('connected');
    }
  });
});

describe('failures that are not an origin refusal stay retryable', () => {
  let forbidding: Server;
  beforeAll(async () => {
    // Answers every request, WebSocket upgrades included, 403 with a body of its own: a proxy refusing for another reason.
    forbidding = createServer((_req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden'));
    await new Promise<void>((resolve) => forbidding.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise((resolve) => forbidding.close(resolve)));

  it('a server that is down, and a 403 that is not the origin refusal, give TRANSPORT_ERROR and further attempts', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const other = `http://127.0.0.1:${(forbidding.address() as AddressInfo).port}`;
    for (const [url, transports] of [[down, ['websocket']], [other, ['websocket']], [other, ['polling']]] as [string, Transport[]][]) {
      const net = withOrigin(FOREIGN);
      const client = await pool.create(url, 'alice', { socketFactory: net.factory, transports });
      const codes: string[] = [];
      client.on('connect_error', (e) => codes.push(e.code));
      await until(() => codes.length >= 2, `two failed attempts at ${url} over ${transports.join(', ')}`);
      expect(new Set(codes)).toEqual(new Set(['TRANSPORT_ERROR']));
      expect(client.status).toBe('connecting');
      client.disconnect();
    }
  });
});
