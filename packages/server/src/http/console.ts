/**
 * The console: the demo at `/` and the admin view at `/admin` (CONSOLE_ENABLED), static files of
 * `packages/server/console/` read once at start, the SDK's browser bundle at `/client/websocket-client.js`,
 * and, with a secret generated for this process only, `POST /dev/token`. Every page is served under a
 * Content-Security-Policy allowing scripts, styles and connections of the server's own origin only.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { mintToken } from '../auth/mint.js';
import type { Config } from '../config.js';
import { CodedError } from '../errors.js';
import { createDevTokenLimits } from '../limits/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { readJson, send } from './respond.js';

export type ConsoleRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface ConsoleDeps {
  config: Readonly<Config>;
  metrics: Pick<Metrics, 'rateLimited'>;
  logger: Pick<Logger, 'warn'>;
  /** Where the pages are (default: the package's `console/`). */
  dir?: string;
  /** The SDK's browser bundle (default: resolved from `@intelgraph/websocket-client`). */
  bundle?: string;
}

/** What pages of the console may load and reach: their own origin, nothing inline, no frames. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The bundle's files as the SDK builds them: the module, its source map and its licences. */
const BUNDLE_FILES = ['websocket-client.js', 'websocket-client.js.map', 'websocket-client.js.LEGAL.txt'];

/** Tokens minted by `POST /dev/token` live this long unless the request asks for less (or more, up to a day). */
const DEV_TOKEN_TTL_SECONDS = 3600;

const devTokenSchema = z.object({
  userId: z.string().regex(/^[A-Za-z0-9_.@:-]{1,64}$/),
  tenantId: z.string().regex(TENANT_ID_PATTERN),
  ttlSeconds: z.number().int().min(60).max(86_400).optional(),
});

function staticFile(path: string): StaticFile | undefined {
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  const body = readFileSync(path);
  return { body, type: TYPES[extname(path)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

function defaultBundle(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@intelgraph/websocket-client/package.json');
    return join(dirname(pkg), 'dist/browser/websocket-client.js');
  } catch {
    return undefined;
  }
}

/** Answers with the file, or 304 when the browser holds this version (it revalidates every time: `no-cache`). */
function serve(req: IncomingMessage, res: ServerResponse, file: StaticFile): void {
  const headers = {
    'content-type': file.type,
    'cache-control': 'no-cache',
    etag: file.etag,
    'x-content-type-options': 'nosniff',
    'content-security-policy': CONSOLE_CSP,
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  if (req.headers['if-none-match'] === file.etag) return void res.writeHead(304, headers).end();
  res.writeHead(200, { ...headers, 'content-length': String(file.body.length) }).end(req.method === 'HEAD' ? undefined : file.body);
}

/** The console's routes, path then method (none when CONSOLE_ENABLED is off). */
export function createConsoleRoutes(deps: ConsoleDeps): Map<string, Map<string, ConsoleRoute>> {
  const { config, logger } = deps;
  const routes = new Map<string, Map<string, ConsoleRoute>>();
  if (!config.console.enabled) return routes;
  const dir = deps.dir ?? fileURLToPath(new URL('../../console/', import.meta.url));
  if (!existsSync(dir)) {
    logger.warn({ dir }, 'console files not found: the console is not served');
    return routes;
  }
  const get = (file: StaticFile): Map<string, ConsoleRoute> => new Map([['GET', (req, res) => serve(req, res, file)]]);
  // Only the files there at start, by their own names: no path of a request reaches the file system.
  for (const name of readdirSync(dir)) {
    const file = staticFile(join(dir, name));
    if (file) routes.set(`/console/${name}`, get(file));
  }
  const index = staticFile(join(dir, 'index.html'));
  const admin = staticFile(join(dir, 'admin.html'));
  if (index) routes.set('/', get(index));
  if (admin) routes.set('/admin', get(admin));

  const bundle = deps.bundle ?? defaultBundle();
  const bundleFile = bundle === undefined ? undefined : staticFile(bundle);
  if (bundle === undefined || !bundleFile) logger.warn({ bundle }, 'the SDK browser bundle is not built (npm run build): the console pages cannot load it');
  else {
    for (const name of BUNDLE_FILES) {
      const file = staticFile(join(dirname(bundle), name));
      if (file) routes.set(`/client/${name}`, get(file));
    }
  }

  // What the pages adapt to: the mint button, and whether the admin view has keys to accept.
  const settings = { devTokens: config.console.devTokens, serverApi: config.api.keys.length > 0 };
  routes.set('/console/settings.json', new Map([['GET', (_req, res) => send(res, 200, settings)]]));
  if (config.console.devTokens) routes.set('/dev/token', new Map([['POST', devTokens(deps)]]));
  return routes;
}

/**
 * `POST /dev/token {userId, tenantId, ttlSeconds?}` → `{token, expiresAt}`: any user of any tenant,
 * signed with the secret generated for this process (no JWT_SECRET, not production): such a token is
 * valid on this process only and dies with it.
 */
function devTokens(deps: ConsoleDeps): ConsoleRoute {
  const limits = createDevTokenLimits({ trustProxy: deps.config.trustProxy, metrics: deps.metrics });
  const secret = deps.config.jwt.secrets[0];
  return async (req, res) => {
    limits.take(req);
    const r = devTokenSchema.safeParse(await readJson(req, res, 1024));
    if (!r.success) throw new CodedError('INVALID_PAYLOAD', `Invalid field "${String(r.error.issues[0]?.path[0] ?? 'body')}"`);
    if (!secret) throw new CodedError('NOT_FOUND');
    const ttlSeconds = r.data.ttlSeconds ?? DEV_TOKEN_TTL_SECONDS;
    const { issuer, audience } = deps.config.jwt;
    const token = await mintToken({ secret, userId: r.data.userId, tenantId: r.data.tenantId, ttlSeconds, ...(issuer !== undefined && { issuer }), ...(audience !== undefined && { audience }) });
    send(res, 200, { token, expiresAt: Date.now() + ttlSeconds * 1000 });
  };
}
