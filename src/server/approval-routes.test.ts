import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { budgetApprovalRequest } from '../budgets/budget-approval.js';
import { createBudgetPolicy } from '../budgets/budget-policy.js';
import { createBudgetStore } from '../budgets/budget-store.js';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import type { ApprovalRecord } from '../journal/types.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { createWorker } from '../runtime/worker.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import {
  approvalDecisionEventData,
  approvalListResponse,
  approvalRequestEventData,
  approvalResponse,
  errorResponse,
  runEndEventData,
  runResponse,
  stepEventData,
} from './schemas.js';

const executions: number[] = [];
const transfer = defineTool({
  name: 'transfer',
  description: 'Moves money.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  needsApproval: true,
  run: ({ amount }) => {
    executions.push(amount);
    return { done: amount };
  },
});
const payer = defineAgent({
  name: 'payer',
  instructions: 'Pay.',
  model: createScriptedModel({
    replies: [
      { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] },
      (request: ModelRequest) => `tool said: ${request.messages.at(-1)?.content ?? ''}`,
    ],
  }),
  tools: [transfer],
});

let app: TestServer;
let approvalsKey: string;
beforeAll(async () => {
  app = await startTestServer({
    agents: new Map([
      ['echo', defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' })],
      ['payer', payer],
    ]),
  });
  approvalsKey = await app.createKey('tenant-a', ['approvals']);
});
afterAll(() => app.close());

/** A run of `tenantId` suspended on one pending approval of a `transfer` call (no worker involved). */
async function pendingApproval(
  tenantId = 'tenant-a',
  ttlMs: number | null = null,
  request: { tool: string; arguments: unknown } = { tool: 'transfer', arguments: { amount: 7 } },
): Promise<ApprovalRecord> {
  const { run } = await app.store.createRun({ tenantId, agent: 'echo', input: 'pay' });
  const lease = await app.claim(run.id);
  const [approval] = await app.store.suspendForApproval(lease, {
    approvals: [
      {
        stepSeq: 0,
        tool: request.tool,
        arguments: request.arguments,
        ttlMs,
        step: {
          seq: 0,
          parentSeq: null,
          kind: 'approval',
          name: request.tool,
          inputHash: 'h',
          attempt: 1,
          startedAt: new Date(),
        },
      },
    ],
  });
  return approval!;
}

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

const decide = (id: string, body: unknown, key: string = app.keys.admin) =>
  app.call(`/v1/approvals/${encodeURIComponent(id)}`, { method: 'POST', body: JSON.stringify(body), key });

describe('/v1/approvals', () => {
  it('lists, filters and reads approvals with the approvals or admin scope', async () => {
    const approval = await pendingApproval();
    for (const key of [app.keys.admin, approvalsKey, app.keys.gatewayOnly]) {
      const list = await app.call(`/v1/approvals?run_id=${approval.runId}`, { key });
      expect(list.status).toBe(200);
      const body = approvalListResponse.parse(await list.json());
      expect(body.data).toHaveLength(1);
      expect(body.data[0]).toMatchObject({
        id: approval.id,
        run_id: approval.runId,
        step_seq: 0,
        kind: 'tool',
        tool: 'transfer',
        arguments: { amount: 7 },
        status: 'pending',
        decided_by: null,
        expires_at: null,
      });
    }
    const pending = approvalListResponse.parse(await (await app.call('/v1/approvals?status=pending')).json());
    expect(pending.data.map((entry) => entry.id)).toContain(approval.id);
    expect(pending.data.every((entry) => entry.status === 'pending')).toBe(true);
    const limited = approvalListResponse.parse(await (await app.call('/v1/approvals?limit=1')).json());
    expect(limited.data).toHaveLength(1);

    const one = await app.call(`/v1/approvals/${approval.id}`, { key: approvalsKey });
    expect(one.status).toBe(200);
    expect(approvalResponse.parse(await one.json())).toMatchObject({ id: approval.id, status: 'pending' });

    const run = runResponse.parse(await (await app.call(`/v1/runs/${approval.runId}`)).json());
    expect(run.status).toBe('awaiting_approval');
  });

  it('pages with a cursor: every approval once, newest first', async () => {
    const tenant = `tenant-pages-${Date.now()}`;
    const key = await app.createKey(tenant, ['approvals']);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await pendingApproval(tenant)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = approvalListResponse.parse(
        await (await app.call(`/v1/approvals?limit=2${query}`, { key })).json(),
      );
      seen.push(...page.data.map((approval) => approval.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...made].reverse());
    await expectError(await app.call('/v1/approvals?cursor=not-a-cursor', { key }), 400, 'invalid_cursor');
  });

  it('refuses keys without the scope (403), no key (401), bad queries and bodies (400), other methods (405)', async () => {
    const approval = await pendingApproval();
    await expectError(await app.call('/v1/approvals', { key: app.keys.reader }), 403, 'forbidden');
    await expectError(await app.call('/v1/approvals', { key: app.keys.writer }), 403, 'forbidden');
    await expectError(
      await app.call(`/v1/approvals/${approval.id}`, { key: app.keys.reader }),
      403,
      'forbidden',
    );
    await expectError(await decide(approval.id, { decision: 'approve' }, app.keys.writer), 403, 'forbidden');
    await expectError(await app.call('/v1/approvals', { key: null }), 401, 'unauthorized');
    await expectError(await app.call('/v1/approvals?status=maybe'), 400, 'invalid_request');
    await expectError(await app.call('/v1/approvals?limit=0'), 400, 'invalid_request');
    await expectError(await decide(approval.id, { decision: 'perhaps' }), 400, 'invalid_request');
    await expectError(await decide(approval.id, {}), 400, 'invalid_request');
    await expectError(await decide(approval.id, { decision: 'reject', reason: '' }), 400, 'invalid_request');
    const broken = await app.call(`/v1/approvals/${approval.id}`, { method: 'POST', body: '{' });
    await expectError(broken, 400, 'invalid_json');
    await expectError(
      await app.call('/v1/approvals', { method: 'POST', body: '{}' }),
      405,
      'method_not_allowed',
    );
    await expectError(
      await app.call(`/v1/approvals/${approval.id}`, { method: 'DELETE' }),
      405,
      'method_not_allowed',
    );
    await expectError(await app.call(`/v1/approvals/${approval.id}/x`), 404, 'not_found');
    expect((await app.store.getApproval(approval.id))?.status).toBe('pending');
  });

  it("answers 404 for unknown ids and for another tenant's approvals, and lists none of them", async () => {
    const theirs = await pendingApproval('tenant-b');
    const mine = await pendingApproval();
    await expectError(await app.call('/v1/approvals/apr_missing'), 404, 'approval_not_found');
    await expectError(await app.call('/v1/approvals/%E0%A4%A'), 404, 'approval_not_found');
    await expectError(await app.call('/v1/approvals/%00'), 404, 'approval_not_found');
    await expectError(await app.call(`/v1/approvals/${theirs.id}`), 404, 'approval_not_found');
    await expectError(await decide(theirs.id, { decision: 'approve' }), 404, 'approval_not_found');
    await expectError(
      await app.call(`/v1/approvals/${mine.id}`, { key: app.keys.otherTenant }),
      404,
      'approval_not_found',
    );
    const listed = approvalListResponse.parse(await (await app.call('/v1/approvals?limit=500')).json());
    expect(listed.data.map((entry) => entry.id)).not.toContain(theirs.id);
    const byRun = await app.call(`/v1/approvals?run_id=${theirs.runId}`);
    expect(approvalListResponse.parse(await byRun.json()).data).toEqual([]);
    expect((await app.store.getApproval(theirs.id))?.status).toBe('pending');
  });

  it('records the decision with the deciding key, repeats harmlessly, and refuses a different one (409)', async () => {
    const approval = await pendingApproval();
    const keyId = (await app.apiKeys.verify(app.keys.admin))!.id;
    const first = await decide(approval.id, { decision: 'approve' });
    expect(first.status).toBe(200);
    const decided = approvalResponse.parse(await first.json());
    expect(decided).toMatchObject({ status: 'approved', decided_by: `key:${keyId}`, reason: null });
    expect(decided.decided_at).not.toBeNull();
    // Deciding the run's last pending approval queues it for any worker.
    expect((await app.store.getRun(approval.runId))?.status).toBe('queued');

    const again = await decide(approval.id, { decision: 'approve' });
    expect(again.status).toBe(200);
    expect(approvalResponse.parse(await again.json())).toEqual(decided);
    await expectError(await decide(approval.id, { decision: 'reject' }), 409, 'approval_not_pending');
    // The same decision by another key is another person's: refused too.
    await expectError(
      await decide(approval.id, { decision: 'approve' }, approvalsKey),
      409,
      'approval_not_pending',
    );
  });

  it('rejects with a reason', async () => {
    const approval = await pendingApproval();
    const response = await decide(approval.id, { decision: 'reject', reason: 'too much' }, approvalsKey);
    expect(response.status).toBe(200);
    const keyId = (await app.apiKeys.verify(approvalsKey))!.id;
    expect(approvalResponse.parse(await response.json())).toMatchObject({
      status: 'rejected',
      reason: 'too much',
      decided_by: `key:${keyId}`,
    });
    expect(await app.store.getApproval(approval.id)).toMatchObject({
      status: 'rejected',
      reason: 'too much',
    });
  });

  it('answers 409 for expired and cancelled approvals', async () => {
    const expiring = await pendingApproval('tenant-a', 1);
    await sleep(20);
    await expectError(await decide(expiring.id, { decision: 'approve' }), 409, 'approval_not_pending');
    expect((await app.store.getApproval(expiring.id))?.status).toBe('expired');

    const cancelled = await pendingApproval();
    expect((await app.call(`/v1/runs/${cancelled.runId}/cancel`, { method: 'POST' })).status).toBe(202);
    await expectError(await decide(cancelled.id, { decision: 'approve' }), 409, 'approval_not_pending');
    const read = approvalResponse.parse(await (await app.call(`/v1/approvals/${cancelled.id}`)).json());
    expect(read.status).toBe('cancelled');
  });

  it('shows a budget extension as such; only an admin key decides it, raising the budget (extend_usd or the call), audited', async () => {
    const budgets = createBudgetStore({ client: app.client });
    const budget = await budgets.create(
      'tenant-a',
      { scope: 'agent', scopeId: 'echo', period: 'day', limitUsd: 0.001, onExhausted: 'approval' },
      'key:test',
    );
    const ask = () =>
      pendingApproval(
        'tenant-a',
        null,
        budgetApprovalRequest(
          {
            budgetId: budget.id,
            scope: 'agent',
            scopeId: 'echo',
            period: 'day',
            limitUsd: 0.001,
            limitTokens: null,
            spentUsd: 0.0009,
            reservedUsd: 0,
            spentTokens: 900,
            reservedTokens: 0,
          },
          { usd: 0.005, tokens: 1200, prompt_tokens: 200, output_tokens: 1000, model: 'openai:gpt-4o-mini' },
        ),
      );
    const approval = await ask();
    const listed = approvalListResponse.parse(
      await (await app.call(`/v1/approvals?run_id=${approval.runId}`)).json(),
    );
    expect(listed.data[0]).toMatchObject({
      kind: 'budget_extension',
      tool: `budget:${budget.id}`,
      arguments: {
        kind: 'budget_extension',
        budget: { id: budget.id, scope: 'agent', period: 'day', limit_usd: 0.001, spent_usd: 0.0009 },
        needs: { usd: 0.005, tokens: 1200 },
      },
    });

    // Bad amounts: 400 with a stable code, nothing decided.
    for (const extend_usd of [-1, 0, 'abc', null, 1e12])
      await expectError(
        await decide(approval.id, { decision: 'approve', extend_usd }),
        400,
        'invalid_request',
      );
    await expectError(
      await decide(approval.id, { decision: 'approve', extend_tokens: 1.5 }),
      400,
      'invalid_request',
    );
    await expectError(
      await decide(approval.id, { decision: 'approve', extend_tokens: 10 }),
      400,
      'invalid_extension',
    );
    await expectError(
      await decide(approval.id, { decision: 'reject', extend_usd: 1 }),
      400,
      'invalid_extension',
    );
    const tool = await pendingApproval();
    await expectError(
      await decide(tool.id, { decision: 'approve', extend_usd: 1 }),
      400,
      'invalid_extension',
    );
    expect((await app.store.getApproval(tool.id))?.status).toBe('pending');
    expect((await app.store.getApproval(approval.id))?.status).toBe('pending');

    // Deciding a budget extension changes a budget: the approvals scope alone is not enough.
    for (const body of [
      { decision: 'approve' },
      { decision: 'approve', extend_usd: 1e9 },
      { decision: 'reject' },
    ])
      await expectError(await decide(approval.id, body, approvalsKey), 403, 'forbidden');
    expect((await app.store.getApproval(approval.id))?.status).toBe('pending');
    expect((await budgets.get('tenant-a', budget.id))!.limitUsd).toBe(0.001);

    const keyId = (await app.apiKeys.verify(app.keys.admin))!.id;
    const approved = await decide(approval.id, { decision: 'approve', extend_usd: 2 });
    expect(approved.status).toBe(200);
    expect(approvalResponse.parse(await approved.json())).toMatchObject({
      kind: 'budget_extension',
      status: 'approved',
      decided_by: `key:${keyId}`,
    });
    expect((await budgets.get('tenant-a', budget.id))!.limitUsd).toBeCloseTo(2.001, 12);
    const audit = (
      await app.client.query<AuditRow>(
        `SELECT * FROM ${auditTable()} WHERE action = 'budget.extend' AND target = $1 ORDER BY id`,
        [`budget:${budget.id}`],
      )
    ).rows.map(toAuditRecord);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: `key:${keyId}`,
      before: { limit_usd: 0.001 },
      after: { limit_usd: 2.001 },
      details: { approval_id: approval.id, run_id: approval.runId },
    });

    // Without an amount: all the held call needs (0.005), whatever the budget has left now.
    await budgets.update('tenant-a', budget.id, { limitUsd: 0.001 }, 'key:test');
    const second = await ask();
    expect((await decide(second.id, { decision: 'approve' })).status).toBe(200);
    expect((await budgets.get('tenant-a', budget.id))!.limitUsd).toBeCloseTo(0.006, 12);
  });

  it('a run held by a budget is approved over the API (admin key) with extend_tokens and completes', async () => {
    const budgets = createBudgetStore({ client: app.client });
    const budget = await budgets.create(
      'tenant-a',
      { scope: 'user', scopeId: 'u-held', period: 'month', limitTokens: 1, onExhausted: 'approval' },
      'key:test',
    );
    const worker = createWorker({
      store: app.store,
      agents: [defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' })],
      pollMs: 20,
      logger: silentLogger,
      policies: [createBudgetPolicy({ budgets, defaultMaxOutputTokens: 100 })],
    });
    worker.start();
    try {
      const submitted = await app.call('/v1/runs', {
        method: 'POST',
        body: JSON.stringify({ agent: 'echo', input: 'hello', user_id: 'u-held' }),
        key: app.keys.writer,
      });
      expect(submitted.status).toBe(202);
      const { id: runId } = (await submitted.json()) as { id: string };
      let pending: z.infer<typeof approvalListResponse>['data'] = [];
      for (let i = 0; i < 250 && pending.length === 0; i++) {
        await sleep(20);
        pending = approvalListResponse.parse(
          await (
            await app.call(`/v1/approvals?status=pending&run_id=${runId}`, { key: approvalsKey })
          ).json(),
        ).data;
      }
      expect(pending[0]).toMatchObject({
        kind: 'budget_extension',
        tool: `budget:${budget.id}`,
        arguments: { budget: { id: budget.id, scope: 'user', scope_id: 'u-held', limit_tokens: 1 } },
      });
      expect(runResponse.parse(await (await app.call(`/v1/runs/${runId}`)).json()).status).toBe(
        'awaiting_approval',
      );
      const approved = await decide(pending[0]!.id, { decision: 'approve', extend_tokens: 10_000 });
      expect(approved.status).toBe(200);
      expect((await budgets.get('tenant-a', budget.id))!.limitTokens).toBe(10_001);
      let run = runResponse.parse(await (await app.call(`/v1/runs/${runId}`)).json());
      for (let i = 0; i < 250 && run.status !== 'completed'; i++) {
        await sleep(20);
        run = runResponse.parse(await (await app.call(`/v1/runs/${runId}`)).json());
      }
      expect(run).toMatchObject({ status: 'completed', stop_reason: 'completed' });
    } finally {
      await worker.stop();
    }
  });

  it('is in the OpenAPI document', async () => {
    const document = (await (await app.call('/openapi.json', { key: null })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(document.paths['/v1/approvals'] ?? {})).toEqual(['get']);
    expect(Object.keys(document.paths['/v1/approvals/{id}'] ?? {}).sort()).toEqual(['get', 'post']);
  });
});

interface ReceivedEvent {
  id: number;
  event: string;
  data: unknown;
}

/** Reads a run's event stream until it ends. */
async function readEvents(runId: string, lastEventId?: number): Promise<ReceivedEvent[]> {
  const response = await app.call(`/v1/runs/${runId}/events`, {
    headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) },
    signal: AbortSignal.timeout(20_000),
  });
  expect(response.status).toBe(200);
  const text = await response.text();
  return text
    .split('\n\n')
    .map((block) =>
      Object.fromEntries(
        block
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith(':'))
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      ),
    )
    .filter((fields: Record<string, string>) => fields.id !== undefined)
    .map((fields: Record<string, string>) => ({
      id: Number(fields.id),
      event: fields.event ?? '',
      data: JSON.parse(fields.data ?? 'null') as unknown,
    }));
}

