import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { ALL_TENANTS, createControls, disabledToolsFromEnv, type Controls } from './controls.js';

/** A fresh database and schema; `second()` opens another client on them (another process, as far as controls can tell). */
type Open = () => Promise<{
  client: SqlClient;
  schema: string;
  second(): Promise<SqlClient>;
  close(): Promise<void>;
}>;

function controlsContract(open: Open) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let open2: () => Promise<SqlClient>;
  const opened: Controls[] = [];
  const extras: SqlClient[] = [];
  const start = async (options: Partial<Parameters<typeof createControls>[0]> = {}) => {
    const controls = createControls({ client, schema, env: {}, ...options });
    opened.push(controls);
    await controls.start();
    return controls;
  };
  beforeEach(async () => {
    let second: () => Promise<SqlClient>;
    ({ client, schema, close, second } = await open());
    open2 = async () => {
      const extra = await second();
      if (extra !== client) extras.push(extra);
      return extra;
    };
    await migrate(client, { schema });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((controls) => controls.close()));
    await Promise.all(extras.splice(0).map((extra) => extra.close()));
    await close();
  });
  const audit = async () =>
    (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(toAuditRecord);

  it('disables a tool for every agent or one agent, in one tenant or all; clearing enables it again', async () => {
    const controls = await start();
    expect(controls.toolDisabled({ tool: 'weather', agent: 'planner', tenantId: 'acme' })).toBeUndefined();
    await controls.set({
      tenantId: ALL_TENANTS,
      kind: 'tool_disabled',
      target: 'weather',
      actor: 'key:k1',
      reason: 'API down',
    });
    await controls.set({
      tenantId: 'acme',
      kind: 'tool_disabled',
      target: 'places',
      agent: 'planner',
      actor: 'key:k1',
    });
    expect(controls.toolDisabled({ tool: 'weather', agent: 'anyone', tenantId: 'other' })).toMatchObject({
      reason: 'API down',
      setBy: 'key:k1',
      source: 'database',
    });
    expect(controls.toolDisabled({ tool: 'places', agent: 'planner', tenantId: 'acme' })).toBeDefined();
    expect(controls.toolDisabled({ tool: 'places', agent: 'other-agent', tenantId: 'acme' })).toBeUndefined();
    expect(controls.toolDisabled({ tool: 'places', agent: 'planner', tenantId: 'other' })).toBeUndefined();
    expect(controls.list({ tenantId: 'other' }).map((control) => control.target)).toEqual(['weather']);

    const cleared = await controls.clear({
      tenantId: ALL_TENANTS,
      kind: 'tool_disabled',
      target: 'weather',
      actor: 'key:k2',
    });
    expect(cleared?.target).toBe('weather');
    expect(controls.toolDisabled({ tool: 'weather', agent: 'anyone', tenantId: 'other' })).toBeUndefined();
    expect(
      await controls.clear({
        tenantId: ALL_TENANTS,
        kind: 'tool_disabled',
        target: 'weather',
        actor: 'key:k2',
      }),
    ).toBeUndefined();

    const rows = await audit();
    expect(rows.map((row) => [row.action, row.target, row.actor])).toEqual([
      ['control.set', 'tool:weather', 'key:k1'],
      ['control.set', 'tool:places', 'key:k1'],
      ['control.clear', 'tool:weather', 'key:k2'],
    ]);
    expect(rows[0]!.before).toBeNull();
    expect(rows[0]!.after).toMatchObject({ kind: 'tool_disabled', target: 'weather', reason: 'API down' });
    expect(rows[2]!.after).toBeNull();
  });

  it('holds an agent: disabled before paused, a tenant pause pauses its agents; audited as pause and resume', async () => {
    const controls = await start();
    await controls.set({ tenantId: 'acme', kind: 'agent_paused', target: 'planner', actor: 'key:k1' });
    expect(controls.agentHold({ agent: 'planner', tenantId: 'acme' })?.code).toBe('agent_paused');
    expect(controls.agentHold({ agent: 'planner', tenantId: 'other' })).toBeUndefined();
    await controls.set({ tenantId: ALL_TENANTS, kind: 'agent_disabled', target: 'planner', actor: 'key:k1' });
    expect(controls.agentHold({ agent: 'planner', tenantId: 'acme' })?.code).toBe('agent_disabled');
    await controls.set({ tenantId: 'beta', kind: 'tenant_paused', target: 'beta', actor: 'key:k1' });
    expect(controls.agentHold({ agent: 'writer', tenantId: 'beta' })).toMatchObject({
      code: 'agent_paused',
      control: { kind: 'tenant_paused' },
    });
    await controls.clear({ tenantId: 'acme', kind: 'agent_paused', target: 'planner', actor: 'key:k1' });
    expect((await audit()).map((row) => row.action)).toEqual([
      'agent.pause',
      'control.set',
      'control.set',
      'agent.resume',
    ]);
  });

  it('setting again updates the reason (audited with before and after); ifAbsent keeps it and writes nothing', async () => {
    const controls = await start();
    await controls.set({
      tenantId: ALL_TENANTS,
      kind: 'deployment_disabled',
      target: 'openai-eu',
      actor: 'a',
      reason: 'one',
    });
    const again = await controls.set({
      tenantId: ALL_TENANTS,
      kind: 'deployment_disabled',
      target: 'openai-eu',
      actor: 'b',
      reason: 'two',
    });
    expect(again).toMatchObject({ changed: true, control: { reason: 'two', setBy: 'b' } });
    const kept = await controls.set({
      tenantId: ALL_TENANTS,
      kind: 'deployment_disabled',
      target: 'openai-eu',
      actor: 'c',
      reason: 'three',
      ifAbsent: true,
    });
    expect(kept).toMatchObject({ changed: false, control: { reason: 'two' } });
    expect(controls.deploymentDisabled('openai-eu')?.reason).toBe('two');
    const rows = await audit();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ before: { reason: 'one' }, after: { reason: 'two' } });
  });

  it('of many processes setting the same control ifAbsent at once (a breaker tripping), one writes and audits', async () => {
    const others = await Promise.all([open2(), open2(), open2()]);
    const services = await Promise.all([client, ...others].map((on) => start({ client: on })));
    const results = await Promise.all(
      services.map((controls, index) =>
        controls.set({
          tenantId: ALL_TENANTS,
          kind: 'agent_paused',
          target: 'planner',
          actor: `system:breaker-${index}`,
          action: 'breaker.trip',
          ifAbsent: true,
        }),
      ),
    );
    expect(results.filter((result) => result.changed)).toHaveLength(1);
    expect(new Set(results.map((result) => result.control.setBy)).size).toBe(1);
    expect((await audit()).map((row) => row.action)).toEqual(['breaker.trip']);
  });

  it('refuses malformed controls with invalid_control naming the field, and writes nothing', async () => {
    const controls = await start();
    const refused = async (input: Parameters<Controls['set']>[0], field: string) => {
      await expect(controls.set(input)).rejects.toMatchObject({
        code: 'invalid_control',
        details: { field },
      });
    };
    await refused({ tenantId: 'acme', kind: 'bogus' as never, target: 'x', actor: 'a' }, 'kind');
    await refused({ tenantId: 'acme', kind: 'tool_disabled', target: '', actor: 'a' }, 'target');
    await refused({ tenantId: 'acme', kind: 'tool_disabled', target: 'a b', actor: 'a' }, 'target');
    await refused({ tenantId: 'acme', kind: 'agent_paused', target: 'p', agent: 'q', actor: 'a' }, 'agent');
    await refused({ tenantId: 'acme', kind: 'deployment_disabled', target: 'd', actor: 'a' }, 'tenant_id');
    await refused({ tenantId: 'acme', kind: 'tenant_paused', target: 'other', actor: 'a' }, 'target');
    await refused(
      { tenantId: 'acme', kind: 'tool_disabled', target: 't', actor: 'a', reason: 'nul \u0000' },
      'reason',
    );
    expect(await audit()).toEqual([]);
    expect(controls.list()).toEqual([]);
  });

  it('KEEL_DISABLED_TOOLS disables tools in this process only, listed with source env', async () => {
    expect(disabledToolsFromEnv({ KEEL_DISABLED_TOOLS: ' weather, ,places ' })).toEqual([
      'weather',
      'places',
    ]);
    const controls = await start({ env: { KEEL_DISABLED_TOOLS: 'weather,places' } });
    expect(controls.toolDisabled({ tool: 'places', agent: 'a', tenantId: 't' })).toMatchObject({
      source: 'env',
      setBy: 'env:KEEL_DISABLED_TOOLS',
    });
    const other = await start();
    expect(other.toolDisabled({ tool: 'places', agent: 'a', tenantId: 't' })).toBeUndefined();
    expect(await audit()).toEqual([]);
    expect(() => createControls({ client, schema, env: { KEEL_DISABLED_TOOLS: 'bad tool' } })).toThrow(
      expect.objectContaining({ code: 'config_invalid', details: { field: 'KEEL_DISABLED_TOOLS' } }),
    );
  });

  it('a change made through one client reaches another client within 1 s by notification', async () => {
    const second = await open2();
    const writer = await start();
    // The reader never polls: only the notification can bring the change.
    const reader = createControls({ client: second, schema, env: {}, pollMs: 3_600_000 });
    opened.push(reader);
    await reader.start();
    await writer.set({ tenantId: ALL_TENANTS, kind: 'tool_disabled', target: 'weather', actor: 'a' });
    await vi.waitFor(
      () => expect(reader.toolDisabled({ tool: 'weather', agent: 'x', tenantId: 't' })).toBeDefined(),
      {
        timeout: 1_000,
        interval: 10,
      },
    );
    await writer.clear({ tenantId: ALL_TENANTS, kind: 'tool_disabled', target: 'weather', actor: 'a' });
    await vi.waitFor(
      () => expect(reader.toolDisabled({ tool: 'weather', agent: 'x', tenantId: 't' })).toBeUndefined(),
      {
        timeout: 1_000,
        interval: 10,
      },
    );
  });

  it('the poll brings a change whose notification was lost', async () => {
    const reader = await start({ pollMs: 20 });
    // Written behind the service's back: no NOTIFY at all.
    await client.query(
      `INSERT INTO ${schema}.controls (tenant_id, kind, target, set_by) VALUES ('*', 'agent_paused', 'planner', 'sql')`,
    );
    await vi.waitFor(
      () => expect(reader.agentHold({ agent: 'planner', tenantId: 'acme' })?.code).toBe('agent_paused'),
      {
        timeout: 5_000,
        interval: 10,
      },
    );
  });
}

describe('controls on PGlite', () => {
  controlsContract(async () => {
    const client = await createPgliteClient();
    // One embedded database has one client: a second service on it plays the other process.
    return { client, schema: 'keel', second: async () => client, close: () => client.close() };
  });
});

describePostgres('controls on Postgres', (connectionString) => {
  let admin: SqlClient;
  beforeAll(() => {
    admin = createPgClient({ connectionString, max: 1 });
  });
  afterAll(() => admin.close());
  controlsContract(async () => {
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
