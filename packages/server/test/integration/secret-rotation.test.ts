import { afterEach, describe, expect, it } from 'vitest';
import { mintToken as issue } from '../../src/auth/mint.js';
import { secretId } from '../../src/auth/secrets.js';
import { closeAll, connect, connectError, next, request } from '../helpers/clients.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { mintToken } from '../helpers/tokens.js';

// Two HMAC secrets; the old one is named by its hash, the new one explicitly (`id:secret`), as operators may do either.
const OLD = 'old-secret-for-rotation-0123456789-abcdefghij';
const NEW_SECRET = 'new-secret-for-rotation-0123456789-abcdefghij';
const NEW = `2025b:${NEW_SECRET}`;
const OLD_ID = secretId(OLD);
const NEW_ID = '2025b';

/** The environment of an instance: `current` signs, every one of `previous` verifies too. */
const secrets = (current: string, ...previous: string[]): Record<string, string> => ({
  JWT_SECRET: current,
  ...(previous.length > 0 && { JWT_PREVIOUS_SECRETS: previous.join(',') }),
});

/** A token from the issuer (the application backend), signed with `secret` as written in JWT_SECRET. */
const issued = (secret: string, userId: string, ttlSeconds = 600) => issue({ secret, userId, tenantId: 'acme', ttlSeconds });

/** `websocket_jwt_verifications_total` of an instance, as `kid/result` -> count. */
async function verifications(proc: ServerProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${proc.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^websocket_jwt_verifications_total\{kid="([^"]*)",result="([^"]*)"[^}]*\} (\d+)$/gm)) {
    counts[`${m[1]}/${m[2]}`] = Number(m[3]);
  }
  return counts;
}

