import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import { isConnectionError } from '../journal/sql-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { silentLogger } from '../util/logger.js';
import type { Logger } from '../util/logger.js';
import type { CallRecord, CallRecorder } from './gateway-store.js';
import { toStorableJson } from '../journal/storable-json.js';

/** Options of `createSqlCallRecorder`. */
export interface SqlCallRecorderOptions {
  client: SqlClient;
  /** Postgres schema of the tables (default `keel`); validated, then interpolated into SQL. */
  schema?: string;
  /** How often buffered records are written (default 200 ms); a full batch is written at once. */
  flushIntervalMs?: number;
  /** Records per INSERT (default 500). */
  maxBatch?: number;
  /** Records waiting at most (default 10,000); beyond it the oldest are dropped and counted. */
  maxBuffered?: number;
  /** Dropped records and failed writes are reported here (at most once per flush). */
  logger?: Logger;
}

/**
 * Records gateway calls in `gateway_calls` off the hot path. `record` only appends to an
 * in-memory buffer; a timer (unref'd: it never keeps the process alive) writes it in batches,
 * ONE multi-row INSERT per batch whose text never changes (the batch travels as one jsonb
 * array, expanded by `jsonb_to_recordset`), so Postgres plans it once.
 *
 * Bounded: at most `maxBuffered` records wait, plus one batch in flight. When the database is
 * slow or down the oldest records are dropped (never blocking, never growing), and the count is
 * logged once per flush. A write that fails because the database is unreachable puts its
 * batch back in front, so the records are written by a later flush (within the bound); rows are
 * inserted with ON CONFLICT (id) DO NOTHING, so a batch that was written but whose answer was
 * lost is not duplicated. A batch the database rejects (any other SQL error) is dropped and
 * logged as an error: retrying it would fail the same way and block every later record.
 * `record` keeps the object as given and converts it to a row when its batch is written, off the
 * request's path: a caller must not change a record after handing it over (the gateway builds a
 * fresh one per call). A record that cannot be converted is dropped and counted.
 *
 * `flush()` writes everything buffered when it was called and rejects if a write fails (the
 * records stay buffered). `close()` stops the timer, then flushes the same way; records given
 * to `record` after `close` are dropped and counted.
 */
