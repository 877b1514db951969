/**
 * Budgets with `on_exhausted: 'approval'`, end to end with a real worker on PGlite and Postgres:
 * a run whose call does not fit suspends on a `budget:<id>` approval holding no worker; approving
 * raises the budget (audited) and the run makes the call; rejecting ends it with stop reason
 * `budget`.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createSqlJournalStore } from '../journal/sql-journal-store.js';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord } from '../journal/types.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel, ModelRequest } from '../model/model.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { defineAgent } from '../runtime/agent.js';
import { waitForRun } from '../runtime/run-agent.js';
import { createWorker, type Worker } from '../runtime/worker.js';
import { describeOnBothBackends, type ContractDatabase } from '../testing/sql-contract.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { budgetApprovalArgumentsSchema, decideApprovalWithExtension } from './budget-approval.js';
import { createBudgetPolicy } from './budget-policy.js';
import { createBudgetStore, type BudgetStore } from './budget-store.js';

/** A model priced as gpt-4o-mini that answers 40 output tokens (fewer when narrowed) and reports them. */
function pricedModel(): LanguageModel & { calls: ModelRequest[] } {
  const scripted = createScriptedModel({
    respond: (request) => ({
      text: 'planned',
      usage: {
        inputTokens: estimateRequestTokens(request),
        outputTokens: Math.min(40, request.maxOutputTokens ?? 40),
      },
    }),
  });
  return {
    provider: 'openai',
    modelId: 'gpt-4o-mini',
    calls: scripted.calls,
    generate: (request, options) => scripted.generate(request, options),
    stream: (request, options) => scripted.stream(request, options),
  };
}