describe('approval flow over the API', () => {
  it('a run pauses on approval, is approved over the API, completes, and its events tell the story', async () => {
    const worker = createWorker({
      store: app.store,
      agents: [payer],
      pollMs: 20,
      approvalSweepMs: 20,
      logger: silentLogger,
    });
    worker.start();
    try {
      const submitted = await app.call('/v1/runs', {
        method: 'POST',
        body: JSON.stringify({ agent: 'payer', input: 'pay 500' }),
        key: app.keys.writer,
      });
      expect(submitted.status).toBe(202);
      const { id: runId } = (await submitted.json()) as { id: string };
      // The stream is open across the pause: it must carry the decision as it happens.
      const live = readEvents(runId);

      let status = '';
      for (let i = 0; i < 250 && status !== 'awaiting_approval'; i++) {
        status = runResponse.parse(await (await app.call(`/v1/runs/${runId}`)).json()).status;
        if (status !== 'awaiting_approval') await sleep(20);
      }
      expect(status).toBe('awaiting_approval');
      expect(executions).toEqual([]);

      const listed = approvalListResponse.parse(
        await (await app.call(`/v1/approvals?status=pending&run_id=${runId}`, { key: approvalsKey })).json(),
      );
      expect(listed.data).toHaveLength(1);
      const approval = listed.data[0]!;
      expect(approval).toMatchObject({ tool: 'transfer', arguments: { amount: 500 }, step_seq: 1 });

      const decided = await decide(approval.id, { decision: 'approve', reason: 'ok' }, approvalsKey);
      expect(decided.status).toBe(200);

      const events = await live;
      const keyId = (await app.apiKeys.verify(approvalsKey))!.id;
      // Each step seq owns 2^20 event ids: start at the bottom, end at the top.
      const start = (seq: number) => seq * 2 ** 20;
      const end = (seq: number) => start(seq + 1) - 1;
      expect(events.map((event) => `${event.id}:${event.event}`)).toEqual([
        `${start(0)}:step-start`,
        `${end(0)}:step-end`,
        `${start(1)}:approval-request`,
        `${end(1)}:approval-decision`,
        `${start(2)}:step-start`,
        `${end(2)}:step-end`,
        `${start(3)}:step-start`,
        // The final answer's text, sent from its output (the model answered faster than a slice).
        `${end(3) - 1}:text-delta`,
        `${end(3)}:step-end`,
        `${start(4)}:run-end`,
      ]);
      const request = approvalRequestEventData.parse(events[2]!.data);
      expect(request).toMatchObject({ run_id: runId, seq: 1, approval_id: approval.id, tool: 'transfer' });
      expect(request.expires_at).toBeNull();
      const decision = approvalDecisionEventData.parse(events[3]!.data);
      expect(decision).toMatchObject({
        approval_id: approval.id,
        decision: 'approved',
        decided_by: `key:${keyId}`,
        reason: 'ok',
      });
      expect(stepEventData.parse(events[4]!.data)).toMatchObject({ kind: 'tool', name: 'transfer' });
      expect(runEndEventData.parse(events[9]!.data)).toMatchObject({ status: 'completed' });
      // Events carry summaries, never the call's arguments.
      expect(JSON.stringify(events)).not.toContain('amount');

      const run = runResponse.parse(await (await app.call(`/v1/runs/${runId}`)).json());
      expect(run).toMatchObject({ status: 'completed', output: 'tool said: {"done":500}' });
      expect(executions).toEqual([500]);

      // Resuming after the request continues with the decision; nothing is lost or repeated.
      const resumed = await readEvents(runId, start(1));
      expect(resumed.map((event) => event.id)).toEqual(events.slice(3).map((event) => event.id));
      expect(resumed[0]!.event).toBe('approval-decision');
    } finally {
      await worker.stop();
    }
  }, 30_000);
});