export function createSqlCallRecorder({
  client,
  schema = DEFAULT_SCHEMA,
  flushIntervalMs = 200,
  maxBatch = 500,
  maxBuffered = 10_000,
  logger = silentLogger,
}: SqlCallRecorderOptions): CallRecorder {
  assertSchemaName(schema);
  const batchSize = Math.max(1, Math.floor(maxBatch));
  const capacity = Math.max(1, Math.floor(maxBuffered));
  const insertSql = `
    INSERT INTO ${schema}.gateway_calls (
      id, tenant_id, key_id, run_id, step_seq, endpoint, route, deployment, provider, model, attempts, cached,
      input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, price_table,
      latency_ms, overhead_ms, ttft_ms, outcome, error, started_at, user_id, session_id
    )
    SELECT
      id, tenant_id, key_id, run_id, step_seq, endpoint, route, deployment, provider, model, attempts, cached,
      input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, price_table,
      latency_ms, overhead_ms, ttft_ms, outcome, error, started_at, user_id, session_id
    FROM jsonb_to_recordset($1::jsonb) AS call (
      id text, tenant_id text, key_id text, run_id text, step_seq integer, endpoint text, route text,
      deployment text, provider text, model text, attempts integer, cached boolean,
      input_tokens integer, output_tokens integer, cached_input_tokens integer, reasoning_tokens integer,
      cost_usd numeric, price_table text, latency_ms integer, overhead_ms integer, ttft_ms integer, outcome text,
      error jsonb, started_at timestamptz, user_id text, session_id text
    )
    ON CONFLICT (id) DO NOTHING`;

  const buffer = new RecordQueue();
  let dropped = 0;
  let closed = false;
  let failing = false;
  /** The write in progress: one at a time, so batches keep their order and the bound holds. */
  let writing: Promise<void> | undefined;

  const reportDrops = () => {
    if (dropped === 0) return;
    logger.warn('gateway call records dropped', { dropped, maxBuffered: capacity });
    dropped = 0;
  };

  /**
   * Writes one batch. When the database is unreachable, puts it back in front (trimming the
   * oldest beyond the bound) and throws; when it rejects the batch, drops it.
   */
  const writeBatch = async (): Promise<void> => {
    const batch = buffer.take(batchSize);
    if (batch.length === 0) return;
    const rows: CallRow[] = [];
    for (const call of batch) {
      try {
        rows.push(toRow(call));
      } catch {
        dropped++;
      }
    }
    try {
      // Escaped where Postgres refuses the text (an upstream's error message with a NUL).
      await client.query(insertSql, [toStorableJson(rows)]);
      failing = false;
    } catch (error) {
      if (error instanceof DatabaseUnavailableError || isConnectionError(error)) {
        dropped += buffer.restore(batch, capacity);
        throw error;
      }
      logger.error('gateway call records rejected by the database; batch dropped', {
        records: batch.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };

  /** Writes batches until `count` records were taken, or the buffer is empty. */
  const drain = async (count: number): Promise<void> => {
    let remaining = count;
    while (remaining > 0 && buffer.length > 0) {
      const size = Math.min(batchSize, buffer.length);
      await writeBatch();
      remaining -= size;
    }
  };

  /** Serializes writes: waits for the one in progress, then runs `work`. */
  const exclusive = (work: () => Promise<void>): Promise<void> => {
    const run = (writing ?? Promise.resolve()).then(work);
    // `writing` itself never rejects: the caller of `run` gets the error.
    const settled: Promise<void> = run
      .catch(() => {})
      .then(() => {
        if (writing === settled) writing = undefined;
      });
    writing = settled;
    return run;
  };

  const flush = (): Promise<void> =>
    exclusive(async () => {
      reportDrops();
      // Everything buffered when this flush starts; later records wait for the next one.
      await drain(buffer.length);
    });

  const backgroundFlush = () => {
    if (writing !== undefined || buffer.length === 0) {
      reportDrops();
      return;
    }
    flush().catch((error: unknown) => {
      // Once per outage, not once per tick.
      if (!failing) {
        logger.warn('gateway call records not written; keeping them for the next flush', {
          buffered: buffer.length,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      failing = true;
    });
  };

  const timer = setInterval(backgroundFlush, Math.max(1, flushIntervalMs));
  timer.unref();

  return {
    record(call) {
      if (closed) {
        dropped++;
        return;
      }
      dropped += buffer.push(call, capacity);
      if (buffer.length >= batchSize) backgroundFlush();
    },

    flush,

    async close() {
      closed = true;
      clearInterval(timer);
      await flush();
      reportDrops();
    },
  };
}

/** A gateway_calls row as jsonb_to_recordset reads it (keys are column names). */
type CallRow = Record<string, unknown>;

function toRow(call: CallRecord): CallRow {
  return {
    id: call.id,
    tenant_id: call.tenantId,
    key_id: call.keyId,
    run_id: call.runId,
    step_seq: call.stepSeq,
    endpoint: call.endpoint,
    route: call.route,
    deployment: call.deployment,
    provider: call.provider,
    model: call.model,
    attempts: call.attempts,
    cached: call.cached,
    input_tokens: call.usage?.inputTokens ?? null,
    output_tokens: call.usage?.outputTokens ?? null,
    cached_input_tokens: call.usage?.cachedInputTokens ?? null,
    reasoning_tokens: call.usage?.reasoningTokens ?? null,
    cost_usd: call.costUsd ?? null,
    price_table: call.priceTable ?? null,
    latency_ms: Math.round(call.latencyMs),
    overhead_ms: Math.round(call.overheadMs),
    ttft_ms: call.ttftMs === undefined ? null : Math.round(call.ttftMs),
    outcome: call.outcome,
    error: call.error ?? null,
    started_at: call.startedAt.toISOString(),
    user_id: call.userId ?? null,
    session_id: call.sessionId ?? null,
  };
}

/**
 * A FIFO of records with O(1) push and batch take (an array with a moving head, compacted
 * when the consumed part dominates).
 */
class RecordQueue {
  private items: CallRecord[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends; returns how many of the oldest were dropped to stay within `capacity`. */
  push(item: CallRecord, capacity: number): number {
    this.items.push(item);
    return this.trim(capacity);
  }

  take(count: number): CallRecord[] {
    const batch = this.items.slice(this.head, this.head + count);
    this.head += batch.length;
    this.compact();
    return batch;
  }

  /** Puts a batch back in front; returns how many of the oldest were dropped to stay within `capacity`. */
  restore(batch: readonly CallRecord[], capacity: number): number {
    this.items = [...batch, ...this.items.slice(this.head)];
    this.head = 0;
    return this.trim(capacity);
  }

  private trim(capacity: number): number {
    const excess = this.length - capacity;
    if (excess <= 0) return 0;
    this.head += excess;
    this.compact();
    return excess;
  }

  /** Drops the consumed part once it dominates (and is worth the copy). */
  private compact(): void {
    if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