function budgetApprovalContract(open: () => Promise<ContractDatabase>) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let store: JournalStore;
  let budgets: BudgetStore;
  let worker: Worker;
  let model: ReturnType<typeof pricedModel>;
  const startWorker = () => {
    const agent = defineAgent({ name: 'planner', instructions: 'Plan a trip.', model });
    const redacting = defineAgent({ name: 'private', instructions: 'Plan a trip.', model, redact: ['pii'] });
    worker = createWorker({
      store,
      agents: [agent, redacting],
      pollMs: 20,
      logger: silentLogger,
      policies: [createBudgetPolicy({ budgets, defaultMaxOutputTokens: 200 })],
    });
    worker.start();
  };
  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    store = createSqlJournalStore({ client, schema });
    budgets = createBudgetStore({ client, schema });
    model = pricedModel();
    startWorker();
  });
  afterEach(async () => {
    await worker.stop();
    await close();
  });

  const waitForStatus = async (runId: string, status: RunRecord['status']): Promise<RunRecord> => {
    for (let tries = 0; tries < 500; tries++) {
      const run = await store.getRun(runId);
      if (run?.status === status) return run;
      await sleep(20);
    }
    throw new Error(`run ${runId} never became ${status}: ${(await store.getRun(runId))?.status}`);
  };
  const journal = async (runId: string) =>
    (await store.loadSteps(runId)).map((step) => `${step.seq}:${step.kind}:${step.status}`);
  const audit = async () =>
    (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(toAuditRecord);
  /** A run of the `planner` under a token budget too small for its prompt. */
  const heldRun = async (limitTokens = 5) => {
    const budget = await budgets.create(
      'acme',
      { scope: 'agent', scopeId: 'planner', period: 'total', limitTokens, onExhausted: 'approval' },
      'key:admin',
    );
    const { run } = await store.createRun({ tenantId: 'acme', agent: 'planner', input: 'Lyon' });
    const waiting = await waitForStatus(run.id, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    return { budget, run: waiting, approval: approval! };
  };

  it('suspends a run the budget cannot afford on an approval naming it, holding no worker', async () => {
    const { budget, run, approval } = await heldRun();
    expect(run.leaseOwner).toBeNull();
    expect(worker.activeRunIds()).toEqual([]);
    expect(model.calls).toHaveLength(0);
    expect(approval).toMatchObject({ tool: `budget:${budget.id}`, stepSeq: 1, status: 'pending' });
    const args = budgetApprovalArgumentsSchema.parse(approval.arguments);
    expect(args.budget).toEqual({
      id: budget.id,
      scope: 'agent',
      scope_id: 'planner',
      period: 'total',
      limit_usd: null,
      limit_tokens: 5,
      spent_usd: 0,
      reserved_usd: 0,
      spent_tokens: 0,
      reserved_tokens: 0,
    });
    expect(args.needs).toMatchObject({ output_tokens: 200, model: 'openai:gpt-4o-mini' });
    expect(args.needs.tokens).toBe(args.needs.prompt_tokens + 200);
    expect(await journal(run.id)).toEqual(['0:model:failed', '1:approval:started']);
    // Nothing is held for the waiting run.
    expect((await budgets.get('acme', budget.id))!.usage.reservedTokens).toBe(0);
  });

  it('approving extends the budget by all the call needs (audited, by the approver) and the run finishes', async () => {
    const { budget, run, approval } = await heldRun();
    const needs = budgetApprovalArgumentsSchema.parse(approval.arguments).needs;
    const decided = await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: approval.id,
      tenantId: 'acme',
      decision: 'approve',
      decidedBy: 'key:ana',
    });
    expect(decided).toMatchObject({ status: 'approved', decidedBy: 'key:ana' });
    // The extension committed with the decision: it is there before the run resumes.
    const extended = (await budgets.get('acme', budget.id))!;
    expect(extended.limitTokens).toBe(5 + needs.tokens);
    const finished = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', stopReason: 'completed', output: 'planned' });
    // The held model step is replayed on resume, not reserved again; the call is made once.
    expect(model.calls).toHaveLength(1);
    expect(await journal(run.id)).toEqual(['0:model:failed', '1:approval:completed', '2:model:completed']);
    const rows = await audit();
    const extension = rows.find((row) => row.action === 'budget.extend');
    expect(extension).toMatchObject({
      tenantId: 'acme',
      actor: 'key:ana',
      target: `budget:${budget.id}`,
      before: { limit_tokens: 5, on_exhausted: 'approval' },
      after: { limit_tokens: 5 + needs.tokens, on_exhausted: 'approval' },
      details: { approval_id: approval.id, run_id: run.id },
    });
    expect(rows.find((row) => row.action === 'approval.decide')).toMatchObject({ actor: 'key:ana' });
    const usage = (await budgets.get('acme', budget.id))!.usage;
    expect(usage.reservedTokens).toBe(0);
    expect(usage.spentTokens).toBeGreaterThan(0);
  });

  it('two runs held on one budget, both approved with the default extension, both complete', async () => {
    const budget = await budgets.create(
      'acme',
      { scope: 'agent', scopeId: 'planner', period: 'total', limitTokens: 5, onExhausted: 'approval' },
      'key:admin',
    );
    const runs = await Promise.all(
      ['Lyon', 'Rome'].map(
        async (input) => (await store.createRun({ tenantId: 'acme', agent: 'planner', input })).run,
      ),
    );
    const approvals = [];
    for (const run of runs) {
      await waitForStatus(run.id, 'awaiting_approval');
      approvals.push((await store.listApprovals({ runId: run.id, status: 'pending' }))[0]!);
    }
    // Both decided before either run goes on: each approval must buy room for its own call.
    await worker.stop();
    for (const approval of approvals)
      await decideApprovalWithExtension({
        store,
        budgets,
        approvalId: approval.id,
        decision: 'approve',
        decidedBy: 'key:ana',
      });
    const needs = approvals.map((approval) => budgetApprovalArgumentsSchema.parse(approval.arguments).needs);
    expect((await budgets.get('acme', budget.id))!.limitTokens).toBe(5 + needs[0]!.tokens + needs[1]!.tokens);
    startWorker();
    for (const run of runs) {
      const finished = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
      expect(finished).toMatchObject({ status: 'completed', stopReason: 'completed' });
      expect(await journal(run.id)).toEqual(['0:model:failed', '1:approval:completed', '2:model:completed']);
    }
    expect(model.calls).toHaveLength(2);
  });

  it("a run-period budget: the extension reads the held run's counter and raises the limit of every run", async () => {
    const budget = await budgets.create(
      'acme',
      { scope: 'agent', scopeId: 'planner', period: 'run', limitTokens: 5, onExhausted: 'approval' },
      'key:admin',
    );
    const { run } = await store.createRun({ tenantId: 'acme', agent: 'planner', input: 'Lyon' });
    await waitForStatus(run.id, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(approval!.tool).toBe(`budget:${budget.id}`);
    const needs = budgetApprovalArgumentsSchema.parse(approval!.arguments).needs;
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'key:ana',
    });
    expect((await budgets.get('acme', budget.id))!.limitTokens).toBe(5 + needs.tokens);
    expect((await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 })).stopReason).toBe(
      'completed',
    );
    // The limit is one for every run of the scope: the next run gets the raised limit too.
    const { run: next } = await store.createRun({ tenantId: 'acme', agent: 'planner', input: 'Lyon' });
    expect((await waitForRun({ store, runId: next.id, tenantId: 'acme', pollMs: 20 })).stopReason).toBe(
      'completed',
    );

    // Over its limit (lowered since the run spent): the default adds the held run's overdraft, read
    // from that run's own counter, not another run's.
    const perRun = await budgets.create(
      'acme',
      { scope: 'agent', scopeId: 'other', period: 'run', limitTokens: 10_000, onExhausted: 'approval' },
      'key:admin',
    );
    const reservation = await budgets.reserve({
      tenantId: 'acme',
      agent: 'other',
      runId: 'run_spent',
      holder: 'run:run_spent#1',
      model: { provider: 'openai', modelId: 'gpt-4o-mini' },
      promptTokens: 100,
      maxOutputTokens: 200,
    });
    await budgets.settle(reservation.id, { tokens: 300 });
    await budgets.update('acme', perRun.id, { limitTokens: 100 }, 'key:admin');
    const extend = (runId: string) =>
      budgets.extend({
        tenantId: 'acme',
        budgetId: perRun.id,
        needs: { usd: 0, tokens: 50 },
        runId,
        actor: 'key:ana',
      });
    expect((await extend('run_spent'))!.after.limitTokens).toBe(100 + 50 + 200);
    expect((await extend('run_fresh'))!.after.limitTokens).toBe(350 + 50);
  });

  it('an extension too small for the call asks again; a dollar extension is added as given', async () => {
    const { budget, run, approval } = await heldRun();
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: approval.id,
      decision: 'approve',
      decidedBy: 'key:ana',
      extendTokens: 1,
    });
    expect((await budgets.get('acme', budget.id))!.limitTokens).toBe(6);
    // Still too small: the run reserves again, is held again, on a new approval step.
    for (let tries = 0; tries < 500; tries++) {
      if ((await store.listApprovals({ runId: run.id, status: 'pending' })).length > 0) break;
      await sleep(20);
    }
    const [again] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(again).toMatchObject({ tool: `budget:${budget.id}`, stepSeq: 3 });
    expect(budgetApprovalArgumentsSchema.parse(again!.arguments).budget.limit_tokens).toBe(6);
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: again!.id,
      decision: 'approve',
      decidedBy: 'key:bo',
      extendTokens: 10_000,
    });
    const finished = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
    expect(finished.stopReason).toBe('completed');
    expect(await journal(run.id)).toEqual([
      '0:model:failed',
      '1:approval:completed',
      '2:model:failed',
      '3:approval:completed',
      '4:model:completed',
    ]);

    // Dollars: a tiny dollar budget, extended by exactly what the approver gives.
    const dollars = await budgets.create(
      'acme',
      { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 0.000001, onExhausted: 'approval' },
      'key:admin',
    );
    const { run: second } = await store.createRun({ tenantId: 'acme', agent: 'planner', input: 'Rome' });
    await waitForStatus(second.id, 'awaiting_approval');
    const [held] = await store.listApprovals({ runId: second.id, status: 'pending' });
    expect(held!.tool).toBe(`budget:${dollars.id}`);
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: held!.id,
      decision: 'approve',
      decidedBy: 'key:ana',
      extendUsd: 0.5,
    });
    expect((await budgets.get('acme', dollars.id))!.limitUsd).toBeCloseTo(0.500001, 12);
    expect((await waitForRun({ store, runId: second.id, tenantId: 'acme', pollMs: 20 })).stopReason).toBe(
      'completed',
    );
  });

  it('rejecting ends the run with stop reason budget, naming the budget; the limit is left alone', async () => {
    const { budget, run, approval } = await heldRun();
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: approval.id,
      decision: 'reject',
      reason: 'not this month',
      decidedBy: 'key:bo',
    });
    const finished = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
    expect(finished).toMatchObject({ status: 'failed', stopReason: 'budget' });
    expect(finished.error).toMatchObject({
      code: 'budget_exhausted',
      details: { budgetId: budget.id, approvalId: approval.id, approvalStatus: 'rejected' },
    });
    expect(finished.error!.message).toContain(budget.id);
    expect(finished.error!.message).toContain('rejected by key:bo: not this month');
    expect(model.calls).toHaveLength(0);
    expect((await budgets.get('acme', budget.id))!.limitTokens).toBe(5);
    expect((await audit()).some((row) => row.action === 'budget.extend')).toBe(false);
    expect(await journal(run.id)).toEqual(['0:model:failed', '1:approval:completed']);
  });

  it('refuses an extension it cannot apply (invalid_extension) and decides nothing', async () => {
    const { approval } = await heldRun();
    const attempt = (extra: { extendUsd?: number; decision?: 'approve' | 'reject' }) =>
      decideApprovalWithExtension({
        store,
        budgets,
        approvalId: approval.id,
        decision: extra.decision ?? 'approve',
        decidedBy: 'key:ana',
        ...(extra.extendUsd === undefined ? {} : { extendUsd: extra.extendUsd }),
      });
    // A token budget has no dollar limit to raise; a rejection extends nothing.
    await expect(attempt({ extendUsd: 1 })).rejects.toMatchObject({ code: 'invalid_extension' });
    await expect(attempt({ extendUsd: 1, decision: 'reject' })).rejects.toMatchObject({
      code: 'invalid_extension',
    });
    expect((await store.getApproval(approval.id))!.status).toBe('pending');
  });

  it('resumes the same way when the journal holds the request redacted (a user budget named by e-mail)', async () => {
    const budget = await budgets.create(
      'acme',
      { scope: 'user', scopeId: 'ana@example.com', period: 'day', limitTokens: 5, onExhausted: 'approval' },
      'key:admin',
    );
    const { run } = await store.createRun({
      tenantId: 'acme',
      agent: 'private',
      input: 'Lyon',
      userId: 'ana@example.com',
    });
    await waitForStatus(run.id, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(approval!.tool).toBe(`budget:${budget.id}`);
    const args = budgetApprovalArgumentsSchema.parse(approval!.arguments);
    expect(args.budget.scope_id).not.toContain('ana@example.com');
    await decideApprovalWithExtension({
      store,
      budgets,
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'key:ana',
    });
    const finished = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
    expect(finished.stopReason).toBe('completed');
    expect((await budgets.get('acme', budget.id))!.limitTokens).toBe(5 + args.needs.tokens);
  });

  it('keeps ending the run for a budget that says stop', async () => {
    await budgets.create(
      'acme',
      { scope: 'agent', scopeId: 'planner', period: 'total', limitTokens: 5 },
      'key:admin',
    );
    const { run } = await store.createRun({ tenantId: 'acme', agent: 'planner', input: 'Lyon' });
    const ended = await waitForRun({ store, runId: run.id, tenantId: 'acme', pollMs: 20 });
    expect(ended.stopReason).toBe('budget');
    expect(await store.listApprovals({ runId: run.id })).toEqual([]);
  });
}

describeOnBothBackends('budgets on_exhausted approval', budgetApprovalContract);
