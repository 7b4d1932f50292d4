# syntax=docker/dockerfile:1
#
# Real-time server image.
#
#   docker build -t intelgraph-websocket:0.1.0 .
#   docker run --rm -p 9001:9001 -e JWT_SECRET=... -e CORS_ORIGIN=https://app.example.com \
#     -e REDIS_URL=redis://redis:6379 intelgraph-websocket:0.1.0
#
# Stages: `build` compiles every workspace with the full toolchain, `deps`
# installs the server's production dependencies only, `runtime` combines the
# two on a slim base and runs as an unprivileged user.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------- build ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Manifests first, so the dependency layer is cached until they change.
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
RUN --mount=type=cache,target=/root/.npm npm ci

COPY packages/protocol/ packages/protocol/
COPY packages/server/ packages/server/
COPY packages/client/ packages/client/
RUN npm run build

# ----------------------------------------------------------------- deps ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
# Production dependencies of the server workspace only (the protocol and client
# workspaces come along as linked dependencies: the console serves the SDK's
# browser bundle). No install script runs (package.json
# allowScripts denies them, --ignore-scripts makes sure): bufferutil loads its
# prebuilt binary where one exists for the platform, and ws falls back to plain
# JavaScript where none does.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --workspace=@intelgraph/websocket-server

# -------------------------------------------------------------- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=9001
WORKDIR /app

# Everything is owned by root and read-only for the service user; the process
# writes nothing to disk (logs go to stdout), so the root filesystem can be
# mounted read-only.
COPY package.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/server/dist packages/server/dist
# The console's pages, and the SDK's browser bundle it serves (CONSOLE_ENABLED, off by default here).
COPY --from=build /app/packages/server/console packages/server/console
COPY --from=build /app/packages/client/dist packages/client/dist

# The `node` user of the official image, by number so that Kubernetes'
# runAsNonRoot can verify it.
USER 1000:1000

EXPOSE 9001

# No curl in slim images: probe the liveness route with node. Over HTTPS when
# the server serves TLS itself (TLS_CERT_FILE); the certificate names the public
# host, not 127.0.0.1, so this local probe does not verify it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require(process.env.TLS_CERT_FILE ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PORT || 9001, path: '/health/live', rejectUnauthorized: false, timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM itself, which starts the
# graceful shutdown (system:restart to clients, drain, exit within
# SHUTDOWN_TIMEOUT). Same command as `npm start` after its build step.
STOPSIGNAL SIGTERM
CMD ["node", "packages/server/dist/main.js"]
