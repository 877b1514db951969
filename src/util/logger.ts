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

/**
 * JSON lines on stderr, filtered by `level` (default from KEEL_LOG_LEVEL, else `info`). A safety
 * net under the rule that fields never carry secrets: values under secret-looking keys
 * (`authorization`, `api_key`, `x-api-key`, `password`, `token`, `secret`, `cookie`...) are
 * written as `[redacted]`, at any depth, and Keel API keys (`keel_sk_...`) and bearer
 * credentials inside any string are masked.
 */
export function createJsonLogger({
  level = (process.env.KEEL_LOG_LEVEL as Level | undefined) ?? 'info',
  bindings = {},
  write = (line: string) => process.stderr.write(line + '\n'),
}: { level?: Level; bindings?: Record<string, unknown>; write?: (line: string) => void } = {}): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info;
  const emit = (at: Exclude<Level, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[at] < threshold) return;
    const record = { time: new Date().toISOString(), level: at, msg: message, ...bindings, ...fields };
    write(JSON.stringify(redact(record, 0)));
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createJsonLogger({ level, bindings: { ...bindings, ...fields }, write }),
  };
}

const REDACTED = '[redacted]';
/** Keys (lowercased, `-` as `_`) whose values are never logged. */
const SECRET_KEYS = new Set([
  'authorization',
  'proxy_authorization',
  'api_key',
  'apikey',
  'x_api_key',
  'password',
  'passwd',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'secret',
  'client_secret',
  'cookie',
  'set_cookie',
  'private_key',
]);
const SECRET_IN_TEXT = /\b(keel_sk_)[\w-]+|\b(bearer\s+)[\w.~+/=-]+/gi;
const MAX_DEPTH = 8;

function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase().replaceAll('-', '_'));
}

/** A copy of `value` with secret-looking keys' values and secrets inside strings masked. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.replace(SECRET_IN_TEXT, (_match, keel?: string, bearer?: string) =>
      keel !== undefined ? `${keel}${REDACTED}` : `${bearer ?? ''}${REDACTED}`,
    );
  }
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return redact(toJson.call(value), depth + 1);
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = isSecretKey(key) ? REDACTED : redact(item, depth + 1);
  }
  return copy;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
