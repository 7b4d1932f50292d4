import type { Server as HttpServer } from 'node:http';
import { createServerApi } from './api/index.js';
import type { AuthorizeHook } from './auth/authorize.js';
import { createBackendAuthorization } from './auth/proxy.js';
import { createVerifier } from './auth/verify.js';
import type { Config } from './config.js';
import { buildEngine } from './engine/factory.js';
import type { Engine } from './engine/types.js';
import { createEngineGate } from './http/engine-gate.js';
import { createHttpHandler } from './http/routes.js';
import { createInstanceReport } from './instances/report.js';
import { createHttpTransport, serveRoutes } from './http/server.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { drain } from './lifecycle/shutdown.js';
import { listen } from './lifecycle/start.js';
import { createLimits } from './limits/index.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, tenantCounts, type Metrics } from './metrics.js';
import type { IoServer } from './realtime/context.js';
import { attachRealtime } from './realtime/index.js';
import { createIoServer } from './http/io-server.js';
import { RefusalLog } from './refusal-log.js';
import { createWebhooks } from './webhooks/index.js';
import { applyTransportTuning } from './transport-tuning/index.js';
import type { TransportPatchName } from './config.js';

export interface CreateServerOptions {
  config: Readonly<Config>;
  logger?: Logger;
  /** Library hook deciding whether a connection may join / send / read history / see presence in a room. */
  authorize?: AuthorizeHook;
  /**
   * Release each connection's handshake once it is established: `socket.request` becomes null and
   * `socket.handshake`'s auth, query, headers, url and time are emptied, so that an idle connection
   * keeps no token, cookie or request (the `handshake-release` patch of TRANSPORT_TUNING). The server
   * process sets it; left unset, a library user's handlers see both for the connection's lifetime.
   */
  releaseHandshake?: boolean;
}

export interface RealtimeServer {
  readonly config: Readonly<Config>;
  readonly http: HttpServer;
  readonly io: IoServer;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  /** The patches to socket.io / engine.io / ws internals applied to this server (TRANSPORT_TUNING). */
  readonly transportTuning: readonly TransportPatchName[];
  /** Rejects with a StartError naming PORT or HOST, and closes the server: nothing it opened keeps the process alive. */
  listen(port?: number, host?: string): Promise<{ port: number; host: string }>;
  /** Graceful shutdown: drain (up to SHUTDOWN_TIMEOUT), then close everything. */
  shutdown(reason?: string): Promise<void>;
  /** Closes everything at once, without draining: Redis clients, adapter connections, timers, metrics. */
  close(): Promise<void>;
}

/**
 * The composition root: builds every part from the configuration, once, and wires them. Nothing else
 * happens here; each step is the module it names.
 */
export async function createServer(options: CreateServerOptions): Promise<RealtimeServer> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel, { serverId: config.serverId });
  const metrics = createMetrics({ maxTenants: config.metricsMaxTenants, serverId: config.serverId });
  const lifecycle = new Lifecycle();
  // Before anything that holds a connection or a timer open: a key it refuses leaves nothing to close.
  const verify = createVerifier({ ...config.jwt, keepClaims: config.backendAuth !== undefined }, metrics);
  const { engine, adapter } = await buildEngine(config, logger, metrics);
  const refusals = new RefusalLog(logger);
  const limits = createLimits({ config, connections: engine.connections, metrics, logger, refusals });
  const http = createHttpTransport(config);
  const gate = createEngineGate({ config, metrics, refusals, admitSession: (req) => limits.sessions.admit(req) });
  const io = createIoServer(http, config, gate, adapter);
  const tuning = applyTransportTuning({ http, adapter: io.of('/').adapter }, { wanted: config.transportTuning, releaseHandshake: options.releaseHandshake ?? false, logger });
  const backend = config.backendAuth && createBackendAuthorization({ config: config.backendAuth, maxMessageBytes: config.maxMessageBytes, maxAnswerBytes: config.maxHttpBufferSize, metrics, logger });
  const webhooks = createWebhooks({ config: config.webhooks, serverId: config.serverId, engine, metrics, logger });
  const realtime = attachRealtime(io, { config, engine, limits, metrics, logger, refusals, verify, lifecycle, established: tuning.established, accepting: tuning.accepting, webhooks: webhooks.tap, ...(options.authorize && { authorize: options.authorize }), ...(backend && { backend }) });
  const api = createServerApi({ config, engine, control: realtime.control, metrics, logger, webhooks });
  const startedAt = Date.now();
  const routes = createHttpHandler({ config, engine, metrics, logger, lifecycle, io, startedAt, mounted: api, onPublished: webhooks.tap.published });
  serveRoutes(http, gate, routes);
  const stopLimits = limits.start();
  webhooks.start();
  const report = createInstanceReport({ serverId: config.serverId, startedAt, engine, connections: () => io.of('/').sockets.values(), lifecycle, logger, counts: () => tenantCounts(metrics) });

  let closing: Promise<void> | undefined;
  const close = (quiet = false) =>
    (closing ??= (async () => {
      realtime.stop();
      report.stop();
      stopLimits();
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
        http.closeAllConnections();
      });
      // After the connections' cleanup (their leaves reach the outbox), before the engine goes.
      await webhooks.stop();
      await engine.close().catch((err: unknown) => logger.warn({ err }, 'engine close failed'));
      lifecycle.set('closed');
      metrics.close();
      if (!quiet) logger.info('closed');
    })());
  let shuttingDown: Promise<void> | undefined;
  return {
    config,
    http,
    io,
    engine,
    metrics,
    lifecycle,
    logger,
    transportTuning: tuning.applied,
    listen(port = config.port, host = config.host) {
      return listen(http, port, host).catch((err: unknown) => {
        // The caller learns why at once; the closing goes on (close() returns the same promise).
        void close(true);
        throw err;
      });
    },
    shutdown(reason = 'server shutting down') {
      shuttingDown ??= (async () => {
        await drain({ io, lifecycle, logger, reason, timeoutMs: config.shutdownTimeoutMs, jitterMs: config.reconnectJitterMs });
        await close();
      })();
      return shuttingDown;
    },
    close: () => close(),
  };
}
