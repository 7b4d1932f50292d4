import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Tokens and secrets are redacted wherever they appear under these paths. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['token', '*.token', 'auth.token', 'headers.authorization', '*.headers.authorization', 'secret', '*.secret', 'apiKey', 'password'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}
