/** A webhook receiver for tests: a node:http server that records every request and answers as told. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/signing.js';

export interface ReceivedEvent {
  id: string;
  type: string;
  tenantId: string;
  time: string;
  data: Record<string, unknown>;
}

export interface ReceivedRequest {
  at: number;
  /** The raw body's signature verified with the receiver's secret. */
  signed: boolean;
  events: ReceivedEvent[];
}

/** What the receiver answers: 200, 500, or nothing at all (the request hangs until the client gives up). */
export type Mode = 'ok' | 'fail' | 'hang';

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  mode: Mode;
  /** Every event received, in arrival order, repeats included. */
  all(): ReceivedEvent[];
  /** One event per id (the first arrival): what an application de-duplicating by id keeps. */
  unique(): ReceivedEvent[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string, mode: Mode = 'ok'): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    requests,
    mode,
    all: () => requests.flatMap((r) => r.events),
    unique() {
      const seen = new Set<string>();
      return receiver.all().filter((e) => !seen.has(e.id) && seen.add(e.id));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signed = verifySignature(secret, req.headers, body);
      let events: ReceivedEvent[] = [];
      try {
        events = (JSON.parse(body) as { events: ReceivedEvent[] }).events;
      } catch {
        // recorded with no events: the test sees it
      }
      requests.push({ at: Date.now(), signed, events });
      if (receiver.mode === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      res.writeHead(receiver.mode === 'ok' ? 200 : 500, { 'content-type': 'text/plain' });
      // A large answer: the server does not read it.
      res.end(receiver.mode === 'ok' ? 'ok' : 'x'.repeat(1_000_000));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}

/** The events of a type about a room or a user (`data.room`, `data.userId`, `data.user.userId`). */
export function about(events: readonly ReceivedEvent[], type: string, match: { room?: string; userId?: string } = {}): ReceivedEvent[] {
  return events.filter((e) => {
    if (e.type !== type) return false;
    const d = e.data as { room?: string; userId?: string; user?: { userId?: string } };
    if (match.room !== undefined && d.room !== match.room) return false;
    return match.userId === undefined || (d.userId ?? d.user?.userId) === match.userId;
  });
}
