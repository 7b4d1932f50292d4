import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, API_KEYS, enc, KEYS, type ApiAnswer } from '../helpers/api.js';
import { closeAll, connect, request, until } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

type Obj = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> } & Obj;

const DOC_FILE = new URL('../../../../docs/openapi.json', import.meta.url);
const ID = 'https://intelgraph.invalid/openapi.json';

/** One call of the API: the documented path it exercises, the concrete request, and the status expected. */
interface Case {
  doc: string;
  method: 'get' | 'post' | 'delete';
  path: string;
  key?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
}

/** JSON pointer of a response body's schema in the document. */
const pointer = (docPath: string, method: string, status: number) =>
  ['paths', docPath, method, 'responses', String(status), 'content', 'application/json', 'schema'].map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

describe('OpenAPI document', () => {
  let srv: TestServer;
  let doc: Doc;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  beforeAll(async () => {
    // Webhooks to a port nobody listens on, retried for a second: dead letters for the routes that list, replay and delete them.
    const closed = await freePort();
    srv = await startTestServer({
      API_KEYS,
      MAX_MESSAGE_BYTES: '1024',
      WEBHOOK_URL: `http://127.0.0.1:${closed}/hooks`,
      WEBHOOK_SECRET: 'webhook-secret-0123456789abcdefghijklmnop',
      WEBHOOK_BATCH_WAIT: '0',
      WEBHOOK_RETRY_FOR: '1',
      WEBHOOK_RETRY_BASE: '50',
      WEBHOOK_RETRY_MAX_DELAY: '200',
      WEBHOOK_LEAVE_GRACE: '0',
    });
    doc = (await api<Doc>(srv.url, 'GET', '/openapi.json')).body;
    ajv.addSchema({ ...doc, $id: ID });
  });
  afterAll(async () => srv.close());
  afterEach(() => closeAll());

  it('is the one in docs/openapi.json, and a valid OpenAPI 3.1 shape', () => {
    expect(JSON.parse(readFileSync(DOC_FILE, 'utf8'))).toEqual(doc);
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (method === 'parameters') continue;
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('200');
      }
    }
  });

  it('describes every answer of every route, as a real server gives it', async () => {
    // Data for the reads to return: members with presence, history, a second tenant.
    const { socket } = await connect(srv.url, { claims: { sub: 'alice', tenantId: 'acme' } });
    await request(socket, 'room:join', { room: 'ops/1', metadata: { role: 'lead' } });
    const { socket: bob } = await connect(srv.url, { claims: { sub: 'bob', tenantId: 'acme' } });
    await request(bob, 'room:join', { room: 'ops/1' });
    await request(bob, 'presence:status', { status: 'away' });
    await connect(srv.url, { claims: { sub: 'zed', tenantId: 'globex' } });
    const ops = `/rooms/${enc('ops/1')}`;
    const published = await api<Obj>(srv.url, 'POST', `${ops}/messages`, { key: KEYS.acme, body: { payload: { a: 1 }, persistent: true, idempotencyKey: 'k-1' } });

    const k = KEYS.acme;
    type Letters = { deadLetters: { id: string }[]; cursor: string | null };
    const letters = async () => (await api<Letters>(srv.url, 'GET', '/webhooks/dead-letters', { key: k })).body.deadLetters;
    // A first letter, then an event made after it: a batch of its own, so a second letter.
    await until(async () => (await letters()).length >= 1, 60_000, 'a dead letter of acme');
    await connect(srv.url, { claims: { sub: 'carol', tenantId: 'acme' } });
    await until(async () => (await letters()).length >= 2, 60_000, 'two dead letters of acme');
    const [replay, discard] = (await letters()).map((l) => l.id) as [string, string];
    const cases: Case[] = [
      { doc: '/openapi.json', method: 'get', path: '/openapi.json', status: 200 },
      { doc: '/key', method: 'get', path: '/key', key: k, status: 200 },
      { doc: '/key', method: 'get', path: '/key', key: KEYS.operator, status: 200 },
      { doc: '/key', method: 'get', path: '/key', status: 401 },
      { doc: '/rooms/{room}/messages', method: 'post', path: `${ops}/messages`, key: k, body: { payload: 'hi', from: 'backend' }, status: 200 },
      { doc: '/rooms/{room}/messages', method: 'post', path: `${ops}/messages?tenantId=acme`, key: KEYS.operator, body: { payload: { a: 1 }, persistent: true, idempotencyKey: 'k-1' }, status: 200 },
      { doc: '/rooms/{room}/messages', method: 'post', path: `${ops}/messages`, key: k, raw: 'nope', headers: { 'content-type': 'application/json' }, status: 400 },
      { doc: '/rooms/{room}/messages', method: 'post', path: `${ops}/messages`, key: k, body: { payload: 'x'.repeat(2000) }, status: 413 },
      { doc: '/rooms/{room}/messages', method: 'post', path: `${ops}/messages`, status: 401 },
      { doc: '/rooms/{room}/messages', method: 'get', path: `${ops}/messages?limit=5`, key: k, status: 200 },
      { doc: '/rooms/{room}/messages', method: 'get', path: `${ops}/messages?since=${published.body.messageId}&direction=backward`, key: k, status: 200 },
      { doc: '/rooms/{room}/messages', method: 'get', path: `${ops}/messages?limit=nope`, key: k, status: 400 },
      { doc: '/rooms/{room}/messages', method: 'get', path: `${ops}/messages`, key: `${k}-wrong`, status: 401 },
      { doc: '/messages', method: 'post', path: '/messages', key: k, body: { messages: [{ room: 'ops/1', payload: 1 }, { room: '??', payload: 2 }, { room: 'b', payload: 'x'.repeat(2000) }] }, status: 200 },
      { doc: '/messages', method: 'post', path: '/messages', key: k, body: { messages: 'all' }, status: 400 },
      { doc: '/rooms', method: 'get', path: '/rooms', key: k, status: 200 },
      { doc: '/rooms', method: 'get', path: '/rooms?prefix=ops&limit=1', key: k, status: 200 },
      { doc: '/rooms', method: 'get', path: '/rooms?tenantId=globex', key: k, status: 403 },
      { doc: '/rooms/{room}', method: 'get', path: ops, key: k, status: 200 },
      { doc: '/rooms/{room}', method: 'get', path: '/rooms/empty', key: k, status: 200 },
      { doc: '/rooms/{room}', method: 'get', path: `/rooms/${enc('not a room')}`, key: k, status: 400 },
      { doc: '/rooms/{room}/presence', method: 'get', path: `${ops}/presence`, key: k, status: 200 },
      { doc: '/rooms/{room}/presence', method: 'get', path: `${ops}/presence?limit=1`, key: k, status: 200 },
      { doc: '/rooms/{room}/members/{userId}', method: 'delete', path: `${ops}/members/bob`, key: k, status: 200 },
      { doc: '/users/{userId}', method: 'get', path: '/users/alice', key: k, status: 200 },
      { doc: '/users/{userId}', method: 'get', path: '/users/nobody', key: k, status: 200 },
      { doc: '/users/{userId}/disconnect', method: 'post', path: '/users/nobody/disconnect', key: k, body: { code: 'FORBIDDEN', reason: 'bye' }, status: 200 },
      { doc: '/users/{userId}/disconnect', method: 'post', path: '/users/nobody/disconnect', key: k, status: 200 },
      { doc: '/users/{userId}/disconnect', method: 'post', path: '/users/nobody/disconnect', key: k, body: { code: 42 }, status: 400 },
      { doc: '/users/{userId}/revoke', method: 'post', path: '/users/nobody/revoke', key: k, body: { before: Date.now() - 1000 }, status: 200 },
      { doc: '/users/{userId}/revoke', method: 'post', path: '/users/nobody/revoke', key: k, status: 200 },
      { doc: '/instances', method: 'get', path: '/instances', key: KEYS.operator, status: 200 },
      { doc: '/instances', method: 'get', path: '/instances', key: k, status: 403 },
      { doc: '/tenants', method: 'get', path: '/tenants', key: KEYS.operator, status: 200 },
      { doc: '/webhooks/dead-letters', method: 'get', path: '/webhooks/dead-letters', key: k, status: 200 },
      { doc: '/webhooks/dead-letters', method: 'get', path: '/webhooks/dead-letters?limit=1', key: KEYS.operator, status: 200 },
      { doc: '/webhooks/dead-letters', method: 'get', path: '/webhooks/dead-letters?tenantId=globex', key: KEYS.operator, status: 200 },
      { doc: '/webhooks/dead-letters', method: 'get', path: '/webhooks/dead-letters?cursor=nope', key: k, status: 400 },
      { doc: '/webhooks/dead-letters/{id}/replay', method: 'post', path: `/webhooks/dead-letters/${replay}/replay`, key: KEYS.globex, status: 404 },
      { doc: '/webhooks/dead-letters/{id}/replay', method: 'post', path: `/webhooks/dead-letters/${replay}/replay`, key: k, status: 200 },
      { doc: '/webhooks/dead-letters/{id}/replay', method: 'post', path: `/webhooks/dead-letters/${replay}/replay`, key: k, status: 404 },
      { doc: '/webhooks/dead-letters/{id}/replay', method: 'post', path: '/webhooks/dead-letters/x/replay', key: k, status: 400 },
      { doc: '/webhooks/dead-letters/{id}', method: 'delete', path: `/webhooks/dead-letters/${discard}`, key: KEYS.operator, status: 200 },
      { doc: '/webhooks/dead-letters/{id}', method: 'delete', path: `/webhooks/dead-letters/${discard}`, key: k, status: 404 },
    ];

    const covered = new Set<string>();
    for (const c of cases) {
      const answer: ApiAnswer<unknown> = await api(srv.url, c.method.toUpperCase(), c.path, {
        ...(c.key !== undefined && { key: c.key }),
        ...(c.body !== undefined && { body: c.body }),
        ...(c.raw !== undefined && { raw: c.raw }),
        ...(c.headers && { headers: c.headers }),
      });
      const what = `${c.method.toUpperCase()} ${c.path} -> ${answer.status} ${JSON.stringify(answer.body)}`;
      expect(answer.status, what).toBe(c.status);
      expect(doc.paths[c.doc]?.[c.method]?.responses[String(c.status)], `${what}: status not documented`).toBeDefined();
      const validate = ajv.getSchema(`${ID}#/${pointer(c.doc, c.method, c.status)}`);
      expect(validate, `${what}: no schema`).toBeDefined();
      const valid = validate?.(answer.body);
      expect(valid, `${what}: ${JSON.stringify(validate?.errors)}`).toBe(true);
      if (c.status === 200) covered.add(`${c.method} ${c.doc}`);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => m !== 'parameters').map((m) => `${m} ${path}`));
    expect([...covered].sort()).toEqual(documented.sort());
  }, 180_000);
});
