/** What both load workers (worker.mjs, storm-worker.mjs) need: answering the parent and minting tokens. */
import { SignJWT } from 'jose';

/** Answers the parent process's request `id`. */
export function reply(id, body) {
  process.send?.({ id, ...body });
}

/** An HS256 token for `sub` of `tenantId`, valid for an hour (as our server's clients carry). */
export async function token(secret, tenantId, sub) {
  return new SignJWT({ tenantId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(secret));
}
