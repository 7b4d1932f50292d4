/**
 * Where the client reports what it does: `console` fits, as do pino and winston loggers. Messages are
 * short sentences; `context` holds ids, room names, codes and delays, never tokens or payloads.
 */
export interface Logger {
  debug(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
}

const ignore = (): void => {};

/** The logger the client uses: the given one's methods (a missing one is silent), or silence. */
export function toLogger(logger: Partial<Logger> | undefined): Logger {
  const bind = (level: keyof Logger): Logger[typeof level] => {
    const fn = logger?.[level];
    return typeof fn === 'function' ? fn.bind(logger) : ignore;
  };
  return { debug: bind('debug'), info: bind('info'), warn: bind('warn'), error: bind('error') };
}
