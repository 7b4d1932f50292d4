/**
 * A second-language client: Debian's python-socketio 5 (at /usr/bin/python3; `.ci/run` installs it)
 * against a server process with the default configuration, over WebSocket and over long-polling.
 * python-socketio's WebSocket sends `Origin:` with the URL it connects to, the server's own origin.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mintToken } from '../helpers/tokens.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../python/client.py', import.meta.url));

interface PythonRun {
  transport: string;
  established: { userId: string; tenantId: string; connectionId: string };
  joins: { success: boolean; room: string }[];
  send: { success: boolean; messageId: string };
  received: { id: string; room: string; from: string; payload: unknown };
  presence: { success: boolean; presence: { userId: string }[] };
  history: { success: boolean; messages: { id: string; payload: unknown }[] };
  rooms: { success: boolean; rooms: string[] };
  refusal: string;
  connectErrors: { message: string; data: { code: string; message: string } }[];
}

function runPython(config: object): Promise<PythonRun> {
  const { PATH, HOME } = process.env;
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, JSON.stringify(config)], { timeout: 60_000, env: { ...(PATH && { PATH }), ...(HOME && { HOME }) } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`python client failed (is python3-socketio installed for ${PYTHON}?): ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as PythonRun);
    });
  });
}

let server: ServerProcess;
beforeAll(async () => {
  // CORS_ORIGIN stays the default (http://localhost:3000), as an operator who did not think of Python clients has it.
  server = await startServerProcess();
});
afterAll(async () => server?.stop());

describe('python-socketio 5', () => {
  for (const transport of ['websocket', 'polling'] as const) {
    it(`connects, joins, sends, receives, queries presence and history, and sees AUTH_INVALID, over ${transport}`, async () => {
      const room = `python-${transport}`;
      const run = await runPython({
        url: server.url,
        transport,
        room,
        tokens: { sender: await mintToken({ sub: 'py-alice', tenantId: 'acme' }), receiver: await mintToken({ sub: 'py-bob', tenantId: 'acme' }) },
        badToken: 'not-a-jwt',
      });
      expect(run.transport).toBe(transport);
      expect(run.established).toMatchObject({ userId: 'py-alice', tenantId: 'acme' });
      expect(run.joins).toEqual([expect.objectContaining({ success: true, room }), expect.objectContaining({ success: true, room })]);
      expect(run.send).toMatchObject({ success: true, messageId: expect.stringMatching(/^\d{16}-/) });
      expect(run.received).toMatchObject({ id: run.send.messageId, room, from: 'py-alice', payload: { text: 'hello from python' } });
      expect(run.presence.success).toBe(true);
      expect(run.presence.presence.map((p) => p.userId).sort()).toEqual(['py-alice', 'py-bob']);
      expect(run.history).toMatchObject({ success: true, messages: [expect.objectContaining({ id: run.send.messageId, payload: { text: 'hello from python' } })] });
      expect(run.rooms).toEqual({ success: true, rooms: [room] });
      expect(run.refusal).toMatch(/failed to connect/);
      expect(run.connectErrors).toEqual([{ message: 'AUTH_INVALID', data: expect.objectContaining({ code: 'AUTH_INVALID' }) }]);
    });
  }
});
