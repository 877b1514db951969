/**
 * The control policy: its hooks called directly (what each control does to a step), then through
 * the real agent loop on the embedded store (a withheld tool, a refused call the agent survives,
 * a pause flipped by another controls instance mid-run that stops the run at its next step).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { openStore } from '../journal/open-store.js';
import { createPgClient } from '../journal/pg-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord } from '../journal/types.js';
import { createKeelMetrics } from '../metrics/keel-metrics.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { runAgent } from '../runtime/run-agent.js';
import type {
  ModelCallContext,
  ModelCallGrant,
  StepPolicy,
  ToolCallContext,
} from '../runtime/step-policy.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { parseSpendBreakers, parseToolPolicy } from './controls-config.js';
import { createControlPolicy } from './control-policy.js';
import { ALL_TENANTS, createControls, type Controls } from './controls.js';
import { createSpendBreakers } from './spend-breaker.js';
import { createToolPolicy } from './tool-policy.js';

let store: JournalStore;
let client: SqlClient;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
});
afterAll(() => store.close());

const opened: Controls[] = [];
const startControls = async (env: Record<string, string> = {}) => {
  const controls = createControls({ client, env });
  opened.push(controls);
  await controls.start();
  return controls;
};
afterEach(async () => {
  for (const controls of opened.splice(0)) {
    for (const control of controls.list())
      if (control.source === 'database') await controls.clear({ ...control, actor: 'test' });
    await controls.close();
  }
});

const weather = defineTool({
  name: 'weather',
  description: 'Forecast for a city.',
  input: z.object({ city: z.string() }),
  run: ({ city }) => ({ city, forecast: 'sun' }),
});
const sendEmail = defineTool({
  name: 'send_email',
  description: 'Sends an e-mail.',
  input: z.object({ to: z.string() }),
  run: () => 'sent',
});
const deleteTrip = defineTool({
  name: 'delete_trip',
  description: 'Deletes a booked trip.',
  input: z.object({ id: z.string() }),
  effect: 'destructive',
  needsApproval: false,
  run: () => 'deleted',
});
const agent = defineAgent({
  name: 'planner',
  instructions: 'Plan trips.',
  model: 'builtin:echo',
  tools: [weather, sendEmail, deleteTrip],
});
const run = { id: 'run_p1', tenantId: 'acme', agent: 'planner', createdBy: 'key_1' } as RunRecord;
const base = {
  run,
  agent,
  model: createScriptedModel({ replies: ['x'] }),
  signal: new AbortController().signal,
};
const stepContext = {
  ...base,
  seq: 1,
  modelCalls: 0,
  usage: { inputTokens: 0, outputTokens: 0 },
  costUsd: 0,
};
const request: ModelRequest = { messages: [], tools: agent.tools.map((tool) => tool.spec) };
const callContext: ModelCallContext = { ...stepContext, attempt: 1, request };
const toolContext = (tool: (typeof agent.tools)[number], args: unknown = {}): ToolCallContext => ({
  ...base,
  seq: 2,
  parentSeq: 1,
  tool,
  toolCallId: 'call_1',
  args,
});
const grantOf = async (policy: StepPolicy) => (await policy.reserveModelCall!(callContext)) as ModelCallGrant;
const audit = async () =>
  (await client.query<AuditRow>(`SELECT * FROM ${auditTable()} ORDER BY id`)).rows.map(toAuditRecord);

describe('control policy hooks', () => {
  it('stops a paused agent (or tenant) with reason paused, and a disabled agent with agent_disabled', async () => {
    const controls = await startControls();
    const policy = createControlPolicy({ controls });
    expect(policy.beforeModelStep!(stepContext)).toBeUndefined();
    await controls.set({
      tenantId: 'acme',
      kind: 'tenant_paused',
      target: 'acme',
      actor: 'key:ops',
      reason: 'bill',
    });
    expect(policy.beforeModelStep!(stepContext)).toMatchObject({
      stop: {
        reason: 'paused',
        error: { code: 'agent_paused', message: expect.stringMatching(/tenant is paused\): bill/) },
      },
    });
    await controls.set({
      tenantId: ALL_TENANTS,
      kind: 'agent_disabled',
      target: 'planner',
      actor: 'key:ops',
    });
    expect(policy.beforeModelStep!(stepContext)).toMatchObject({
      stop: { reason: 'error', error: { code: 'agent_disabled' } },
    });
  });

  it('withholds disabled and denied tools from the model and records them in the grant meta', async () => {
    const controls = await startControls({ KEEL_DISABLED_TOOLS: 'weather' });
    const toolPolicy = createToolPolicy({
      config: parseToolPolicy({ staging: { deny: ['send_email'] } }),
      environment: 'staging',
    });
    const grant = await grantOf(createControlPolicy({ controls, toolPolicy }));
    expect(grant.request?.tools?.map((tool) => tool.name)).toEqual(['delete_trip']);
    expect(grant.meta).toEqual({
      withheld: [
        { tool: 'weather', code: 'tool_disabled' },
        { tool: 'send_email', code: 'tool_not_allowed' },
      ],
    });
    // Nothing withheld: the request is left as it is.
    const open = await grantOf(createControlPolicy({ controls: await startControls() }));
    expect(open.request).toBeUndefined();
    expect(open.meta).toBeUndefined();
  });

  it('refuses a call to a disabled or denied tool with a result the agent can act on; counts and audits it', async () => {
    const controls = await startControls();
    const metrics = createKeelMetrics({ processMetrics: false });
    const policy = createControlPolicy({
      controls,
      toolPolicy: createToolPolicy({
        config: { production: { allow: ['weather'] } },
        environment: 'production',
      }),
      client,
      onToolRefused: (refusal) => metrics.toolRefused(refusal),
    });
    expect(await policy.beforeToolCall!(toolContext(weather))).toBeUndefined();
    await controls.set({
      tenantId: 'acme',
      kind: 'tool_disabled',
      target: 'weather',
      agent: 'planner',
      actor: 'key:ops',
      reason: 'weather API down',
    });
    expect(await policy.beforeToolCall!(toolContext(weather))).toMatchObject({
      refuse: {
        code: 'tool_disabled',
        message: expect.stringMatching(/weather API down.*carry on without it/),
      },
    });
    expect(await policy.beforeToolCall!(toolContext(sendEmail))).toMatchObject({
      refuse: { code: 'tool_not_allowed', details: { tool: 'send_email', environment: 'production' } },
    });
    const text = (await metrics.scrape()).text;
    expect(text).toContain('keel_tool_refusals_total{tool="weather",code="tool_disabled"} 1');
    expect(text).toContain('keel_tool_refusals_total{tool="send_email",code="tool_not_allowed"} 1');
    const refused = (await audit()).filter((row) => row.action === 'tool.refused');
    expect(refused.map((row) => [row.target, row.actor, (row.details as { code: string }).code])).toEqual([
      ['tool:weather', 'key:key_1', 'tool_disabled'],
      ['tool:send_email', 'key:key_1', 'tool_not_allowed'],
    ]);
  });

  it('audits destructive tool calls (outcome and an argument fingerprint, not the arguments), and only those', async () => {
    const policy = createControlPolicy({ controls: await startControls(), client });
    const before = (await audit()).length;
    await policy.afterToolCall!({ ...toolContext(weather), ok: true });
    await policy.afterToolCall!({
      ...toolContext(deleteTrip, { id: 'trip-9' }),
      ok: false,
      errorCode: 'tool_failed',
    });
    const rows = (await audit()).slice(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'tool.call',
      tenantId: 'acme',
      actor: 'key:key_1',
      target: 'tool:delete_trip',
      details: { run_id: 'run_p1', agent: 'planner', ok: false, error_code: 'tool_failed' },
    });
    expect(JSON.stringify(rows[0])).not.toContain('trip-9');
  });

  it('feeds each settled call’s cost to the spend breakers: the call that passes the threshold pauses the agent', async () => {
    const controls = await startControls();
    const breakers = createSpendBreakers({
      client,
      controls,
      rules: parseSpendBreakers([{ scope: 'agent', window: '1h', maxUsd: 0.05, target: 'planner' }]),
    });
    const policy = createControlPolicy({ controls, breakers });
    await (
      await grantOf(policy)
    ).settle!({ ok: true, costUsd: 0.03 });
    await (
      await grantOf(policy)
    ).settle!({ ok: false });
    expect(policy.beforeModelStep!(stepContext)).toBeUndefined();
    await (
      await grantOf(policy)
    ).settle!({ ok: true, costUsd: 0.03 });
    expect(policy.beforeModelStep!(stepContext)).toMatchObject({ stop: { reason: 'paused' } });
    await client.query(`DELETE FROM keel.spend_buckets`);
  });
});

describe('control policy in the agent loop', () => {
  it('a disabled tool is not offered; a call to it anyway is a failed tool step, and the run goes on', async () => {
    const controls = await startControls({ KEEL_DISABLED_TOOLS: 'weather' });
    const model = createScriptedModel({
      replies: [{ toolCalls: [{ name: 'weather', arguments: { city: 'Oslo' } }] }, 'Indoor plan: museums.'],
    });
    const planner = defineAgent({ name: 'planner-loop', instructions: 'Plan.', model, tools: [weather] });
    const result = await runAgent({
      store,
      agents: [planner],
      agent: planner.name,
      input: 'plan Oslo',
      logger: silentLogger,
      policies: [createControlPolicy({ controls })],
    });
    expect(result.stopReason).toBe('completed');
    expect(model.calls[0]!.tools ?? []).toEqual([]);
    const steps = await store.loadSteps(result.id);
    const toolStep = steps.find((step) => step.kind === 'tool');
    expect(toolStep).toMatchObject({ status: 'failed', error: { code: 'tool_disabled' } });
    expect(steps[0]!.meta).toMatchObject({ policy: { controls: { withheld: [{ tool: 'weather' }] } } });
  });

  it('a pause set through another controls instance mid-run stops the run at its next model step', async () => {
    const operator = await startControls();
    const worker = await startControls();
    const pauseTool = defineTool({
      name: 'book',
      description: 'Books.',
      input: z.object({}),
      async run() {
        await operator.set({
          tenantId: ALL_TENANTS,
          kind: 'agent_paused',
          target: 'pausable',
          actor: 'key:ops',
        });
        // The worker's instance learns of it by notification; wait until it has (no race in the test).
        await vi.waitFor(
          () => expect(worker.agentHold({ agent: 'pausable', tenantId: 'default' })).toBeDefined(),
          {
            timeout: 1_000,
            interval: 10,
          },
        );
        return 'booked';
      },
    });
    const model = createScriptedModel({
      replies: [{ toolCalls: [{ name: 'book', arguments: {} }] }, 'never'],
    });
    const pausable = defineAgent({ name: 'pausable', instructions: 'Book.', model, tools: [pauseTool] });
    const result = await runAgent({
      store,
      agents: [pausable],
      agent: pausable.name,
      input: 'go',
      logger: silentLogger,
      policies: [createControlPolicy({ controls: worker })],
    });
    expect(result.stopReason).toBe('paused');
    expect(result.error).toMatchObject({ code: 'agent_paused' });
    expect(model.calls).toHaveLength(1);
  });
});

describePostgres('control policy across processes on Postgres', (connectionString) => {
  it('a tool disabled and an agent paused through another client take effect at the running run’s next step', async () => {
    const schema = createTestSchemaName();
    const worker = await openStore({ databaseUrl: connectionString, schema });
    const operatorClient = createPgClient({ connectionString, max: 2 });
    const workerControls = createControls({ client: worker.client, schema, env: {} });
    const operatorControls = createControls({ client: operatorClient, schema, env: {} });
    try {
      await workerControls.start();
      await operatorControls.start();
      const flip = defineTool({
        name: 'flip',
        description: 'Flips the switches from the operator process.',
        input: z.object({}),
        async run() {
          await operatorControls.set({
            tenantId: ALL_TENANTS,
            kind: 'tool_disabled',
            target: 'weather',
            actor: 'key:ops',
          });
          await vi.waitFor(
            () =>
              expect(
                workerControls.toolDisabled({ tool: 'weather', agent: 'pg-planner', tenantId: 'default' }),
              ).toBeDefined(),
            { timeout: 1_000, interval: 10 },
          );
          return 'flipped';
        },
      });
      const pauseAfterWeather = defineTool({
        name: 'pause_me',
        description: 'Pauses the agent from the operator process.',
        input: z.object({}),
        async run() {
          await operatorControls.set({
            tenantId: ALL_TENANTS,
            kind: 'agent_paused',
            target: 'pg-planner',
            actor: 'key:ops',
          });
          await vi.waitFor(
            () =>
              expect(workerControls.agentHold({ agent: 'pg-planner', tenantId: 'default' })).toBeDefined(),
            { timeout: 1_000, interval: 10 },
          );
          return 'paused';
        },
      });
      const model = createScriptedModel({
        replies: [
          { toolCalls: [{ name: 'flip', arguments: {} }] },
          { toolCalls: [{ name: 'weather', arguments: { city: 'Oslo' } }] },
          { toolCalls: [{ name: 'pause_me', arguments: {} }] },
          'never',
        ],
      });
      const planner = defineAgent({
        name: 'pg-planner',
        instructions: 'Plan.',
        model,
        tools: [flip, weather, pauseAfterWeather],
      });
      const result = await runAgent({
        store: worker.store,
        agents: [planner],
        agent: planner.name,
        input: 'plan',
        logger: silentLogger,
        policies: [createControlPolicy({ controls: workerControls })],
      });
      expect(model.calls[0]!.tools?.map((tool) => tool.name)).toEqual(['flip', 'weather', 'pause_me']);
      expect(model.calls[1]!.tools?.map((tool) => tool.name)).toEqual(['flip', 'pause_me']);
      const steps = await worker.store.loadSteps(result.id);
      expect(steps.find((step) => step.kind === 'tool' && step.name === 'weather')).toMatchObject({
        status: 'failed',
        error: { code: 'tool_disabled' },
      });
      expect(result.stopReason).toBe('paused');
      expect(model.calls).toHaveLength(3);
    } finally {
      await workerControls.close();
      await operatorControls.close();
      await operatorClient.close();
      await worker.store.close();
      const admin = createPgClient({ connectionString, max: 1 });
      await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.close();
    }
  });
});
