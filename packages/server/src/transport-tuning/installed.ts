import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The exact copies of socket.io, engine.io, ws and socket.io-adapter the server runs on, and their
 * versions. npm may install several copies of one package (ws is both a dependency of engine.io and
 * of the tests); a patch must look at the copy that is actually used, found along the chain of
 * packages that require it.
 */
export interface Installed {
  readonly name: string;
  readonly version: string;
  load<T>(): T;
}

/** The versions every patch was written for; package.json pins the same (a test checks both agree). */
export const WRITTEN_FOR = {
  'socket.io': '4.8.4',
  'engine.io': '6.6.12',
  /** engine.io's own copy: the server's WebSockets. */
  ws: '8.23.0',
  /** socket.io's adapter: direct-broadcast subclasses it and reads its broadcast options. */
  'socket.io-adapter': '2.5.8',
} as const;

export type Dependency = keyof typeof WRITTEN_FOR;

const here = createRequire(import.meta.url);

/** The package.json above a module's entry file whose name is `name`. */
function packageJson(entry: string, name: string): { version?: unknown } | undefined {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === name) return pkg;
    } catch {
      // No package.json at this level: keep going up.
    }
  }
  return undefined;
}

/**
 * The copy of the last package of `chain` that the first one uses: `['engine.io', 'ws']` is the ws
 * engine.io requires. Undefined when a package of the chain cannot be resolved.
 */
export function locate(chain: readonly string[]): Installed | undefined {
  let req = here;
  let entry = '';
  for (const id of chain) {
    try {
      entry = req.resolve(id);
    } catch {
      return undefined;
    }
    req = createRequire(entry);
  }
  const name = chain[chain.length - 1]!;
  const version = packageJson(entry, name)?.version;
  if (typeof version !== 'string') return undefined;
  const from = createRequire(entry);
  return { name, version, load: <T>() => from(entry) as T };
}

/** Why the copy at `chain` is not the one a patch was written for, or undefined when it is. */
export function versionMismatch(chain: readonly string[], dependency: Dependency): string | undefined {
  const found = locate(chain);
  if (!found) return `${chain.join(' > ')} is not installed`;
  if (found.version !== WRITTEN_FOR[dependency]) return `${chain.join(' > ')} is ${found.version}, written for ${WRITTEN_FOR[dependency]}`;
  return undefined;
}
