import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** A minimal structured logger. Fields must never carry secrets or raw payloads. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVEL_NAMES: ReadonlySet<string> = new Set<Level>(['debug', 'info', 'warn', 'error', 'silent']);

function toLevel(value: string | undefined): Level {
  return value !== undefined && LEVEL_NAMES.has(value) ? (value as Level) : 'info';
}

/** One stderr destination shared by every default logger (see {@link createTurnBuffer}). */
let stderrDestination: DestinationStream | undefined;
function stderr(): DestinationStream {
  stderrDestination ??= createTurnBuffer(pino.destination({ fd: 2, sync: true }));
  return stderrDestination;
}

/** Buffered lines that make the buffer write at once, within the turn. */
const TURN_BUFFER_BYTES = 64 * 1024;

/**
 * Lines logged in one turn of the event loop reach `sink` (a synchronous destination) together, in
 * one write at the end of the turn, and whatever is left is written synchronously when the process
 * exits (`process.exit`, an uncaught exception, the end of the loop). A server logs a line per
 * request: one write per line was a system call per request on the gateway's hot path. What a
 * SIGKILL or a crash of the runtime itself interrupts loses at most the current turn's lines.
 */
function createTurnBuffer(sink: DestinationStream): DestinationStream {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    sink.write(text);
  };
  process.on('exit', flush);
  return {
    write(chunk: string) {
      pending += chunk;
      if (pending.length >= TURN_BUFFER_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

/** Adapts a `write(line)` callback (one JSON document, no trailing newline) to a pino stream. */
function lineStream(write: (line: string) => void): DestinationStream {
  return { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) };
}

/**
 * JSON lines on stderr via pino, filtered by `level` (default from KEEL_LOG_LEVEL, else `info`):
 * `{ level, time, ...bindings, ...fields, msg }` with `level` as a label and `time` as ISO 8601.
 * `write`, when given, receives each line instead of stderr (without the trailing newline).
 *
 * A safety net under the rule that fields never carry secrets: before anything reaches pino,
 * values under secret-looking keys (`authorization`, `api_key`, `x-api-key`, `password`, `token`,
 * `secret`, `cookie`...) are replaced by `[redacted]`, at any depth, and Keel API keys
 * (`keel_sk_...`) and bearer credentials inside any string (the message included) are masked.
 * pino's own `redact` option takes fixed paths, so it cannot give the "any depth" guarantee.
 */
export function createJsonLogger({
  level = toLevel(process.env.KEEL_LOG_LEVEL),
  bindings = {},
  write,
}: { level?: Level; bindings?: Record<string, unknown>; write?: (line: string) => void } = {}): Logger {
  const root = pino(
    {
      level: toLevel(level),
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    write ? lineStream(write) : stderr(),
  );
  return wrap(root, redactFields(bindings));
}

function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redact(fields) as Record<string, unknown>;
}

/**
 * Bindings are kept here, not in pino children: pino writes a child's bindings and a call's fields
 * side by side, so a name in both came out twice in one JSON line (`{"runId":"a",...,"runId":"b"}`),
 * which most parsers resolve silently to the last one and some refuse. Merged here, each key appears
 * once and the call's field wins over the binding of the same name.
 */
function wrap(inner: PinoLogger, bindings: Record<string, unknown>): Logger {
  const emit = (at: Exclude<Level, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (!inner.isLevelEnabled(at)) return;
    const own = fields === undefined ? bindings : { ...bindings, ...redactFields(fields) };
    inner[at](own, redact(message) as string);
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => wrap(inner, { ...bindings, ...redactFields(fields) }),
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
