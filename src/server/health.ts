import type { ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { SqlClient } from '../journal/sql-client.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { sendJson } from './http-io.js';
import type { healthResponse } from './schemas.js';

/**
 * What `/healthz` answers: 200 when `ok`, else 503 with `reason: 'database_silent'`, a `message`,
 * `database_silent_ms` (null before the first round trip) and `max_silence_ms`.
 */
export type HealthReport = z.infer<typeof healthResponse>;

/** A liveness probe: answers at once, from memory; never waits on the database. */
export type HealthCheck = () => HealthReport;

/** Default `maxSilenceMs` (`KEEL_HEALTHZ_MAX_DB_SILENCE_MS`). */
export const DEFAULT_MAX_DB_SILENCE_MS = 60_000;

/** Options of `createHealthCheck`. */
export interface HealthCheckOptions {
  /** The process's database client; its `lastRoundTripAt` is what is watched. */
  client: Pick<SqlClient, 'query' | 'lastRoundTripAt'>;
  /** Longest time without any database round trip before the process counts as wedged (60 s). */
  maxSilenceMs?: number;
  /**
   * A quiet process sends `SELECT 1` (one at a time) when a health check finds no round trip for
   * this long (default: a quarter of `maxSilenceMs`, at most 5 s), so idleness is not mistaken
   * for a wedge.
   */
  probeAfterMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Liveness for an orchestrator: a process whose database has answered nothing (any statement of
 * any part of the process counts, as does the probe) for `maxSilenceMs` is wedged, and `/healthz`
 * fails so the process is restarted. A database that errors or refuses connections still answers
 * (the database is down, and restarting the process would not help): only silence counts.
 * The check itself reads a timestamp and may start a probe in the background, so it answers even
 * while every database connection hangs. Becoming wedged and recovering are each logged once.
 */
export function createHealthCheck({
  client,
  maxSilenceMs = DEFAULT_MAX_DB_SILENCE_MS,
  probeAfterMs = Math.min(5_000, Math.floor(maxSilenceMs / 4)),
  clock = systemClock,
  logger = silentLogger,
}: HealthCheckOptions): HealthCheck {
  const startedAt = clock.now();
  let probing = false;
  let wedged = false;

  const probe = () => {
    if (probing) return;
    probing = true;
    client
      .query('SELECT 1')
      .catch(() => {}) // a failure is what the report already says; the next check probes again
      .finally(() => {
        probing = false;
      });
  };

  // Since when the check has been waiting for an answer: the start of the first probe sent after
  // the last round trip. A process that was merely idle has not been waiting, so its first check
  // after a quiet spell passes while its probe is out; a wedged one fails maxSilenceMs later.
  let waitingSince: number | undefined;

  return () => {
    if (client.lastRoundTripAt === undefined) return { ok: true };
    const last = client.lastRoundTripAt();
    const now = clock.now();
    const anchor = last ?? startedAt;
    if (waitingSince !== undefined && anchor >= waitingSince) waitingSince = undefined;
    const silentMs = now - anchor;
    if (silentMs >= probeAfterMs) {
      waitingSince ??= now;
      probe();
    }
    if (waitingSince === undefined || now - waitingSince < maxSilenceMs) {
      if (wedged) {
        wedged = false;
        logger.info('healthz passing again: the database answers', { silentMs });
      }
      return { ok: true };
    }
    if (!wedged) {
      wedged = true;
      logger.error('healthz failing: no database round trip succeeded for too long; restart this process', {
        silentMs,
        maxSilenceMs,
      });
    }
    return {
      ok: false,
      reason: 'database_silent',
      message: `No database round trip has succeeded for ${silentMs} ms (limit ${maxSilenceMs} ms).`,
      database_silent_ms: last === undefined ? null : silentMs,
      max_silence_ms: maxSilenceMs,
    };
  };
}

/** Writes a health report: 200 when ok, else 503 with the report (never cached). */
export function sendHealth(response: ServerResponse, report: HealthReport): void {
  response.setHeader('cache-control', 'no-store');
  sendJson(response, report.ok ? 200 : 503, report);
}
