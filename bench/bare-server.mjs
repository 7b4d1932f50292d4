/**
 * The baseline: a bare Socket.IO 4.8 server in its default configuration, with no
 * authentication and no features, relaying the same events the same way as the
 * real server (join = socket.join; send = socket.to(room).emit('room:message', ...) with an ack).
 *
 * Env: PORT, HOST (default 127.0.0.1), REDIS_URL (optional: @socket.io/redis-adapter).
 * GET /stats answers { connections, memory: { rssBytes, heapUsedBytes }, cpu: { userMicros, systemMicros } }.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 9100);
const host = process.env.HOST ?? '127.0.0.1';

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        connections: io.of('/').sockets.size,
        memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
        cpu: { userMicros: cpu.user, systemMicros: cpu.system },
      }),
    );
    return;
  }
  if (req.url === '/health/live') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"live"}');
    return;
  }
  res.writeHead(404);
  res.end();
});

const options = {};
let redisClients = [];
if (process.env.REDIS_URL) {
  const { default: Redis } = await import('ioredis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = new Redis(process.env.REDIS_URL);
  const sub = pub.duplicate();
  redisClients = [pub, sub];
  options.adapter = createAdapter(pub, sub);
}
const io = new Server(http, options);

let seq = 0;
io.on('connection', (socket) => {
  socket.on('room:join', (req, ack) => {
    socket.join(req.room);
    if (typeof ack === 'function') ack({ success: true, room: req.room });
  });
  socket.on('room:send', (req, ack) => {
    const id = `${Date.now()}-${++seq}`;
    socket.to(req.room).emit('room:message', { id, room: req.room, from: socket.id, payload: req.payload, timestamp: Date.now() });
    if (typeof ack === 'function') ack({ success: true, messageId: id });
  });
});

http.listen(port, host, () => process.stdout.write(`bare socket.io listening on ${host}:${port} (${randomUUID().slice(0, 8)})\n`));

const stop = () => {
  io.close(() => {
    for (const c of redisClients) c.disconnect();
    process.exit(0);
  });
  http.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
