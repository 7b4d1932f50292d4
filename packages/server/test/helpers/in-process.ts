import { createServer, type CreateServerOptions, type RealtimeServer } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { TEST_JWT_SECRET } from './tokens.js';

export interface TestServer {
  url: string;
  port: number;
  server: RealtimeServer;
  close(): Promise<void>;
}

/**
 * A server in this process on a free loopback port, configured like production would be from `env`
 * and, like the server process, releasing each connection's handshake once established.
 * TRANSPORT_TUNING comes from the test run's environment unless `env` sets it.
 */
export async function startTestServer(env: Record<string, string> = {}, options: Omit<CreateServerOptions, 'config'> = {}): Promise<TestServer> {
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    HOST: '127.0.0.1',
    SHUTDOWN_TIMEOUT: '500',
    RECONNECT_JITTER: '100',
    // A test machine under load stalls event loops past the production limit; overload.test.ts sets its own.
    OVERLOAD_LAG_MS: '0',
    ...(process.env.TRANSPORT_TUNING !== undefined && { TRANSPORT_TUNING: process.env.TRANSPORT_TUNING }),
    ...env,
  });
  const server = await createServer({ config, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), releaseHandshake: true, ...options });
  const { port } = await server.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () => server.shutdown('test finished'),
  };
}
