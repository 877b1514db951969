import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createFakeClock } from '../testing/fake-clock.js';
import type { FakeClock } from '../testing/fake-clock.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createSqlRateLimiter, msUntilFree, RATE_WINDOW_MS } from './sql-rate-limiter.js';

/** 10 seconds into a minute, so window arithmetic in the tests is easy to follow. */
const START = Date.UTC(2030, 0, 1, 0, 0, 10);

/**
 * What only the SQL limiter does, over every SqlClient (PGlite always, Postgres when configured).
 * The behaviour every limiter shares is in rate-limiter.contract.test.ts.
 */
function sqlRateLimiterCases(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let clock: FakeClock;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    await migrate(client, { schema });
    clock = createFakeClock({ start: START });
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it('deletes scopes idle for an hour, now and then', async () => {
    const cleaning = createSqlRateLimiter({ client, schema, clock, cleanupEvery: 1 });
    await cleaning.reserve([{ scope: 'old', rpm: 5 }], 0);
    clock.advance(61 * RATE_WINDOW_MS);
    await cleaning.reserve([{ scope: 'new', rpm: 5 }], 0);
    await vi.waitFor(async () => {
      const rows = await client.query(`SELECT scope FROM ${schema}.rate_windows ORDER BY scope`);
      expect(rows.rows).toEqual([{ scope: 'new' }]);
    });
    // A deleted scope comes back on its next use.
    expect((await cleaning.reserve([{ scope: 'old', rpm: 5 }], 0)).ok).toBe(true);
  });
}

describe('SqlRateLimiter on PGlite', () => {
  sqlRateLimiterCases(() => createPgliteClient());
});

describePostgres('SqlRateLimiter on Postgres', (connectionString) => {
  sqlRateLimiterCases(async () => createPgClient({ connectionString, max: 10 }));
});

describe('msUntilFree', () => {
  it('waits for the previous window to fade when the current one has room', () => {
    // 6 previous, 0 current, limit 6: fits when 6 * (1 - t / 60) <= 5, at t = 10 s.
    expect(msUntilFree({ current: 0, previous: 6, need: 1, limit: 6, elapsedMs: 4_000 })).toBe(6_000);
  });

  it('waits for the next window when the current one is full', () => {
    expect(msUntilFree({ current: 6, previous: 0, need: 1, limit: 6, elapsedMs: 50_000 })).toBe(20_000);
  });

  it('is at least 1 ms and at most two windows', () => {
    expect(msUntilFree({ current: 0, previous: 6, need: 1, limit: 6, elapsedMs: 30_000 })).toBe(1);
    expect(msUntilFree({ current: 0, previous: 0, need: 101, limit: 100, elapsedMs: 0 })).toBe(120_000);
  });
});
