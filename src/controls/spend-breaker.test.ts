import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { parseSpendBreakers } from './controls-config.js';
import { ALL_TENANTS, createControls, type Controls } from './controls.js';
import { createSpendBreakers, type BreakerTrip } from './spend-breaker.js';

type Open = () => Promise<{
  client: SqlClient;
  schema: string;
  second(): Promise<SqlClient>;
  close(): Promise<void>;
}>;

function breakerContract(open: Open) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let second: () => Promise<SqlClient>;
  const opened: Controls[] = [];
  const extras: SqlClient[] = [];
  let clock = Date.parse('2026-12-05T10:00:30Z');
  const now = () => new Date(clock);
  const controlsOn = async (on: SqlClient) => {
    const controls = createControls({ client: on, schema, env: {}, now });
    opened.push(controls);
    await controls.start();
    return controls;
  };
  beforeEach(async () => {
    ({ client, schema, close, second } = await open());
    await migrate(client, { schema });
    clock = Date.parse('2026-12-05T10:00:30Z');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((controls) => controls.close()));
    await Promise.all(extras.splice(0).map((extra) => extra.close()));
    await close();
  });

  it('trips on the call that passes the hourly threshold, pauses the agent in another process, and resume works', async () => {
    const controls = await controlsOn(client);
    const otherClient = await second();
    if (otherClient !== client) extras.push(otherClient);
    const otherProcess = await controlsOn(otherClient);
    const trips: BreakerTrip[] = [];
    const breakers = createSpendBreakers({
      client,
      schema,
      controls,
      rules: parseSpendBreakers([{ scope: 'agent', window: '1h', maxUsd: 1 }]),
      onTrip: (trip) => trips.push(trip),
      now,
    });
    for (let call = 1; call <= 3; call++) {
      expect(await breakers.record({ tenantId: 'acme', agent: 'planner', costUsd: 0.3 })).toEqual([]);
      clock += 60_000;
    }
    expect(controls.agentHold({ agent: 'planner', tenantId: 'acme' })).toBeUndefined();
    // The fourth call takes the hour's spend to $1.20: that call trips the breaker.
    const tripped = await breakers.record({ tenantId: 'beta', agent: 'planner', costUsd: 0.3 });
    expect(tripped).toHaveLength(1);
    expect(tripped[0]).toMatchObject({ scope: 'agent', id: 'planner', maxUsd: 1, window: '1h' });
    expect(tripped[0]!.spentUsd).toBeCloseTo(1.2, 10);
    expect(trips).toEqual(tripped);
    expect(controls.agentHold({ agent: 'planner', tenantId: 'acme' })).toMatchObject({
      code: 'agent_paused',
      control: { tenantId: ALL_TENANTS, setBy: 'system:breaker' },
    });
    await vi.waitFor(
      () => expect(otherProcess.agentHold({ agent: 'planner', tenantId: 'beta' })?.code).toBe('agent_paused'),
      { timeout: 1_000, interval: 10 },
    );
    // More spend while paused trips nothing again (one audit row, one alert).
    expect(await breakers.record({ tenantId: 'acme', agent: 'planner', costUsd: 0.3 })).toEqual([]);
    const rows = (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(
      toAuditRecord,
    );
    expect(rows.map((row) => [row.action, row.actor, row.target])).toEqual([
      ['breaker.trip', 'system:breaker', 'agent:planner'],
    ]);
    expect(rows[0]!.details).toMatchObject({ scope: 'agent', window: '1h', max_usd: 1 });

    await otherProcess.clear({
      tenantId: ALL_TENANTS,
      kind: 'agent_paused',
      target: 'planner',
      actor: 'key:ops',
    });
    await vi.waitFor(
      () => expect(controls.agentHold({ agent: 'planner', tenantId: 'acme' })).toBeUndefined(),
      {
        timeout: 1_000,
        interval: 10,
      },
    );
  });

  it('the window slides: spend older than the window no longer counts', async () => {
    const controls = await controlsOn(client);
    const breakers = createSpendBreakers({
      client,
      schema,
      controls,
      rules: parseSpendBreakers([{ scope: 'tenant', window: '1h', max_usd: 1 }]),
      now,
    });
    await breakers.record({ tenantId: 'acme', costUsd: 0.9 });
    expect(await breakers.spent({ scope: 'tenant', id: 'acme', windowMinutes: 60 })).toBeCloseTo(0.9, 10);
    clock += 61 * 60_000;
    expect(await breakers.spent({ scope: 'tenant', id: 'acme', windowMinutes: 60 })).toBe(0);
    expect(await breakers.record({ tenantId: 'acme', costUsd: 0.9 })).toEqual([]);
    const trips = await breakers.record({ tenantId: 'acme', costUsd: 0.2 });
    expect(trips.map((trip) => [trip.scope, trip.id, trip.control.kind])).toEqual([
      ['tenant', 'acme', 'tenant_paused'],
    ]);
    expect(controls.agentHold({ agent: 'anyone', tenantId: 'acme' })?.code).toBe('agent_paused');
    expect(controls.agentHold({ agent: 'anyone', tenantId: 'beta' })).toBeUndefined();
  });

  it('a breaker with a target watches that agent only; gateway spend (no agent) feeds tenant breakers only', async () => {
    const controls = await controlsOn(client);
    const breakers = createSpendBreakers({
      client,
      schema,
      controls,
      rules: parseSpendBreakers([{ scope: 'agent', window: '15m', maxUsd: 0.5, target: 'planner' }]),
      now,
    });
    expect(await breakers.record({ tenantId: 'acme', agent: 'writer', costUsd: 5 })).toEqual([]);
    expect(await breakers.record({ tenantId: 'acme', costUsd: 5 })).toEqual([]);
    expect(await breakers.spent({ scope: 'agent', id: 'writer', windowMinutes: 15 })).toBe(0);
    expect(await breakers.record({ tenantId: 'acme', agent: 'planner', costUsd: 0.6 })).toHaveLength(1);
  });
}

