/** What the HTTP server serves and to whom: TLS, the allowed origins, the console. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { commaList, fail } from './config-parse.js';
import type { Env } from './config-schema.js';

/** The PEM texts of TLS_CERT_FILE (the certificate chain) and TLS_KEY_FILE. */
export interface TlsConfig {
  cert: string;
  key: string;
}

export interface ConsoleConfig {
  enabled: boolean;
  /**
   * `POST /dev/token` mints tokens for any user and tenant: only with a secret generated for this
   * process (no JWT_SECRET) outside production, where no token it mints is valid anywhere else.
   */
  devTokens: boolean;
}

/** TLS_CERT_FILE and TLS_KEY_FILE, both or neither, loadable and matching. */
export function tlsConfig(r: Env): TlsConfig | undefined {
  if (r.TLS_CERT_FILE === undefined && r.TLS_KEY_FILE === undefined) return undefined;
  if (r.TLS_KEY_FILE === undefined) return fail('TLS_KEY_FILE', 'must be set with TLS_CERT_FILE (both or neither)');
  if (r.TLS_CERT_FILE === undefined) return fail('TLS_CERT_FILE', 'must be set with TLS_KEY_FILE (both or neither)');
  const cert = r.TLS_CERT_FILE;
  const key = r.TLS_KEY_FILE;
  const check = (name: 'TLS_CERT_FILE' | 'TLS_KEY_FILE', what: string, load: () => unknown) => {
    try {
      load();
    } catch (err) {
      fail(name, `"${name === 'TLS_CERT_FILE' ? cert.path : key.path}" ${what} (${err instanceof Error ? err.message : String(err)})`);
    }
  };
  check('TLS_CERT_FILE', 'does not hold a PEM certificate', () => new X509Certificate(cert.text));
  check('TLS_KEY_FILE', 'does not hold an unencrypted PEM private key', () => createPrivateKey(key.text));
  check('TLS_KEY_FILE', 'does not match the certificate of TLS_CERT_FILE', () => createSecureContext({ cert: cert.text, key: key.text }));
  return { cert: cert.text, key: key.text };
}

/** CORS_ORIGIN: origins (scheme://host[:port]) or `*`; neither localhost nor `*` in production. */
export function corsOrigins(r: Env, prod: boolean): string[] {
  const origins = commaList(r.CORS_ORIGIN);
  if (origins.length === 0) fail('CORS_ORIGIN', 'must list at least one origin');
  for (const o of origins) {
    if (o !== '*' && !/^https?:\/\/[^\s/]+$/.test(o)) fail('CORS_ORIGIN', `has an invalid origin "${o}" (expected scheme://host[:port] or *)`);
    if (prod && /localhost|127\.0\.0\.1|\[::1\]/.test(o)) fail('CORS_ORIGIN', 'must not include localhost in production');
    if (prod && o === '*') fail('CORS_ORIGIN', 'must not be * in production');
  }
  return origins;
}

/** CONSOLE_ENABLED (on by default outside production), and whether the development token endpoint exists. */
export function consoleConfig(r: Env, prod: boolean, secretGenerated: boolean): ConsoleConfig {
  const enabled = r.CONSOLE_ENABLED ?? !prod;
  return { enabled, devTokens: enabled && !prod && secretGenerated };
}
