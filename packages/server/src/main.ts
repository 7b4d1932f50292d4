#!/usr/bin/env node
/** The server process: configuration from the environment (and `.env`), start, and graceful stop on SIGTERM/SIGINT. */
import type { RealtimeServer } from './app.js';
import { mintToken } from './auth/mint.js';
import { ConfigError, loadConfig, withDotEnv, type Config } from './config.js';
import { StartError } from './lifecycle/start.js';
import { createLogger } from './logger.js';

/** Exit statuses, documented in docs/operations.md. */
const EXIT = {
  /** Stopped on SIGTERM/SIGINT after draining. */
  clean: 0,
  /** A variable is invalid or a file it names cannot be used: nothing was started. */
  config: 1,
  /** The configuration is valid but the server could not start (PORT in use, HOST not local...). */
  start: 2,
  /** An uncaught exception, or a shutdown that failed. */
  crash: 3,
} as const;

/** How long a failed start waits for Redis clients and sockets to close before exiting anyway. */
const FAILED_START_CLOSE_MS = 2000;

function configure(): Readonly<Config> {
  try {
    return loadConfig(withDotEnv(process.env));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The logger's level is part of the configuration: one plain line on stderr.
    process.stderr.write(`${err.message}\n`);
    process.exit(EXIT.config);
  }
}

async function main(): Promise<void> {
  const config = configure();
  const logger = createLogger(config.logLevel, { serverId: config.serverId });
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err, exitCode: EXIT.crash }, 'uncaught exception');
    process.exit(EXIT.crash);
  });

  let server: RealtimeServer | undefined;
  let address: { port: number; host: string };
  try {
    // Loaded once the configuration is accepted, so that a refused one exits before socket.io, ioredis... load.
    const { createServer } = await import('./app.js');
    // No handler of the process reads a connection's request or handshake once it is established: release both.
    server = await createServer({ config, logger, releaseHandshake: true });
    address = await server.listen();
  } catch (err) {
    // A StartError's message says it all; anything else is unexpected and keeps its stack.
    const detail = err instanceof StartError ? { ...(err.code !== undefined && { code: err.code }) } : { err };
    logger.fatal({ ...detail, exitCode: EXIT.start }, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    // Redis clients and timers would keep the process up: close them, but exit whether or not they close in time.
    const closed = server?.close().catch(() => undefined);
    await Promise.race([closed, new Promise((r) => setTimeout(r, FAILED_START_CLOSE_MS).unref())]);
    process.exit(EXIT.start);
  }

  const { port, host } = address;
  const scheme = config.tls ? 'https' : 'http';
  logger.info({ port, host, engine: server.engine.name, env: config.env, tls: config.tls !== undefined }, `listening on ${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`);
  if (config.console.enabled) {
    const base = `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    logger.info({ demo: `${base}/`, admin: `${base}/admin` }, `console: the demo at ${base}/ (open it in two windows), the admin view at ${base}/admin`);
  }
  const signing = config.jwt.secrets[0];
  if (config.jwt.secretGenerated && signing) {
    const token = await mintToken({ secret: signing, userId: 'dev-user', tenantId: 'dev', ttlSeconds: 3600 });
    // Development only: this secret exists for this process alone.
    logger.warn(
      { devJwtSecret: signing.secret, devToken: token, devTokenClaims: { sub: 'dev-user', tenantId: 'dev', ttl: '1h' } },
      'JWT_SECRET is not set: using a random secret for this process (development only). Set JWT_SECRET (32+ characters) to keep tokens valid across restarts.',
    );
  }
  let stopping = false;
  const running = server;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    running
      .shutdown(`server ${signal === 'SIGTERM' ? 'restarting' : 'stopping'}`)
      .then(() => process.exit(EXIT.clean))
      .catch((err: unknown) => {
        logger.error({ err, exitCode: EXIT.crash }, 'shutdown failed');
        process.exit(EXIT.crash);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EXIT.crash);
});
