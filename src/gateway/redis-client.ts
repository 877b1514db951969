import { Redis } from 'ioredis';

/** Options of {@link createRedisClient}. */
export interface RedisClientOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
  url: string;
  /** Longest wait for a connection (default 2 s). */
  connectTimeoutMs?: number;
  /** Longest wait for one command's answer (default 500 ms); then it fails and the policy applies. */
  commandTimeoutMs?: number;
}

/**
 * An ioredis client set up so that it never makes a caller wait longer than the command timeout
 * and never runs a command late:
 * - no offline queue: while disconnected a command fails at once instead of queuing (a reserve
 *   sent minutes later would count a call that was long refused or let through);
 * - no resend of unanswered commands after a reconnect (same reason), no per-command retries;
 * - a command timeout, and a socket timeout that drops a connection that has gone silent (a
 *   server that accepts and never answers), so the client reconnects instead of waiting forever;
 * - RESP2, which every Redis-compatible server speaks; no client-info or maintenance handshakes.
 * Reconnects run in the background (backoff capped at 2 s); the client's `error` events are
 * swallowed here: failures reach the caller through the commands that fail.
 */
export function createRedisClient({
  url,
  connectTimeoutMs = 2_000,
  commandTimeoutMs = 500,
}: RedisClientOptions): Redis {
  const client = new Redis(url, {
    connectTimeout: connectTimeoutMs,
    // A server that never answers the QUIT never closes either: destroy the socket soon.
    disconnectTimeout: 250,
    commandTimeout: commandTimeoutMs,
    socketTimeout: Math.max(commandTimeoutMs * 4, 2_000),
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    protocol: 2,
    disableClientInfo: true,
    maintNotifications: 'disabled',
    lazyConnect: false,
  });
  client.on('error', () => {});
  return client;
}

/**
 * Resolves true once the client is ready, false when it is not within `timeoutMs` (it keeps
 * trying in the background). Never rejects.
 */
export function whenRedisReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onEnd = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}

/** Closes the client without waiting on a server that may not answer (no handle left open). */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve) => {
    client.once('end', () => resolve());
    // Belt and braces: `end` always follows a disconnect, but a close must never hang a shutdown.
    timer = setTimeout(resolve, 2_000);
    timer.unref();
  });
  client.disconnect(false);
  await ended;
  clearTimeout(timer);
}

/** The URL without its password, for logs and banners. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis (unparsable URL)';
  }
}
