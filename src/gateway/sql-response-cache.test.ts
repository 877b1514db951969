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

/** The ResponseCache contract over every SqlClient (PGlite always, Postgres when configured). */
function responseCacheContract(openClient: () => Promise<SqlClient>): void {
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

  it('returns what was set, until it expires', async () => {
    expect(await cache.get('k1')).toBeUndefined();
    await cache.set('k1', response('hello'), 60_000);
    expect(await cache.get('k1')).toEqual(response('hello'));
    clock.advance(59_999);
    expect(await cache.get('k1')).toEqual(response('hello'));
    clock.advance(1);
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('replaces an entry and its expiry on set', async () => {
    await cache.set('k1', response('first'), 1_000);
    clock.advance(900);
    await cache.set('k1', response('second'), 1_000);
    clock.advance(900);
    expect(await cache.get('k1')).toEqual(response('second'));
    expect(await cache.get('k2')).toBeUndefined();
  });

  it('ignores a non-positive ttl', async () => {
    await cache.set('k1', response('never'), 0);
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('returns an answer with NUL and lone surrogates exactly', async () => {
    const odd = response('nul\u0000 high\ud800 low\udc00 \ufdd0marker 😀');
    await cache.set('k1', odd, 60_000);
    expect(await cache.get('k1')).toEqual(odd);
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

  it('uses the database clock when given none', async () => {
    const shared = createSqlResponseCache({ client, schema });
    await shared.set('k1', response('now'), 60_000);
    expect(await shared.get('k1')).toEqual(response('now'));
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
  responseCacheContract(() => createPgliteClient());
});

describePostgres('SqlResponseCache on Postgres', (connectionString) => {
  responseCacheContract(async () => createPgClient({ connectionString, max: 4 }));
});
