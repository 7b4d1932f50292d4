/** A TCP socket's stream internals: every write the server makes goes through one of these. */
export interface Tcp {
  _write: (...a: unknown[]) => unknown;
  _writev?: (...a: unknown[]) => unknown;
}

/** Counts the writes the server makes on one connection's TCP socket (each is one system call), and their chunks. */
export function countWrites(tcp: Tcp): { writes: number; chunks: number } {
  const seen = { writes: 0, chunks: 0 };
  const write = tcp._write;
  const writev = tcp._writev;
  tcp._write = function (this: unknown, ...a: unknown[]) {
    seen.writes++;
    seen.chunks++;
    return write.apply(this, a);
  };
  if (writev) {
    tcp._writev = function (this: unknown, chunks: unknown, ...rest: unknown[]) {
      seen.writes++;
      seen.chunks += (chunks as unknown[]).length;
      return writev.apply(this, [chunks, ...rest]);
    };
  }
  return seen;
}
