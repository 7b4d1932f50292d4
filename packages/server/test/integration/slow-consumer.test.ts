import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, connect, request, until } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { mintToken } from '../helpers/tokens.js';

/** A raw Engine.IO/Socket.IO v4 client over `ws`, so the test controls reading. */
async function rawClient(url: string, token: string): Promise<{ ws: WebSocket; sid: string; send(text: string): void; closed: Promise<void> }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const sid = await new Promise<string>((resolve, reject) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('0')) ws.send(`40${JSON.stringify({ token })}`);
      else if (text === '2') ws.send('3');
      else if (text.startsWith('40')) resolve((JSON.parse(text.slice(2)) as { sid: string }).sid);
      else if (text.startsWith('44')) reject(new Error(text));
    });
    ws.once('error', reject);
  });
  return { ws, sid, send: (t) => ws.send(t), closed };
}

describe('slow consumers', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    closeAll();
    await srv?.close();
  });

  it('disconnects a client that stops reading once its pending output passes WRITE_BUFFER_LIMIT, and serves others', async () => {
    srv = await startTestServer({
      WRITE_BUFFER_LIMIT: '262144',
      RATE_LIMIT_MESSAGES_PER_SECOND: '0',
      RATE_LIMIT_USER_MESSAGES_PER_SECOND: '0',
      RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: '0',
    });
    const slow = await rawClient(srv.url, await mintToken({ sub: 'slow', tenantId: 'acme' }));
    slow.send(`42${JSON.stringify(['room:join', { room: 'firehose' }])}`);
    const sender = await connect(srv.url, { claims: { sub: 'sender' } });
    const reader = await connect(srv.url, { claims: { sub: 'reader' } });
    await request(sender.socket, 'room:join', { room: 'firehose' });
    await request(reader.socket, 'room:join', { room: 'firehose' });
    await until(() => srv!.server.io.of('/').sockets.size === 3, 2000, 'three connections');
    // Stop reading: the kernel buffers fill, then the server's own buffer grows. `ws`'s own pause, not the
    // TCP socket's: ws resumes the socket itself when its frame parser drains a backlog unless it is paused.
    slow.ws.pause();
    let received = 0;
    reader.socket.on('room:message', () => received++);
    const readerId = reader.socket.id;
    const sockets = srv.server.io.of('/').sockets;
    // Each round waits until the reader has everything, so a client that does read never has more than one
    // round (4 x 60 kB, under the limit) pending when the once-a-second check runs; only the paused client
    // accumulates. It takes the kernel's socket buffers (tens of MB on loopback) before the server's own
    // buffer grows, hence the many rounds.
    const big = 'x'.repeat(60_000);
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (sockets.has(slow.sid) && Date.now() < deadline) {
      await Promise.all(Array.from({ length: 4 }, () => request(sender.socket, 'room:send', { room: 'firehose', payload: big })));
      sent += 4;
      await until(() => received === sent, 10_000, 'the reader to get every message');
    }
    expect(sockets.has(slow.sid)).toBe(false);
    expect(reader.socket.id).toBe(readerId);
    expect(sender.socket.connected && reader.socket.connected).toBe(true);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/websocket_rate_limited_total\{[^}]*scope="slow_consumer"[^}]*\} 1/);
    slow.ws.terminate();
  });
});
