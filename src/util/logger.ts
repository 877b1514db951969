/** A minimal structured logger. Fields must never carry secrets or raw payloads. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** JSON lines on stderr, filtered by `level` (default from KEEL_LOG_LEVEL, else `info`). */
export function createJsonLogger({
  level = (process.env.KEEL_LOG_LEVEL as Level | undefined) ?? 'info',
  bindings = {},
  write = (line: string) => process.stderr.write(line + '\n'),
}: { level?: Level; bindings?: Record<string, unknown>; write?: (line: string) => void } = {}): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info;
  const emit = (at: Exclude<Level, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[at] < threshold) return;
    write(
      JSON.stringify({ time: new Date().toISOString(), level: at, msg: message, ...bindings, ...fields }),
    );
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createJsonLogger({ level, bindings: { ...bindings, ...fields }, write }),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
