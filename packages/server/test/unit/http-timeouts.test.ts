import { connect as tcpConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig } from '../../src/config.js';
import type { EngineGate } from '../../src/http/engine-gate.js';
import { createHttpTransport, serveRoutes } from '../../src/http/server.js';

/** The inactivity timeout of HTTP requests (armed per request) against WebSocket connections (none). */
describe('HTTP transport timeouts', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    while (closers.length) closers.pop()!();
  });

  async function start(idleMs: number) {
    const http = createHttpTransport(loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32) }));
    const wss = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(m))));
    const gate = { owns: (req: { url?: string }) => req.url === '/owned' } as unknown as EngineGate;
    // A route that never answers: only the inactivity timeout ends its connection.
    serveRoutes(http, gate, async () => undefined, idleMs);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    closers.push(() => {
      http.closeAllConnections();
      http.close();
    });
    return (http.address() as AddressInfo).port;
  }

  const closedWithin = (socket: Socket) => new Promise<number>((resolve) => {
    const at = Date.now();
    socket.on('close', () => resolve(Date.now() - at));
  });

  it('a request left unanswered and silent ends after the idle time, a route of its own or one the gate owns', async () => {
    const port = await start(300);
    for (const path of ['/route', '/owned']) {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const elapsed = await closedWithin(socket);
      expect(elapsed).toBeGreaterThanOrEqual(250);
    }
  });

  it('a WebSocket connection has no inactivity timeout: it outlives the idle time silent, then still answers', async () => {
    const port = await start(200);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    closers.push(() => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    let closed = false;
    ws.on('close', () => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(closed).toBe(false);
    ws.send('still here');
    const echo = await new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
    expect(echo).toBe('still here');
  });
});
