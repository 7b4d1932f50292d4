import { createServer, connect, type Socket } from 'node:net';

/**
 * A TCP proxy to a local port that can stop forwarding without closing
 * anything: a peer that has gone silent (a network partition, a frozen host),
 * which no error reveals, unlike a process that dies and resets its sockets.
 */
export interface TcpProxy {
  readonly port: number;
  /** Stop forwarding in both directions; bytes wait in the sockets' buffers. */
  freeze(): void;
  /** Forward again, what waited included. */
  thaw(): void;
  close(): Promise<void>;
}

export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server = createServer((inbound) => {
    const outbound = connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
      if (frozen) s.pause();
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        port,
        freeze() {
          frozen = true;
          for (const s of sockets) s.pause();
        },
        thaw() {
          frozen = false;
          for (const s of sockets) s.resume();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
