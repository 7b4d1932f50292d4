/**
 * `serveApp(req, res)` for docs/sdk.md's backend example: the files of the folder in `APP_DIR`
 * (`/` is `index.html`, `/react` and `/shared` their `.html` files), as the rest of an application would serve them.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };
const ALIASES: Record<string, string> = { '/': '/index.html', '/react': '/react.html', '/shared': '/shared.html' };

export function serveApp(req: IncomingMessage, res: ServerResponse): void {
  const dir = process.env.APP_DIR ?? '.';
  const path = normalize(ALIASES[req.url ?? '/'] ?? req.url ?? '/');
  if (path.includes('..')) return void res.writeHead(400).end();
  readFile(join(dir, path)).then(
    (body) => res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body),
    () => res.writeHead(404).end(),
  );
}
