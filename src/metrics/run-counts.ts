import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlExecutor } from '../journal/sql-client.js';
import { silentLogger, type Logger } from '../util/logger.js';

/** Live runs by status, across tenants, as one scrape reads them. */
export interface RunCounts {
  /** Queued: submitted (or handed back by a draining worker), not yet claimed. */
  queued: number;
  /** Running: claimed by a worker (some may be under an expired lease, about to be recovered). */
  running: number;
  /** Waiting out a provider outage until their not-before time; they hold no worker. */
  waiting: number;
}

/** Options of {@link createRunCountReader}. */
export interface RunCountReaderOptions {
  client: SqlExecutor;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** Longest wait for the answer (default 1 s): a scrape never hangs on a slow database. */
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Reads the run gauges for a scrape: ONE statement over the partial index `runs_runnable`
 * (runs not ended: `ended_at IS NULL`, which the three statuses imply), so its cost follows the
 * live runs, never the history. At most one read is in flight: scrapes that arrive while it runs share it, so a slow database
 * never piles queries up. A read that fails or takes longer than `timeoutMs` answers undefined
 * (the gauges then report NaN and `keel_scrape_database_up` 0), logged once per episode.
 */
export function createRunCountReader({
  client,
  schema = DEFAULT_SCHEMA,
  timeoutMs = 1_000,
  logger = silentLogger,
}: RunCountReaderOptions): () => Promise<RunCounts | undefined> {
  assertSchemaName(schema);
  const sql = `SELECT count(*) FILTER (WHERE status = 'queued')::int8 AS queued,
      count(*) FILTER (WHERE status = 'running')::int8 AS running,
      count(*) FILTER (WHERE status = 'waiting')::int8 AS waiting
    FROM ${schema}.runs WHERE ended_at IS NULL AND status IN ('queued', 'running', 'waiting')`;
  let inFlight: Promise<RunCounts> | undefined;
  let failing = false;

  const query = (): Promise<RunCounts> => {
    inFlight ??= client
      .query<{ queued: number; running: number; waiting: number }>(sql)
      .then(({ rows: [row] }) => ({
        queued: Number(row?.queued ?? 0),
        running: Number(row?.running ?? 0),
        waiting: Number(row?.waiting ?? 0),
      }))
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const counts = await Promise.race([query(), timedOut]);
      if (failing) logger.info('metrics: the run gauges read the database again');
      failing = false;
      return counts;
    } catch (error) {
      if (!failing)
        logger.warn('metrics: cannot read the run gauges; scrapes report them as NaN until it can', {
          error: error instanceof Error ? error.message : String(error),
        });
      failing = true;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
}
