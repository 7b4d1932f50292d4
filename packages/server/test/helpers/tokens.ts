import { SignJWT } from 'jose';

/** The HS256 secret every test server process is started with (unless a test overrides JWT_SECRET). */
export const TEST_JWT_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

export interface TestTokenOptions {
  sub: string;
  tenantId: string;
  secret?: string;
  rooms?: string[];
  roles?: string[];
  name?: string;
  /** Seconds until expiry (default 3600); negative for an already expired token; null for no exp. */
  ttlSeconds?: number | null;
  issuer?: string;
  audience?: string;
  extra?: Record<string, unknown>;
  /** HMAC algorithm (default HS256). */
  alg?: 'HS256' | 'HS384' | 'HS512';
  /** `kid` header (default none). */
  kid?: string;
  /** `iat` in seconds since the epoch (default now); null for no iat. */
  iat?: number | null;
}

export async function mintToken(o: TestTokenOptions): Promise<string> {
  const claims: Record<string, unknown> = { tenantId: o.tenantId, ...o.extra };
  if (o.rooms) claims.rooms = o.rooms;
  if (o.roles) claims.roles = o.roles;
  if (o.name) claims.name = o.name;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'HS256', typ: 'JWT', ...(o.kid !== undefined && { kid: o.kid }) });
  if (o.iat !== null) jwt = jwt.setIssuedAt(o.iat);
  if (o.sub) jwt = jwt.setSubject(o.sub);
  const ttl = o.ttlSeconds === undefined ? 3600 : o.ttlSeconds;
  if (ttl !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
  if (o.issuer) jwt = jwt.setIssuer(o.issuer);
  if (o.audience) jwt = jwt.setAudience(o.audience);
  return jwt.sign(new TextEncoder().encode(o.secret ?? TEST_JWT_SECRET));
}
