#!/usr/bin/env node
/** The server process: configuration from the environment (and `.env`), start, and graceful stop on SIGTERM/SIGINT. */
import { createServer } from './app.js';
import { mintToken } from './auth/mint.js';
import { ConfigError, loadConfig, withDotEnv } from './config.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(withDotEnv(process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const server = await createServer({ config });
  const { logger } = server;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  const { port, host } = await server.listen();
  logger.info({ port, host, engine: server.engine.name, env: config.env }, `listening on http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`);
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
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server
      .shutdown(`server ${signal === 'SIGTERM' ? 'restarting' : 'stopping'}`)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
