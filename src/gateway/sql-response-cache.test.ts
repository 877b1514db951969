import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { ModelResponse } from '../model/model.js';
import { createFakeClock } from '../testing/fake-clock.js';
import type { FakeClock } from '../testing/fake-clock.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import type { ResponseCache } from './gateway-store.js';
import { createSqlResponseCache } from './sql-response-cache.js';

const response = (content: string): ModelResponse => ({
  message: {
    role: 'assistant',
    content,
    toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":1}' }],
  },
  finishReason: 'tool_calls',
  usage: { inputTokens: 12, outputTokens: 3, cachedInputTokens: 4 },
  modelId: 'gpt-test-2030',
});

/**
 * What only the SQL cache does, over every SqlClient (PGlite always, Postgres when configured).
 * The behaviour every cache shares is in response-cache.contract.test.ts.
 */
function sqlResponseCacheCases(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let clock: FakeClock;
  let cache: ResponseCache;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    await migrate(client, { schema });
    clock = createFakeClock({ start: Date.UTC(2030, 0, 1) });
    cache = createSqlResponseCache({ client, schema, clock });
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it('treats an entry with a damaged escape as a miss', async () => {
    await client.query(
      `INSERT INTO ${schema}.response_cache (key, response, expires_at) VALUES ('bad', $1::jsonb, 'infinity')`,
      [JSON.stringify({ ...response('x'), modelId: '\ufdd0not an escaped string' })],
    );
    expect(await cache.get('bad')).toBeUndefined();
  });

  it('treats an entry that is not a model response as a miss', async () => {
    await client.query(
      `INSERT INTO ${schema}.response_cache (key, response, expires_at) VALUES ('bad', '{"nope":1}', 'infinity')`,
    );
    expect(await cache.get('bad')).toBeUndefined();
  });

  it('deletes expired entries now and then', async () => {
    const cleaning = createSqlResponseCache({ client, schema, clock, cleanupEvery: 2 });
    await cleaning.set('old', response('old'), 1_000);
    clock.advance(2_000);
    await cleaning.set('new', response('new'), 1_000);
    await vi.waitFor(async () => {
      const rows = await client.query(`SELECT key FROM ${schema}.response_cache ORDER BY key`);
      expect(rows.rows).toEqual([{ key: 'new' }]);
    });
  });
}

describe('SqlResponseCache on PGlite', () => {
  sqlResponseCacheCases(() => createPgliteClient());
});

describePostgres('SqlResponseCache on Postgres', (connectionString) => {
  sqlResponseCacheCases(async () => createPgClient({ connectionString, max: 4 }));
});