describe('spend breakers on PGlite', () => {
  breakerContract(async () => {
    const client = await createPgliteClient();
    return { client, schema: 'keel', second: async () => client, close: () => client.close() };
  });
});

describePostgres('spend breakers on Postgres', (connectionString) => {
  let admin: SqlClient;
  beforeAll(() => {
    admin = createPgClient({ connectionString, max: 1 });
  });
  afterAll(() => admin.close());
  breakerContract(async () => {
    const schema = createTestSchemaName();
    const client = createPgClient({ connectionString, max: 4 });
    return {
      client,
      schema,
      second: async () => createPgClient({ connectionString, max: 2 }),
      close: async () => {
        await client.close();
        await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      },
    };
  });
});

describe('spend breaker config', () => {
  it('refuses malformed breakers with config_invalid naming the field', () => {
    const refused = (input: unknown, field: string) =>
      expect(() => parseSpendBreakers(input)).toThrow(
        expect.objectContaining({ code: 'config_invalid', details: { field } }),
      );
    refused({}, 'spendBreakers');
    refused([{ scope: 'user', window: '1h', maxUsd: 1 }], 'spendBreakers[0].scope');
    refused([{ scope: 'agent', window: 'hourly', maxUsd: 1 }], 'spendBreakers[0].window');
    refused([{ scope: 'agent', window: '30s', maxUsd: 1 }], 'spendBreakers[0].window');
    refused([{ scope: 'agent', window: '1h' }], 'spendBreakers[0].maxUsd');
    refused([{ scope: 'agent', window: '1h', maxUsd: -1 }], 'spendBreakers[0].maxUsd');
    refused([{ scope: 'agent', window: '1h', maxUsd: 1, max_usd: 1 }], 'spendBreakers[0].maxUsd');
    refused([{ scope: 'agent', window: '1h', maxUsd: 1, extra: true }], 'spendBreakers[0]');
    expect(parseSpendBreakers([{ scope: 'tenant', window: '1d', max_usd: 50 }])).toEqual([
      { scope: 'tenant', window: '1d', windowMinutes: 1440, maxUsd: 50 },
    ]);
  });
});