describe('HMAC secret rotation across instances', () => {
  const procs: ServerProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const p = await startServerProcess(env);
    procs.push(p);
    return p;
  };
  afterEach(async () => {
    closeAll();
    await Promise.all(procs.splice(0).map((p) => p.kill()));
  });

  it('mid-rotation: each instance accepts the tokens of the secrets it lists, old-token clients move to the new instance, auth:refresh takes either, a dropped secret is refused', async () => {
    const rolled = await start(secrets(NEW, OLD));
    const notYet = await start(secrets(OLD));
    const oldToken = await issued(OLD, 'alice');
    const newToken = await issued(NEW, 'carol');
    // Tokens from issuers that set no kid, or a kid of their own naming: the secrets are tried in order.
    const oldNoKid = await mintToken({ sub: 'bob', tenantId: 'acme', secret: OLD });
    const newForeignKid = await mintToken({ sub: 'dan', tenantId: 'acme', secret: NEW_SECRET, kid: 'issuer-key-7' });

    for (const [token, user] of [[oldToken, 'alice'], [oldNoKid, 'bob'], [newToken, 'carol'], [newForeignKid, 'dan']] as const) {
      expect((await connect(rolled.url, { token })).established.userId).toBe(user);
    }
    for (const [token, user] of [[oldToken, 'alice'], [oldNoKid, 'bob']] as const) {
      expect((await connect(notYet.url, { token })).established.userId).toBe(user);
    }
    // An instance that does not list the new secret refuses its tokens: why the procedure lists it everywhere first.
    expect((await connectError(notYet.url, { token: newToken })).message).toBe('AUTH_INVALID');
    // A kid that names a listed secret selects that one only.
    const misnamed = await mintToken({ sub: 'eve', tenantId: 'acme', secret: OLD, kid: NEW_ID });
    expect((await connectError(rolled.url, { token: misnamed })).message).toBe('AUTH_INVALID');
    closeAll();

    // The old-only instance goes down for its update: its client reconnects to the rolled one with the token it holds.
    const held = await connect(notYet.url, { token: oldToken });
    const restart = next(held.socket, 'system:restart');
    notYet.signal('SIGTERM');
    await restart;
    held.socket.disconnect();
    const moved = await connect(rolled.url, { token: oldToken });
    expect(moved.established.userId).toBe('alice');
    expect(await notYet.exited()).toBe(0);

    // auth:refresh accepts a token of either secret, whichever signed the connection's token.
    const withNew = await connect(rolled.url, { token: newToken });
    const refreshedWithOld = await request<{ success: boolean; expiresAt: number }>(withNew.socket, 'auth:refresh', { token: await issued(OLD, 'carol', 1200) });
    expect(refreshedWithOld).toMatchObject({ success: true, expiresAt: expect.any(Number) });
    const refreshedWithNew = await request(moved.socket, 'auth:refresh', { token: await issued(NEW, 'alice', 1200) });
    expect(refreshedWithNew).toMatchObject({ success: true });
    expect(withNew.socket.connected && moved.socket.connected).toBe(true);

    // Every verification on the rolled instance, counted by the secret that signed it.
    expect(await verifications(rolled)).toEqual({
      [`${OLD_ID}/ok`]: 4, // alice, bob, alice moved over, carol's refresh
      [`${OLD_ID}/invalid`]: 0,
      [`${OLD_ID}/expired`]: 0,
      [`${NEW_ID}/ok`]: 4, // carol, dan, carol again, alice's refresh
      [`${NEW_ID}/invalid`]: 0,
      [`${NEW_ID}/expired`]: 0,
      'unknown/invalid': 1, // the misnamed token
    });

    // The old secret dropped (step 3): its tokens are refused, new ones still pass, and the metric no longer names it.
    const dropped = await start({ ...secrets(NEW), PORT: String(notYet.port) });
    const refused = await connectError(dropped.url, { token: oldToken });
    expect(refused.data).toMatchObject({ code: 'AUTH_INVALID' });
    expect((await connectError(dropped.url, { token: oldNoKid })).message).toBe('AUTH_INVALID');
    expect((await connect(dropped.url, { token: newToken })).established.userId).toBe('carol');
    expect(await verifications(dropped)).toEqual({
      [`${NEW_ID}/ok`]: 1,
      [`${NEW_ID}/invalid`]: 0,
      [`${NEW_ID}/expired`]: 0,
      'unknown/invalid': 2,
    });
  });

  it('the documented rolling rotation refuses no valid client at any step', { timeout: 120_000 }, async () => {
    const instances = [await start(secrets(OLD)), await start(secrets(OLD))];
    const refusals: string[] = [];
    let accepted = 0;
    const attempt = async (proc: ServerProcess, token: string, what: string) => {
      try {
        await connect(proc.url, { token });
        accepted++;
      } catch (err) {
        refusals.push(`${what} on :${proc.port}: ${(err as Error).message}`);
      }
    };
    // The issuer's tokens still in use, and what they are.
    let circulating: [string, string][] = [[await issued(OLD, 'early'), 'token of the old secret']];

    /** Updates one instance as a rolling deploy does, while clients hold tokens and reconnect elsewhere. */
    const roll = async (i: 0 | 1, env: Record<string, string>, step: string) => {
      const proc = instances[i] as ServerProcess;
      const other = instances[1 - i] as ServerProcess;
      closeAll();
      const held = await Promise.all(circulating.map(([token]) => connect(proc.url, { token })));
      const restarts = held.map((c) => next(c.socket, 'system:restart'));
      proc.signal('SIGTERM');
      await Promise.all(restarts);
      for (const c of held) c.socket.disconnect();
      for (const [token, what] of circulating) await attempt(other, token, `${step}: ${what}, reconnecting during the roll`);
      expect(await proc.exited()).toBe(0);
      instances[i] = await start({ ...env, PORT: String(proc.port) });
      for (const p of instances) for (const [token, what] of circulating) await attempt(p, token, `${step}: ${what}`);
    };

    // 1. The new secret is listed as previous everywhere; nothing signs with it yet.
    await roll(0, secrets(OLD, NEW), 'step 1');
    await roll(1, secrets(OLD, NEW), 'step 1');
    // Every instance verifies it now, so the issuer switches to it.
    circulating.push([await issued(NEW, 'late'), 'token of the new secret']);
    // 2. The new secret becomes current, the old one previous.
    await roll(0, secrets(NEW, OLD), 'step 2');
    await roll(1, secrets(NEW, OLD), 'step 2');
    // The longest token lifetime passes: no token of the old secret is in use any more.
    circulating = circulating.filter(([, what]) => what !== 'token of the old secret');
    // 3. The old secret is dropped.
    await roll(0, secrets(NEW), 'step 3');
    await roll(1, secrets(NEW), 'step 3');

    expect(refusals).toEqual([]);
    // Steps 1 and 2: 1 then 2 tokens, each reconnecting once and tried on both instances; step 3: 1 token.
    expect(accepted).toBe(2 * (1 + 2) + 2 * (2 + 4) + 2 * (1 + 2));
    for (const p of instances) expect((await connectError(p.url, { token: await issued(OLD, 'stale') })).message).toBe('AUTH_INVALID');
  });
});
