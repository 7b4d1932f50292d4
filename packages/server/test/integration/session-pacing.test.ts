import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

const UPGRADE = (port: number, i: number) =>
  `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${Buffer.from(`pacing-key-${String(i).padStart(5, '0')}`).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** How many of `turns` fell in each turn. */
function perWindowOf(turns: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const t of turns) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

describe('session pacing (SESSIONS_PER_TURN)', () => {
  let srv: TestServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await srv?.close();
  });

  it('hands WebSocket handshakes that arrive together to Engine.IO a few per event-loop turn, and opens every one', async () => {
    const perTurn = 2;
    srv = await startTestServer({ SESSIONS_PER_TURN: String(perTurn), RATE_LIMIT_SESSIONS_PER_IP_BURST: '1000', MAX_PENDING_SESSIONS_PER_IP: '0' });
    const n = 40;
    // TCP connections first (accepted by the server), then every upgrade request written in one go, so that the
    // server reads them all in one poll phase.
    let accepted = 0;
    srv.server.http.on('connection', () => accepted++);
    for (let i = 0; i < n; i++) {
      const s = tcpConnect(srv.port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    await until(() => accepted === n, 5000, 'the server to accept every connection');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const answers = sockets.map((s) => {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      return () => text;
    });
    // The server's turns, counted in its check phase; each new Engine.IO session noted with the turn it opened in.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const opened: number[] = [];
    srv.server.io.engine.on('connection', () => opened.push(turn));
    for (let i = 0; i < n; i++) sockets[i]!.write(UPGRADE(srv.port, i));
    await until(() => answers.every((a) => /^HTTP\/1\.1 101 /.test(a()) && a().includes('"sid"')), 10_000, 'every upgrade answered with the open packet');
    ticking = false;
    expect(opened).toHaveLength(n);
    const perWindow = perWindowOf(opened);
    // A counted turn spans one poll phase and the check phase around it: at most one paced batch in each.
    // (Unpaced, all of them open in the same turn.)
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(2 * perTurn);
    expect(perWindow.size).toBeGreaterThanOrEqual(n / (2 * perTurn));
  });
});
