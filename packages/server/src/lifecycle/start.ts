import type { AddressInfo, Server } from 'node:net';

/** The server could not start with a valid configuration; the message names the variable or resource at fault. */
export class StartError extends Error {
  override readonly name = 'StartError';
  constructor(
    message: string,
    /** The system error code behind it (`EADDRINUSE`...), when there is one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A failed `listen()` as an operator reads it: what is wrong with PORT or HOST. */
export function listenFailure(err: NodeJS.ErrnoException, port: number, host: string): StartError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new StartError(`PORT ${port} is already in use on HOST ${host}`, err.code);
    case 'EACCES':
      return new StartError(`PORT ${port} on HOST ${host} is not permitted${port < 1024 ? ' (ports below 1024 need privileges)' : ''}`, err.code);
    case 'EADDRNOTAVAIL':
      return new StartError(`HOST ${host} is not an address of this machine`, err.code);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new StartError(`HOST ${host} does not resolve to an address (${err.code})`, err.code);
    default:
      return new StartError(`cannot listen on HOST ${host} PORT ${port}: ${err.message}`, err.code);
  }
}

/** Listens on `host`:`port`; resolves with the address bound, rejects with a StartError. */
export function listen(server: Server, port: number, host: string): Promise<{ port: number; host: string }> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(listenFailure(err, port, host));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      resolve({ port: addr.port, host: addr.address });
    });
  });
}
