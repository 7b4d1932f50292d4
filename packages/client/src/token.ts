/** The `exp` claim of a JWT, in milliseconds since the epoch, read without verifying the token. */
export function jwtExpiresAt(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const binary = atob(b64);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires at `expiresAt`: `marginMs` before expiry, or,
 * for a token whose remaining lifetime is short, when three quarters of it have passed (whichever is later).
 */
export function refreshDelay(expiresAt: number, now: number, marginMs: number): number {
  const remaining = expiresAt - now;
  if (remaining <= 0) return 0;
  return Math.max(remaining - marginMs, Math.floor(remaining * 0.75));
}
