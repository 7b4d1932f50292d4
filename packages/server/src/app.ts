import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions } from 'socket.io';
import type { AuthorizeHook } from './auth/authorize.js';
import { createVerifier } from './auth/verify.js';
import type { Config } from './config.js';
import { buildEngine } from './engine/factory.js';
import type { Engine } from './engine/types.js';
import { createHttpHandler, originAllowed } from './http/routes.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { drain } from './lifecycle/shutdown.js';
import { createLimits } from './limits/index.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { IoServer } from './realtime/context.js';
import { attachRealtime } from './realtime/index.js';
import { RefusalLog } from './refusal-log.js';

export interface CreateServerOptions {
  config: Readonly<Config>;
  logger?: Logger;
  /** Library hook deciding whether a connection may join / send / read history / see presence in a room. */
  authorize?: AuthorizeHook;
}

export interface RealtimeServer {
  readonly config: Readonly<Config>;
  readonly http: HttpServer;
  readonly io: IoServer;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  listen(port?: number, host?: string): Promise<{ port: number; host: string }>;
  /** Graceful shutdown: drain (up to SHUTDOWN_TIMEOUT), then close everything. */
  shutdown(reason?: string): Promise<void>;
}

/** The composition root: builds every part from the configuration, once. */
export async function createServer(options: CreateServerOptions): Promise<RealtimeServer> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel, { serverId: config.serverId });
  const metrics = createMetrics({ maxTenants: config.metricsMaxTenants, serverId: config.serverId });
  const lifecycle = new Lifecycle();
  const built = await buildEngine(config, logger, metrics);
  const engine = built.engine;
  const startedAt = Date.now();
  const refusals = new RefusalLog(logger);
  const limits = createLimits({ config, counters: engine.counters, metrics, logger, refusals });
  const stopLimits = limits.start();

  // Header and request timeouts are enforced by a periodic check (30 s by default): check every second, so a
  // request whose headers trickle in (slow-loris) is closed close to its timeout instead of up to 30 s later.
  const http = createHttpServer({ connectionsCheckingInterval: 1000 });
  const ioOptions: Partial<ServerOptions> = {
    path: '/socket.io',
    transports: ['polling', 'websocket'],
    serveClient: false,
    maxHttpBufferSize: config.maxHttpBufferSize,
    perMessageDeflate: config.perMessageDeflate,
    httpCompression: true,
    connectTimeout: config.handshakeTimeoutMs,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    cors: {
      origin: (origin, cb) => cb(null, originAllowed(config.corsOrigins, origin)),
      credentials: true,
      allowedHeaders: ['authorization'],
    },
    // Handshakes from origins not allowed get 403 here; later requests are checked by the middleware below.
    allowRequest: (req, cb) => {
      if (!originAllowed(config.corsOrigins, req.headers.origin)) return cb('Origin not allowed', false);
      const refusal = limits.sessions.admit(req);
      if (refusal !== undefined) return cb(refusal, false);
      cb(null, true);
    },
  };
  if (built.adapter) (ioOptions as { adapter?: unknown }).adapter = built.adapter;
  const io: IoServer = new Server(http, ioOptions);

  // Cross-site WebSocket hijacking: CORS does not cover WebSocket upgrades, and a session id must not let
  // another origin in either, so every Engine.IO request (handshake, polling, upgrade) has its Origin checked.
  io.engine.use((req: { headers: { origin?: string } }, _res: unknown, next: (err?: Error) => void) => {
    if (originAllowed(config.corsOrigins, req.headers.origin)) next();
    else next(new Error('Origin not allowed'));
  });

  const verify = createVerifier(config.jwt);
  const realtime = attachRealtime(io, {
    config,
    engine,
    metrics,
    logger,
    verify,
    lifecycle,
    limits,
    refusals,
    ...(options.authorize !== undefined && { authorize: options.authorize }),
  });

  const handler = createHttpHandler({
    config,
    engine,
    metrics,
    logger,
    lifecycle,
    io,
    startedAt,
    beforeScrape: async () => {
      const [presence, history] = await Promise.all([engine.presence.size?.(), engine.stream.size?.()]);
      if (presence !== undefined) metrics.presenceEntries.set(presence);
      if (history !== undefined) metrics.historyMessages.set(history);
    },
  });
  // Socket.IO answers its own path; every other request comes here.
  http.on('request', (req, res) => {
    if (req.url?.startsWith('/socket.io/') || req.url === '/socket.io') return;
    void handler(req, res);
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  // The headers of any request, a WebSocket upgrade included, are part of the handshake: never longer than HANDSHAKE_TIMEOUT.
  http.headersTimeout = Math.min(10_000, config.handshakeTimeoutMs);
  http.requestTimeout = 30_000;

  let shuttingDown: Promise<void> | undefined;
  const server: RealtimeServer = {
    config,
    http,
    io,
    engine,
    metrics,
    lifecycle,
    logger,
    listen(port = config.port, host = config.host) {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          const addr = http.address() as AddressInfo;
          resolve({ port: addr.port, host: addr.address });
        });
      });
    },
    shutdown(reason = 'server shutting down') {
      shuttingDown ??= (async () => {
        await drain({ io, lifecycle, logger, reason, timeoutMs: config.shutdownTimeoutMs, jitterMs: config.reconnectJitterMs });
        realtime.stop();
        stopLimits();
        await new Promise<void>((resolve) => {
          io.close(() => resolve());
          http.closeAllConnections();
        });
        await engine.close().catch((err: unknown) => logger.warn({ err }, 'engine close failed'));
        lifecycle.set('closed');
        metrics.close();
        logger.info('closed');
      })();
      return shuttingDown;
    },
  };
  return server;
}
