import { SignJWT } from 'jose';
import { parseSecret, type HmacSecret } from './secrets.js';

export interface MintOptions {
  /** The signing secret as written in JWT_SECRET (`secret` or `id:secret`), or already read. */
  secret: string | HmacSecret;
  userId: string;
  tenantId: string;
  rooms?: string[];
  roles?: string[];
  name?: string;
  /** Seconds until expiry; 0 for a token without `exp`. */
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
}

/** An HS256 token for the server's shared secret (development and tooling), its `kid` the secret's id. */
export async function mintToken(o: MintOptions): Promise<string> {
  const { id, secret } = typeof o.secret === 'string' ? parseSecret(o.secret) : o.secret;
  const claims: Record<string, unknown> = { tenantId: o.tenantId };
  if (o.rooms) claims.rooms = o.rooms;
  if (o.roles) claims.roles = o.roles;
  if (o.name) claims.name = o.name;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: id }).setSubject(o.userId).setIssuedAt();
  if (o.ttlSeconds > 0) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + o.ttlSeconds);
  if (o.issuer) jwt = jwt.setIssuer(o.issuer);
  if (o.audience) jwt = jwt.setAudience(o.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
