import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../../server/test/helpers/server-process.js';
import type { WebSocketClient } from '../../src/index.js';
import { ClientPool, record, token, until } from '../helpers/harness.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DOC = fileURLToPath(new URL('../../../../docs/sdk.md', import.meta.url));
// Inside the package (under its ignored dist/), so that '@intelgraph/websocket-client' resolves as for a user.
const WORK = fileURLToPath(new URL('../../dist/examples/', import.meta.url));

/** The code block that follows `<!-- example:<name> -->` in docs/sdk.md. */
function example(doc: string, name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\s*\`\`\`typescript\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m?.[1]) throw new Error(`docs/sdk.md has no example:${name}`);
  return m[1];
}

function run(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

let server: ServerProcess;
const pool = new ClientPool();
let doc: string;

beforeAll(async () => {
  server = await startServerProcess();
  doc = await readFile(DOC, 'utf8');
  await mkdir(WORK, { recursive: true });
});
afterAll(async () => {
  pool.closeAll();
  await server?.stop();
  await rm(WORK, { recursive: true, force: true });
});

describe('docs/sdk.md examples', () => {
  it('the basic usage example runs as written against a real server, then the advanced one', async () => {
    const basic = example(doc, 'basic');
    const advanced = example(doc, 'advanced');
    // Only the placeholders change: the server's address, a real token and its tenant.
    const fill = async (code: string) =>
      code
        .replace(`'ws://localhost:9001'`, `'ws://localhost:${server.port}'`)
        .replace(`'your-jwt-token'`, `'${await token('analyst')}'`)
        .replace(`'your-tenant-id'`, `'acme'`);
    const program = await fill(basic.replace('// Disconnect\nclient.disconnect();', `${advanced}\n// Disconnect\nclient.disconnect();`));
    expect(program).toContain(advanced);
    expect(program).not.toContain('your-jwt-token');

    const watcher: WebSocketClient = await pool.create(server.url, 'watcher');
    const seen = record(watcher);
    await watcher.joinRoom('investigation:123');

    const file = `${WORK}example-${process.pid}.ts`;
    await writeFile(file, program);
    const { code, out } = await run(file);
    expect(out).not.toMatch(/Error/);
    expect(code).toBe(0);
    expect(out).toContain('Connection status: connecting');
    expect(out).toContain('Connection status: connected');
    expect(out).toMatch(/Connected: \S+/);
    expect(out).toContain('Users online:');
    expect(out).toMatch(/My rooms: \[ 'investigation:123' \]/);
    expect(out).toContain('Connection status: disconnected');

    await until(() => seen.messages.length === 1, 'the example message');
    expect(seen.messages[0]).toMatchObject({ room: 'investigation:123', from: 'analyst', payload: { type: 'comment', text: 'Hello, world!' } });
  });
});
