import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { createEffectLedger } from './effect-ledger.js';
import type { EffectLedger } from './effect-ledger.js';

/** The effect ledger's contract, run over PGlite and (when configured) Postgres. */
function effectLedgerContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let ledger: EffectLedger;

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    ledger = createEffectLedger({ client, schema });
    await ledger.ensureTable();
    await client.exec(`CREATE TABLE ${schema}.orders (id serial PRIMARY KEY, item text NOT NULL)`);
  });
  afterEach(async () => {
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const placeOrder =
    (item: string, onRun: () => void = () => {}) =>
    async (tx: Parameters<Parameters<EffectLedger['once']>[1]>[0]) => {
      onRun();
      const inserted = await tx.query<{ id: number }>(
        `INSERT INTO ${schema}.orders (item) VALUES ($1) RETURNING id`,
        [item],
      );
      return { orderId: inserted.rows[0]!.id, item };
    };
  const orderCount = async () =>
    (await client.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${schema}.orders`)).rows[0]
      ?.count;

  it('runs an effect once and replays its stored value', async () => {
    let runs = 0;
    const first = await ledger.once(
      'run_1:3',
      placeOrder('book', () => runs++),
    );
    expect(first).toEqual({ value: { orderId: 1, item: 'book' }, replayed: false });
    const second = await ledger.once(
      'run_1:3',
      placeOrder('book', () => runs++),
    );
    expect(second).toEqual({ value: { orderId: 1, item: 'book' }, replayed: true });
    expect(runs).toBe(1);
    expect(await orderCount()).toBe(1);
    const record = await ledger.get('run_1:3');
    expect(record).toMatchObject({ key: 'run_1:3', value: { orderId: 1, item: 'book' } });
    expect(record?.createdAt).toBeInstanceOf(Date);
    expect(await ledger.get('run_1:4')).toBeUndefined();
  });

  it('rolls the effect and the key back together when the effect throws', async () => {
    const failing = ledger.once('run_1:5', async (tx) => {
      await placeOrder('lamp')(tx);
      throw new Error('payment declined');
    });
    await expect(failing).rejects.toThrow('payment declined');
    expect(await orderCount()).toBe(0);
    expect(await ledger.get('run_1:5')).toBeUndefined();
    expect(await ledger.once('run_1:5', placeOrder('lamp'))).toMatchObject({ replayed: false });
    expect(await orderCount()).toBe(1);
  });

  it('commits exactly one effect under concurrent calls with the same key', async () => {
    let runs = 0;
    const slowOrder = async (tx: Parameters<Parameters<EffectLedger['once']>[1]>[0]) => {
      const value = await placeOrder('chair', () => runs++)(tx);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return value;
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => ledger.once('run_2:1', slowOrder)));
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    expect(new Set(results.map((result) => JSON.stringify(result.value))).size).toBe(1);
    expect(runs).toBe(1);
    expect(await orderCount()).toBe(1);
  });

  it('returns values in their JSON form, on the first run as on a replay', async () => {
    const first = await ledger.once('run_3:1', async () => ({
      at: new Date('2030-01-01T00:00:00Z'),
      nothing: undefined,
    }));
    expect(first.value).toEqual({ at: '2030-01-01T00:00:00.000Z' });
    expect((await ledger.once('run_3:1', async () => 'other')).value).toEqual(first.value);
    expect((await ledger.once('run_3:2', async () => undefined)).value).toBeNull();
  });

  it('stores and replays values with text Postgres refuses (NUL, lone surrogates), exactly', async () => {
    const value = { 'key\u0000': ['nul\u0000', '\ud800', '\udc00x', '\ufdd0marker', '😀'] };
    expect((await ledger.once('run_4:1', async () => value)).value).toEqual(value);
    expect((await ledger.once('run_4:1', async () => 'other')).value).toEqual(value);
    expect((await ledger.get('run_4:1'))?.value).toEqual(value);
  });

  it('rejects unsafe schema and table names before touching the database', () => {
    expect(() => createEffectLedger({ client, table: 'effects; DROP TABLE x' })).toThrow(/table name/);
    expect(() => createEffectLedger({ client, schema: 'Bad-Schema' })).toThrow(/schema name/);
  });

  it('creates its table idempotently, also concurrently', async () => {
    await Promise.all([
      ledger.ensureTable(),
      ledger.ensureTable(),
      createEffectLedger({ client, schema }).ensureTable(),
    ]);
  });
}

describe('effect ledger on PGlite (in memory)', () => {
  effectLedgerContract(() => createPgliteClient());
});

describePostgres('effect ledger on Postgres', (connectionString) => {
  effectLedgerContract(async () => createPgClient({ connectionString, max: 8 }));
});
