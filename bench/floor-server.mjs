/**
 * The floor: the least a relay speaking the same wire format can do. Engine.IO v4 open
 * packet, Socket.IO CONNECT, `room:join` / `room:send` with acks and `room:message`
 * broadcasts (the sender excluded), directly on `ws`, websocket transport only. Each
 * broadcast is encoded once as one WebSocket frame (`Sender.frame`, header and payload in
 * one buffer) and written straight to every member's TCP socket, each socket corked until
 * the end of the event-loop turn so that its writes of one turn leave in one `writev`.
 * No authentication, presence, limits, metrics, long-polling or pings beyond one timer.
 *
 * Env: PORT, HOST (default 127.0.0.1). GET /health/live answers 200.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Sender, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 9200);
const host = process.env.HOST ?? '127.0.0.1';
const http = createServer((req, res) => res.writeHead(req.url === '/health/live' ? 200 : 404).end());
const wss = new WebSocketServer({ server: http, path: '/socket.io/', perMessageDeflate: false, clientTracking: true });
const rooms = new Map(); // room -> Set<ws>
const corked = [];
const uncorkAll = () => {
  for (const s of corked.splice(0)) s.uncork();
};
const frame = (text) => Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
const write = (ws, buf) => {
  const tcp = ws._socket;
  if (tcp.writableCorked === 0) {
    if (corked.length === 0) setImmediate(uncorkAll);
    tcp.cork();
    corked.push(tcp);
  }
  tcp.write(buf);
};
let seq = 0;

wss.on('connection', (ws) => {
  const sid = randomUUID();
  ws.rooms = new Set();
  ws.send(`0${JSON.stringify({ sid, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 })}`);
  ws.on('message', (data) => {
    const s = data.toString();
    if (s.startsWith('40')) return void ws.send(`40{"sid":"${sid}"}`);
    if (!s.startsWith('42')) return; // '3' pongs and the rest
    const k = s.indexOf('[');
    const ackId = s.slice(2, k);
    const [event, req] = JSON.parse(s.slice(k));
    let answer;
    if (event === 'room:join') {
      if (!rooms.has(req.room)) rooms.set(req.room, new Set());
      rooms.get(req.room).add(ws);
      ws.rooms.add(req.room);
      answer = { success: true, room: req.room };
    } else if (event === 'room:send') {
      const id = `${Date.now()}-${++seq}`;
      const buf = frame(`42${JSON.stringify(['room:message', { id, room: req.room, from: sid, payload: req.payload, timestamp: Date.now() }])}`);
      for (const m of rooms.get(req.room) ?? []) if (m !== ws && m.readyState === 1) write(m, buf);
      answer = { success: true, messageId: id };
    }
    if (ackId && answer) write(ws, frame(`43${ackId}${JSON.stringify([answer])}`));
  });
  ws.on('close', () => {
    for (const r of ws.rooms) {
      const members = rooms.get(r);
      members?.delete(ws);
      if (members?.size === 0) rooms.delete(r);
    }
  });
});
setInterval(() => {
  for (const ws of wss.clients) if (ws.readyState === 1) ws.send('2');
}, 25_000).unref();

http.listen(port, host, () => process.stdout.write(`floor relay listening on ${host}:${port}\n`));
const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
