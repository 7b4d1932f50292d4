import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions } from 'socket.io';
import type { AuthorizeHook } from './auth/authorize.js';
import { createVerifier } from './auth/verify.js';
import type { Config } from './config.js';
import { buildEngine } from './engine/factory.js';
import type { Engine } from './engine/types.js';
import { createEngineGate, SOCKET_IO_PATH } from './http/engine-gate.js';
import { createHttpHandler } from './http/routes.js';
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
  // Origin policy (403 refusals on both transports, logged and counted) and the Socket.IO path's 404s.
  const gate = createEngineGate({ config, logger, metrics, admitSession: (req) => limits.sessions.admit(req) });
  const ioOptions: Partial<ServerOptions> = {
    path: SOCKET_IO_PATH,
    transports: ['polling', 'websocket'],
    serveClient: false,
    maxHttpBufferSize: config.maxHttpBufferSize,
    perMessageDeflate: config.perMessageDeflate,
    httpCompression: true,
    connectTimeout: config.handshakeTimeoutMs,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    cors: gate.cors,
  };
  if (built.adapter) (ioOptions as { adapter?: unknown }).adapter = built.adapter;
  const io: IoServer = new Server(http, ioOptions);
  gate.install(http);

  const verify = createVerifier(config.jwt, metrics);
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
  // The gate and Socket.IO answer the Socket.IO path; every other request comes here.
  http.on('request', (req, res) => {
    if (gate.owns(req)) return;
    void handler(req, res);
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  // The headers of any request, a WebSocket upgrade included, are part of the handshake: never longer than HANDSHAKE_TIMEOUT.
  http.headersTimeout = Math.min(10_000, config.handshakeTimeoutMs);
  http.requestTimeout = 30_000;
  // Every connection ends in a bounded time: an idle keep-alive one after 5 s, and any that stays silent for a
  // minute (longer than a long-poll, which Engine.IO answers within pingInterval), e.g. one whose client stopped
  // reading its response. WebSocket connections have their own heartbeat (ws turns this timeout off for them).
  http.keepAliveTimeout = 5_000;
  http.timeout = 60_000;

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
