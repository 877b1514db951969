import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import { fromStorableJson } from '../journal/storable-json.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import type { Logger } from '../util/logger.js';
import type { CallRecord } from './gateway-store.js';
import { createSqlCallRecorder } from './sql-call-recorder.js';

const HOUR = 3_600_000;

const call = (id: string, overrides: Partial<CallRecord> = {}): CallRecord => ({
  id,
  tenantId: 'acme',
  keyId: 'key_1',
  runId: null,
  stepSeq: null,
  endpoint: 'chat',
  route: 'fast',
  deployment: 'openai-east',
  provider: 'openai',
  model: 'gpt-test',
  attempts: 1,
  cached: false,
  usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 50, reasoningTokens: 5 },
  costUsd: 0.000123456789,
  priceTable: '@pydantic/genai-prices@0.1.8+2026-12-06',
  latencyMs: 812.4,
  overheadMs: 1.6,
  ttftMs: 95,
  outcome: 'ok',
  startedAt: new Date('2030-01-01T00:00:00.123Z'),
  ...overrides,
});

/** A logger that keeps its warnings. */
function createRecordingLogger(): Logger & {
  warnings: { message: string; fields?: Record<string, unknown> }[];
} {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const logger = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, fields }),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

/** Wraps a client to count statements and to fail them on demand, as a database outage would. */
function createFaultyClient(inner: SqlClient) {
  const state = { down: false, inserts: 0 };
  const client: SqlClient = {
    dialect: inner.dialect,
    query: async (sql, params) => {
      if (state.down) throw new DatabaseUnavailableError('Database unavailable: injected');
      if (sql.includes('INSERT INTO')) state.inserts++;
      return inner.query(sql, params);
    },
    exec: (sql) => inner.exec(sql),
    transaction: (fn) => inner.transaction(fn),
    listen: (channel, onNotify) => inner.listen(channel, onNotify),
    notify: (channel, payload) => inner.notify(channel, payload),
    close: () => inner.close(),
  };
  return { client, state };
}

