'use strict';
/**
 * Artillery processor for tests/load-test.yml.
 *
 * `mintTokens` runs once in the `before` hook: it signs a pool of HS256 JWTs
 * with JWT_SECRET, named by `kid` (sub = a random user, tenantId = 'loadtest', exp = now + 1 h)
 * and stores them in `tokens`, which every virtual user inherits. Each virtual
 * user then connects with one of them (`socketio.auth.token`). A pool rather
 * than one token per user: the Socket.IO engine connects before any step of the
 * scenario runs, so a token must exist before the virtual user starts.
 *
 * Run `node tests/load-test-processor.cjs` to print one token (handy for
 * trying the server with another client).
 */
const { createHash, createHmac, randomBytes } = require('node:crypto');

// Must match the index range of `$randomNumber(0, 199)` in load-test.yml.
const TOKEN_POOL_SIZE = 200;
const ROOMS = Number(process.env.LOADTEST_ROOMS || 10);

function base64url(input) {
  return Buffer.from(input).toString('base64url');
}

/**
 * JWT_SECRET as the server reads it: `id:secret` names the secret, else its id is the first 8 hex
 * digits of its SHA-256. The id goes in the tokens' `kid` header.
 */
function readSecret(text) {
  const m = /^([A-Za-z0-9_.-]{1,32}):([\s\S]+)$/.exec(text);
  if (m) return { id: m[1], secret: m[2] };
  return { id: createHash('sha256').update(text).digest('hex').slice(0, 8), secret: text };
}

function signJwt(claims, secret, kid) {
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...(kid !== undefined && { kid }) }));
  const payload = base64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

function mintToken(jwtSecret = process.env.JWT_SECRET) {
  if (!jwtSecret) throw new Error('JWT_SECRET is not set: export the secret the server verifies tokens with');
  const { id, secret } = readSecret(jwtSecret);
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    {
      sub: `loadtest-user-${randomBytes(6).toString('hex')}`,
      tenantId: 'loadtest',
      name: 'Load test',
      iat: now,
      exp: now + 3600,
      ...(process.env.JWT_ISSUER && { iss: process.env.JWT_ISSUER }),
      ...(process.env.JWT_AUDIENCE && { aud: process.env.JWT_AUDIENCE }),
    },
    secret,
    id,
  );
}

/** `before` hook: a pool of tokens shared by all virtual users. */
function mintTokens(context, _events, done) {
  try {
    context.vars.tokens = Array.from({ length: TOKEN_POOL_SIZE }, () => mintToken());
    return done();
  } catch (err) {
    return done(err);
  }
}

/** Scenario step: the room this virtual user joins and talks in. */
function pickRoom(context, _events, done) {
  context.vars.room = `loadtest-room-${1 + Math.floor(Math.random() * ROOMS)}`;
  context.vars.seq = 0;
  return done();
}

/** Scenario step: a fresh payload for the next room:send. */
function nextPayload(context, _events, done) {
  context.vars.seq = (context.vars.seq || 0) + 1;
  context.vars.payload = { type: 'loadtest', seq: context.vars.seq, sentAt: Date.now(), text: randomBytes(32).toString('hex') };
  return done();
}

module.exports = { mintTokens, pickRoom, nextPayload, mintToken, signJwt };

if (require.main === module) {
  process.stdout.write(`${mintToken()}\n`);
}
