import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord } from '../journal/types.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool, type ToolOptions } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { defineAgent } from './agent.js';
import type { RunEvent } from './run-events.js';
import { waitForRun } from './run-agent.js';
import { createWorker, type Worker } from './worker.js';

let store: JournalStore;
const workers: Worker[] = [];
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await store.close();
});

let counter = 0;
/** An agent that asks for one `transfer` call, then answers with what the tool said. */
function setup(toolOptions: Partial<ToolOptions<z.ZodType, unknown>>, amount = 500) {
  const executions: number[] = [];
  const transfer = defineTool({
    name: 'transfer',
    description: 'Moves money.',
    input: z.object({ amount: z.number() }),
    effect: 'write',
    run: ({ amount: value }) => {
      executions.push(value);
      return { done: value };
    },
    ...toolOptions,
  } as ToolOptions<z.ZodObject<{ amount: z.ZodNumber }>, unknown>);
  const model = createScriptedModel({
    replies: [
      { toolCalls: [{ name: 'transfer', arguments: { amount } }] },
      (request: ModelRequest) => `tool said: ${request.messages.at(-1)?.content ?? ''}`,
    ],
  });
  const agent = defineAgent({ name: `approver-${++counter}`, instructions: 'x', model, tools: [transfer] });
  const events: RunEvent[] = [];
  const worker = createWorker({
    store,
    agents: [agent],
    pollMs: 20,
    approvalSweepMs: 20,
    logger: silentLogger,
    onEvent: (event) => events.push(event),
  });
  workers.push(worker);
  worker.start();
  return { agent, worker, executions, events, model };
}

async function waitForStatus(runId: string, status: RunRecord['status']): Promise<RunRecord> {
  for (let i = 0; i < 400; i++) {
    const run = await store.getRun(runId);
    if (run?.status === status) return run;
    await sleep(20);
  }
  throw new Error(`run ${runId} never became ${status}: ${(await store.getRun(runId))?.status}`);
}

describe('human approvals', () => {
  it('suspends without holding a worker, and runs the tool once after approval', async () => {
    const { agent, worker, executions, events } = setup({ needsApproval: true });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    const waiting = await waitForStatus(run.id, 'awaiting_approval');
    expect(waiting.leaseOwner).toBeNull();
    await sleep(100);
    expect(worker.activeRunIds()).toEqual([]);
    expect(executions).toEqual([]);

    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(approval).toMatchObject({
      tool: 'transfer',
      arguments: { amount: 500 },
      stepSeq: 1,
      status: 'pending',
    });
    const steps = await store.loadSteps(run.id);
    expect(steps.map((step) => `${step.seq}:${step.kind}:${step.name}:${step.status}`)).toEqual([
      '0:model:builtin:scripted:completed',
      '1:approval:transfer:started',
    ]);

    const decided = await store.decideApproval({
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'alice',
    });
    expect(decided).toMatchObject({ status: 'approved', decidedBy: 'alice' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"done":500}' });
    expect(executions).toEqual([500]);
    const after = await store.loadSteps(run.id, { withOutputs: true });
    expect(after.map((step) => `${step.seq}:${step.kind}:${step.status}`)).toEqual([
      '0:model:completed',
      '1:approval:completed',
      '2:tool:completed',
      '3:model:completed',
    ]);
    // The approval and the call it gated both hang under the model step that asked for the call.
    expect(after.map((step) => step.parentSeq)).toEqual([null, 0, 0, null]);
    expect(after[1]!.output).toMatchObject({ status: 'approved', decidedBy: 'alice' });
    const types = events.filter((event) => event.runId === run.id).map((event) => event.type);
    expect(types).toContain('approval-request');
    expect(types).toContain('run-suspend');
    expect(types).toContain('approval-decision');
    expect(types.filter((type) => type === 'run-end')).toHaveLength(1);
  });

  it('sends a rejection back to the model by default', async () => {
    const { agent, executions } = setup({ needsApproval: true });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    await waitForStatus(run.id, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId: run.id });
    await store.decideApproval({
      approvalId: approval!.id,
      decision: 'reject',
      reason: 'too much',
      decidedBy: 'bob',
    });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.output).toMatch(/approval_rejected/);
    expect(finished.output).toMatch(/too much/);
    expect(executions).toEqual([]);
  });

  it('ends the run with stop reason rejected under onReject end_run', async () => {
    const { agent, executions, model } = setup({ needsApproval: true, onReject: 'end_run' });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    await waitForStatus(run.id, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId: run.id });
    await store.decideApproval({ approvalId: approval!.id, decision: 'reject', decidedBy: 'bob' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'failed', stopReason: 'rejected' });
    expect(finished.error?.code).toBe('approval_rejected');
    expect(executions).toEqual([]);
    expect(model.calls).toHaveLength(1);
  });

  it('asks only when the predicate on the arguments says so', async () => {
    const small = setup({ needsApproval: ({ amount }: { amount: number }) => amount > 1_000 }, 10);
    const { run } = await store.createRun({ agent: small.agent.name, input: 'pay' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(small.executions).toEqual([10]);
    expect(await store.listApprovals({ runId: run.id })).toEqual([]);

    const big = setup({ needsApproval: ({ amount }: { amount: number }) => amount > 1_000 }, 5_000);
    const { run: bigRun } = await store.createRun({ agent: big.agent.name, input: 'pay' });
    await waitForStatus(bigRun.id, 'awaiting_approval');
    expect(big.executions).toEqual([]);
    await store.requestCancel(bigRun.id);
    expect((await store.getRun(bigRun.id))?.status).toBe('cancelled');
    const [cancelled] = await store.listApprovals({ runId: bigRun.id });
    expect(cancelled?.status).toBe('cancelled');
  });

  it('expires an undecided approval and treats it as rejected', async () => {
    const { agent, executions } = setup({ needsApproval: true, approvalTtlMs: 150 });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    await waitForStatus(run.id, 'awaiting_approval');
    const [pending] = await store.listApprovals({ runId: run.id });
    expect(pending?.expiresAt).toBeInstanceOf(Date);
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.output).toMatch(/approval_expired/);
    expect(executions).toEqual([]);
    const expired = await store.getApproval(pending!.id);
    expect(expired).toMatchObject({ status: 'expired', reason: 'expired' });
    await expect(
      store.decideApproval({ approvalId: pending!.id, decision: 'approve', decidedBy: 'late' }),
    ).rejects.toMatchObject({ code: 'approval_not_pending' });
  });

  it('accepts a repeated decision, refuses a conflicting one, and does not count the wait in the deadline', async () => {
    const { agent, executions } = setup({ needsApproval: true });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    await waitForStatus(run.id, 'awaiting_approval');
    await sleep(200);
    const [approval] = await store.listApprovals({ runId: run.id });
    const first = await store.decideApproval({
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'alice',
    });
    const again = await store.decideApproval({
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'alice',
    });
    expect(again).toEqual(first);
    await expect(
      store.decideApproval({ approvalId: approval!.id, decision: 'reject', decidedBy: 'bob' }),
    ).rejects.toMatchObject({ code: 'approval_not_pending' });
    await expect(
      store.decideApproval({ approvalId: 'apr_missing', decision: 'reject', decidedBy: 'bob' }),
    ).rejects.toMatchObject({ code: 'approval_not_found' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.waitedMs).toBeGreaterThanOrEqual(150);
    expect(executions).toEqual([500]);
  });
});