/** The CallRecorder contract over every SqlClient (PGlite always, Postgres when configured). */
function callRecorderContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    await migrate(client, { schema });
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const storedIds = async () => {
    const result = await client.query<{ id: string }>(`SELECT id FROM ${schema}.gateway_calls ORDER BY id`);
    return result.rows.map((row) => row.id);
  };

  it('writes every field, in batches of maxBatch', async () => {
    const faulty = createFaultyClient(client);
    const recorder = createSqlCallRecorder({
      client: faulty.client,
      schema,
      maxBatch: 3,
      flushIntervalMs: HOUR,
    });
    recorder.record(
      call('c0', {
        tenantId: null,
        keyId: null,
        runId: 'run_1',
        stepSeq: 4,
        userId: 'ada@example.com',
        sessionId: '0f5e2b6c-6d5e-4c1e-9a51-2a3f4b5c6d7e',
        outcome: 'error',
        error: { code: 'upstream_timeout', message: 'slow', fault: 'provider', retryable: true },
      }),
    );
    for (let i = 1; i < 7; i++)
      recorder.record(
        call(`c${i}`, { usage: undefined, costUsd: undefined, priceTable: undefined, ttftMs: undefined }),
      );
    await recorder.flush();
    expect(faulty.state.inserts).toBe(3);
    expect(await storedIds()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);

    const rows = await client.query(
      `SELECT *, cost_usd::text AS cost FROM ${schema}.gateway_calls WHERE id IN ('c0', 'c1') ORDER BY id`,
    );
    expect(rows.rows[0]).toMatchObject({
      id: 'c0',
      tenant_id: null,
      key_id: null,
      run_id: 'run_1',
      step_seq: 4,
      endpoint: 'chat',
      route: 'fast',
      deployment: 'openai-east',
      provider: 'openai',
      model: 'gpt-test',
      attempts: 1,
      cached: false,
      input_tokens: 100,
      output_tokens: 20,
      cached_input_tokens: 50,
      reasoning_tokens: 5,
      cost: '0.000123456789',
      price_table: '@pydantic/genai-prices@0.1.8+2026-12-06',
      latency_ms: 812,
      overhead_ms: 2,
      ttft_ms: 95,
      outcome: 'error',
      error: { code: 'upstream_timeout', message: 'slow', fault: 'provider', retryable: true },
      started_at: new Date('2030-01-01T00:00:00.123Z'),
      user_id: 'ada@example.com',
      session_id: '0f5e2b6c-6d5e-4c1e-9a51-2a3f4b5c6d7e',
    });
    expect(rows.rows[1]).toMatchObject({
      tenant_id: 'acme',
      user_id: null,
      session_id: null,
      input_tokens: null,
      cost: null,
      price_table: null,
      ttft_ms: null,
      error: null,
    });
    await recorder.close();
  });

  it('writes on its timer, and at once when a batch is full', async () => {
    const timed = createSqlCallRecorder({ client, schema, flushIntervalMs: 10 });
    timed.record(call('timer'));
    await vi.waitFor(async () => expect(await storedIds()).toEqual(['timer']));
    await timed.close();

    const full = createSqlCallRecorder({ client, schema, maxBatch: 2, flushIntervalMs: HOUR });
    full.record(call('full-1'));
    full.record(call('full-2'));
    await vi.waitFor(async () => expect(await storedIds()).toEqual(['full-1', 'full-2', 'timer']));
    await full.close();
  });

  it('drops the oldest records beyond maxBuffered and logs the count once', async () => {
    const logger = createRecordingLogger();
    const recorder = createSqlCallRecorder({ client, schema, maxBuffered: 5, flushIntervalMs: HOUR, logger });
    for (let i = 0; i < 8; i++) recorder.record(call(`c${i}`));
    await recorder.flush();
    expect(await storedIds()).toEqual(['c3', 'c4', 'c5', 'c6', 'c7']);
    expect(logger.warnings).toEqual([
      { message: 'gateway call records dropped', fields: { dropped: 3, maxBuffered: 5 } },
    ]);
    await recorder.flush();
    expect(logger.warnings).toHaveLength(1);
    await recorder.close();
  });

  it('keeps records through a failed flush (within the bound) and writes them later', async () => {
    const faulty = createFaultyClient(client);
    const logger = createRecordingLogger();
    const recorder = createSqlCallRecorder({
      client: faulty.client,
      schema,
      maxBatch: 2,
      maxBuffered: 4,
      flushIntervalMs: HOUR,
      logger,
    });
    for (let i = 0; i < 3; i++) recorder.record(call(`c${i}`));
    faulty.state.down = true;
    await expect(recorder.flush()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    // Three kept; three more make six, so the two oldest go.
    for (let i = 3; i < 6; i++) recorder.record(call(`c${i}`));
    await expect(recorder.flush()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    faulty.state.down = false;
    await recorder.flush();
    expect(await storedIds()).toEqual(['c2', 'c3', 'c4', 'c5']);
    // Reported by the flushes that followed the drops (a full batch starts one in the background).
    const dropped = logger.warnings
      .filter((warning) => warning.message === 'gateway call records dropped')
      .reduce((total, warning) => total + Number(warning.fields?.dropped), 0);
    expect(dropped).toBe(2);
    await recorder.close();
  });

  it('retries on its timer while the database is down, logging once', async () => {
    const faulty = createFaultyClient(client);
    const logger = createRecordingLogger();
    const recorder = createSqlCallRecorder({ client: faulty.client, schema, flushIntervalMs: 5, logger });
    faulty.state.down = true;
    recorder.record(call('late'));
    await vi.waitFor(() => expect(logger.warnings).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 50)); // several more failed ticks
    expect(logger.warnings.map((warning) => warning.message)).toEqual([
      'gateway call records not written; keeping them for the next flush',
    ]);
    faulty.state.down = false;
    await vi.waitFor(async () => expect(await storedIds()).toEqual(['late']));
    await recorder.close();
  });

  it('drops a batch the database rejects, so it cannot block later records', async () => {
    const logger = createRecordingLogger();
    const errors: string[] = [];
    logger.error = (message) => errors.push(message);
    const recorder = createSqlCallRecorder({ client, schema, maxBatch: 1, flushIntervalMs: HOUR, logger });
    recorder.record(call('bad', { outcome: 'exploded' as CallRecord['outcome'] }));
    recorder.record(call('unserializable', { startedAt: 'yesterday' as unknown as Date }));
    recorder.record(call('good'));
    await recorder.flush();
    expect(await storedIds()).toEqual(['good']);
    expect(errors).toEqual(['gateway call records rejected by the database; batch dropped']);
    expect(logger.warnings).toEqual([
      { message: 'gateway call records dropped', fields: { dropped: 1, maxBuffered: 10_000 } },
    ]);
    await recorder.close();
  });

  it('records an error message with NUL and lone surrogates (escaped, decodable) without dropping the batch', async () => {
    const recorder = createSqlCallRecorder({ client, schema, maxBatch: 2, flushIntervalMs: HOUR });
    const error = {
      code: 'upstream_error',
      message: 'bad\u0000 \ud800 byte',
      fault: 'provider',
      retryable: false,
    };
    recorder.record(call('odd', { outcome: 'error', error: error as CallRecord['error'] }));
    recorder.record(call('plain'));
    await recorder.flush();
    expect(await storedIds()).toEqual(['odd', 'plain']);
    const stored = await client.query<{ error: unknown }>(
      `SELECT error FROM ${schema}.gateway_calls WHERE id = 'odd'`,
    );
    expect(fromStorableJson(stored.rows[0]?.error)).toEqual(error);
    await recorder.close();
  });

  it('does not duplicate a record written twice (a retried batch whose answer was lost)', async () => {
    const recorder = createSqlCallRecorder({ client, schema, flushIntervalMs: HOUR });
    recorder.record(call('same'));
    await recorder.flush();
    recorder.record(call('same', { attempts: 2 }));
    recorder.record(call('other'));
    await recorder.flush();
    expect(await storedIds()).toEqual(['other', 'same']);
    await recorder.close();
  });

  it('drains on close, then drops what is recorded after it', async () => {
    const logger = createRecordingLogger();
    const recorder = createSqlCallRecorder({ client, schema, flushIntervalMs: HOUR, logger });
    recorder.record(call('before'));
    await recorder.close();
    recorder.record(call('after'));
    await recorder.flush();
    expect(await storedIds()).toEqual(['before']);
    expect(logger.warnings).toEqual([
      { message: 'gateway call records dropped', fields: { dropped: 1, maxBuffered: 10_000 } },
    ]);
  });

  it('writes 2,000 records from concurrent callers exactly once', async () => {
    const recorder = createSqlCallRecorder({ client, schema, flushIntervalMs: 1 });
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 2_000; i++) {
      recorder.record(call(`c${String(i).padStart(4, '0')}`));
      if (i % 400 === 0) flushes.push(recorder.flush());
    }
    await Promise.all(flushes);
    await recorder.close();
    const count = await client.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${schema}.gateway_calls`,
    );
    expect(count.rows[0]?.count).toBe(2_000);
  });
}

describe('SqlCallRecorder on PGlite', () => {
  callRecorderContract(() => createPgliteClient());
});

describePostgres('SqlCallRecorder on Postgres', (connectionString) => {
  callRecorderContract(async () => createPgClient({ connectionString, max: 4 }));
});
