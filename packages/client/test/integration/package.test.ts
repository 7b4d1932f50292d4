import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import { docExample, fill } from '../helpers/docs.js';
import { ClientPool, record, token, until } from '../helpers/harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

let tmp: string;
let tarballs: string;
let app: string;
let server: ServerProcess;
const pool = new ClientPool();

/** Runs docs/sdk.md's install commands as written, with a temporary folder for the tarballs and the application. */
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sdk-package-'));
  tarballs = join(tmp, 'packages');
  app = join(tmp, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }));
  const script = fill(docExample('install'), { '/tmp/intelgraph-packages': tarballs, '/path/to/your-app': app });
  await run('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: ROOT,
    // From the npm cache when the dependencies are there (socket.io-client and its own).
    env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  server = await startServerProcess();
}, 240_000);

afterAll(async () => {
  pool.closeAll();
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const installed = (pkg: string) => join(app, 'node_modules/@intelgraph', pkg);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('the packed packages, installed in a new application', () => {
  it('carry a README, a LICENSE, engines, repository and the sources their maps name; no tests, no build leftovers', async () => {
    for (const pkg of ['websocket-protocol', 'websocket-client']) {
      const { stdout } = await run('tar', ['-tzf', join(tarballs, `intelgraph-${pkg}-0.1.0.tgz`)]);
      const files = stdout.trim().split('\n');
      expect(files).toEqual(expect.arrayContaining(['package/README.md', 'package/LICENSE', 'package/package.json', 'package/src/index.ts', 'package/dist/index.js']));
      expect(files.filter((f) => /\/test\/|tsbuildinfo|dist\/examples/.test(f))).toEqual([]);
      const manifest = JSON.parse(await readFile(join(installed(pkg), 'package.json'), 'utf8')) as { engines?: { node?: string }; repository?: { url?: string } };
      expect(manifest.engines?.node).toMatch(/^>=20/);
      expect(manifest.repository?.url).toMatch(/^git\+https:/);

      const maps = (await filesUnder(join(installed(pkg), 'dist'))).filter((f) => f.endsWith('.map'));
      expect(maps.length).toBeGreaterThanOrEqual(2);
      for (const map of maps) {
        const { sources, sourcesContent, sourceRoot } = JSON.parse(await readFile(map, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[]; sourceRoot?: string };
        sources.forEach((source, i) => {
          const found = existsSync(resolve(dirname(map), sourceRoot ?? '', source)) || typeof sourcesContent?.[i] === 'string';
          expect(found, `${map} names ${source}`).toBe(true);
        });
      }
    }
    expect(existsSync(join(installed('websocket-client'), 'dist/browser/websocket-client.js'))).toBe(true);
    expect(existsSync(join(installed('websocket-client'), 'dist/react.js'))).toBe(true);
  });

  it('an ES module consumer and a CommonJS consumer talk to a real server', async () => {
    const watcher = await pool.create(server.url, 'watcher');
    const seen = record(watcher);
    await watcher.joinRoom('pkg');
    await writeFile(
      join(app, 'esm.mjs'),
      `import WebSocketClient, { WebSocketClient as Named, CONNECTION_STATES } from '@intelgraph/websocket-client';
const [url, token] = process.argv.slice(2);
const client = new WebSocketClient({ url, token, tenantId: 'acme', echo: true });
const room = client.room('pkg');
const echoed = new Promise((resolve) => room.once('message', (m) => resolve(m.payload.text)));
await room.join();
const id = await room.send({ text: 'esm' }, { persistent: true });
console.log(JSON.stringify({ same: WebSocketClient === Named, states: CONNECTION_STATES, id, echoed: await echoed }));
client.disconnect();
`,
    );
    await writeFile(
      join(app, 'cjs.cjs'),
      `const { WebSocketClient } = require('@intelgraph/websocket-client');
const [url, token] = process.argv.slice(2);
(async () => {
  const client = new WebSocketClient({ url, token, tenantId: 'acme' });
  await client.joinRoom('pkg');
  const id = await client.sendMessage('pkg', { text: 'cjs' }, true);
  const page = await client.getHistory('pkg', { limit: 10 });
  console.log(JSON.stringify({ id, history: page.messages.map((m) => m.payload.text) }));
  client.disconnect();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`,
    );
    const args = [server.url, await token('packaged')];
    const esmRun = await run(process.execPath, ['esm.mjs', ...args], { cwd: app });
    const esmOut = JSON.parse(esmRun.stdout) as { same: boolean; states: string[]; id: string; echoed: string };
    expect(esmOut).toMatchObject({ same: true, states: ['disconnected', 'connecting', 'connected', 'reconnecting', 'failed'], echoed: 'esm' });
    const cjsRun = await run(process.execPath, ['cjs.cjs', ...args], { cwd: app });
    const cjsOut = JSON.parse(cjsRun.stdout) as { id: string; history: string[] };
    expect(cjsOut.history).toEqual(['esm', 'cjs']);
    await until(() => seen.messages.length === 2, 'both messages at the watcher');
    expect(seen.messages.map((m) => [m.id, m.payload])).toEqual([
      [esmOut.id, { text: 'esm' }],
      [cjsOut.id, { text: 'cjs' }],
    ]);
  });

  it('a strict TypeScript consumer compiles the README client examples and typed rooms, and runs them', async () => {
    const basic = docExample('basic');
    const advanced = docExample('advanced');
    const seed = fill(basic, { '// Disconnect\nclient.disconnect();': `${advanced}\n// Disconnect\nclient.disconnect();` });
    await writeFile(join(app, 'seed.ts'), seed);
    await writeFile(
      join(app, 'typed.ts'),
      `import { WebSocketClient, type RoomMessage, type StateChangeReason } from '@intelgraph/websocket-client';

interface Comment { text: string; mentions?: string[] }

export async function typed(client: WebSocketClient): Promise<string> {
  const room = client.room<Comment>('investigation:123');
  const stop: () => void = room.on('message', (m: RoomMessage<Comment>) => console.log(m.payload.text.toUpperCase()));
  // @ts-expect-error the payload type of the room is Comment
  await room.send({ body: 'wrong shape' }).catch(() => {});
  const page = await room.history({ direction: 'backward', limit: 10 });
  const texts: string[] = page.messages.map((m) => m.payload.text);
  const reason: StateChangeReason = 'transport close';
  stop();
  return texts.join() + reason;
}
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023', 'DOM'], types: [], skipLibCheck: false, outDir: 'out' },
        files: ['seed.ts', 'typed.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app });

    const watcher = await pool.create(server.url, 'watcher');
    const seen = record(watcher);
    await watcher.joinRoom('investigation:123');
    const compiled = await readFile(join(app, 'out/seed.js'), 'utf8');
    await writeFile(
      join(app, 'out/seed.js'),
      fill(compiled, { "'ws://localhost:9001'": `'${server.url}'`, "'your-jwt-token'": `'${await token('analyst')}'`, "'your-tenant-id'": "'acme'" }),
    );
    const { stdout } = await run(process.execPath, ['out/seed.js'], { cwd: app });
    expect(stdout).toContain('Connection status: connected');
    expect(stdout).toMatch(/My rooms: \[ 'investigation:123' \]/);
    await until(() => seen.messages.length === 1, 'the example message');
    expect(seen.messages[0]).toMatchObject({ from: 'analyst', payload: { type: 'comment', text: 'Hello, world!' } });
  });
});
