import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord, StepRecord } from '../journal/types.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool, type ToolOptions } from '../tools/tool.js';
import { systemClock } from '../util/clock.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { defineAgent } from './agent.js';
import { DurableRun } from './durable-run.js';
import { waitForRun } from './run-agent.js';
import { createWorker, type Worker } from './worker.js';

/**
 * Effects whose outcome is unknown, in process: a first worker runs the tool's effect and then
 * hangs at the `after-tool-call` fault point without heartbeats (a worker that died between the
 * effect and the journal write); its lease expires and a second worker takes the run over.
 */

let store: JournalStore;
const workers: Worker[] = [];
const gates: (() => void)[] = [];
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  for (const open of gates) open();
  for (const worker of workers) await worker.stop();
  await store.close();
});

let counter = 0;
type TransferOptions = Partial<ToolOptions<z.ZodObject<{ amount: z.ZodNumber }>, unknown>>;

type Effect = { amount: number; key: string };

/**
 * An agent that asks for one `transfer` call, then answers with what the tool said. The tool's
 * options may depend on the effects it made and the keys `reconcile` was asked about.
 */
function setup(options: TransferOptions | ((effects: Effect[], reconciled: string[]) => TransferOptions)) {
  const effects: Effect[] = [];
  const reconciled: string[] = [];
  const toolOptions = typeof options === 'function' ? options(effects, reconciled) : options;
  const transfer = defineTool({
    name: 'transfer',
    description: 'Moves money.',
    input: z.object({ amount: z.number() }),
    effect: 'write',
    run: ({ amount }, ctx) => {
      effects.push({ amount, key: ctx.idempotencyKey });
      return { sent: amount };
    },
    ...toolOptions,
  } as ToolOptions<z.ZodObject<{ amount: z.ZodNumber }>, unknown>);
  const model = createScriptedModel({
    replies: [
      { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] },
      (request: ModelRequest) => `tool said: ${request.messages.at(-1)?.content ?? ''}`,
    ],
  });
  const agent = defineAgent({ name: `unknown-${++counter}`, instructions: 'x', model, tools: [transfer] });
  return { agent, effects, reconciled, model };
}

function startWorker(
  agent: ReturnType<typeof setup>['agent'],
  options: Partial<Parameters<typeof createWorker>[0]> = {},
) {
  const worker = createWorker({
    store,
    agents: [agent],
    pollMs: 20,
    approvalSweepMs: 20,
    logger: silentLogger,
    ...options,
  });
  workers.push(worker);
  worker.start();
  return worker;
}

/**
 * Runs the agent on a worker that hangs right after the tool's effect, never heartbeating; a
 * second worker takes the run over once the lease (300 ms) has expired.
 */
async function crashAfterEffect(agent: ReturnType<typeof setup>['agent']): Promise<string> {
  let effectDone!: () => void;
  const reached = new Promise<void>((resolve) => (effectDone = resolve));
  const gate = new Promise<void>((resolve) => gates.push(resolve));
  startWorker(agent, {
    // One slot, held by the hung run: this worker never claims the run again.
    concurrency: 1,
    leaseMs: 300,
    heartbeatMs: 600_000,
    faultHook: async (point) => {
      if (point !== 'after-tool-call') return;
      effectDone();
      await gate;
    },
  });
  const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
  await reached;
  const steps = await store.loadSteps(run.id);
  expect(steps.map((step) => `${step.seq}:${step.kind}:${step.status}`)).toEqual([
    '0:model:completed',
    '1:tool:started',
  ]);
  startWorker(agent);
  return run.id;
}

async function waitForStatus(runId: string, status: RunRecord['status']): Promise<RunRecord> {
  for (let i = 0; i < 1_000; i++) {
    const run = await store.getRun(runId);
    if (run?.status === status) return run;
    await sleep(20);
  }
  throw new Error(`run ${runId} never became ${status}: ${(await store.getRun(runId))?.status}`);
}

async function toolStep(runId: string): Promise<StepRecord> {
  const steps = await store.loadSteps(runId, { withOutputs: true });
  return steps.find((step) => step.kind === 'tool')!;
}

describe('effects whose outcome is unknown', () => {
  it('records what reconcile found and does not run the tool again', async () => {
    const { agent, effects, reconciled } = setup((made, asked) => ({
      reconcile: (_args, ctx) => {
        asked.push(ctx.idempotencyKey);
        const done = made.find((effect) => effect.key === ctx.idempotencyKey);
        return done ? { done: true, result: { sent: done.amount, reconciled: true } } : undefined;
      },
    }));
    const runId = await crashAfterEffect(agent);
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.output).toBe('tool said: {"reconciled":true,"sent":500}');
    expect(effects).toHaveLength(1);
    expect(reconciled).toEqual([`${runId}:1`]);
    const step = await toolStep(runId);
    expect(step).toMatchObject({ status: 'completed', output: { sent: 500, reconciled: true } });
    expect(step.meta).toMatchObject({ reconciled: true });
  });

  it('runs the tool again, with the same idempotency key, when reconcile says it did not happen', async () => {
    for (const answer of [undefined, { done: false as const }]) {
      const { agent, effects, reconciled } = setup((_made, asked) => ({
        reconcile: (_args, ctx) => {
          asked.push(ctx.idempotencyKey);
          return answer;
        },
      }));
      const runId = await crashAfterEffect(agent);
      const finished = await waitForRun({ store, runId, pollMs: 20 });
      expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"sent":500}' });
      expect(effects.map((effect) => effect.key)).toEqual([`${runId}:1`, `${runId}:1`]);
      expect(reconciled).toEqual([`${runId}:1`]);
      expect((await toolStep(runId)).meta?.reconciled).toBeUndefined();
    }
  });

  it('fails the step like a tool error when reconcile throws; the model sees it', async () => {
    const { agent, effects } = setup({
      reconcile: () => {
        throw new Error('ledger unreachable');
      },
    });
    const runId = await crashAfterEffect(agent);
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.output).toMatch(/tool_reconcile_failed/);
    expect(finished.output).toMatch(/ledger unreachable/);
    expect(effects).toHaveLength(1);
    const step = await toolStep(runId);
    expect(step.status).toBe('failed');
    expect(step.error?.code).toBe('tool_reconcile_failed');
  });

  it('never calls reconcile on the normal path', async () => {
    let calls = 0;
    const { agent, effects } = setup({
      reconcile: () => {
        calls++;
        return undefined;
      },
    });
    startWorker(agent);
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"sent":500}' });
    expect(effects).toHaveLength(1);
    expect(calls).toBe(0);
  });

  it('re-invokes a non-destructive tool without reconcile, as before', async () => {
    const { agent, effects } = setup({});
    const runId = await crashAfterEffect(agent);
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(effects).toHaveLength(2);
    expect(await store.listApprovals({ runId })).toEqual([]);
  });

  it('holds a destructive tool without reconcile for a person; approve runs it again', async () => {
    const { agent, effects, model } = setup({ effect: 'destructive', needsApproval: false });
    const runId = await crashAfterEffect(agent);
    const waiting = await waitForStatus(runId, 'awaiting_approval');
    expect(waiting.leaseOwner).toBeNull();
    const [approval] = await store.listApprovals({ runId, status: 'pending' });
    expect(approval).toMatchObject({
      tool: 'transfer',
      stepSeq: 1,
      arguments: { reason: 'unknown_outcome', idempotencyKey: `${runId}:1`, arguments: { amount: 500 } },
    });
    expect(effects).toHaveLength(1);
    await store.decideApproval({ approvalId: approval!.id, decision: 'approve', decidedBy: 'alice' });
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"sent":500}' });
    expect(effects.map((effect) => effect.key)).toEqual([`${runId}:1`, `${runId}:1`]);
    const step = await toolStep(runId);
    expect(step.status).toBe('completed');
    expect(step.meta).toMatchObject({ unknownOutcome: { approvalId: approval!.id, decision: 'approved' } });
    expect(model.calls).toHaveLength(2);
  });

  it('asks a destructive tool with reconcile, not a person', async () => {
    const { agent, effects } = setup((made) => ({
      effect: 'destructive',
      needsApproval: false,
      reconcile: (_args, ctx) => {
        const done = made.find((effect) => effect.key === ctx.idempotencyKey);
        return done ? { done: true, result: { sent: done.amount } } : undefined;
      },
    }));
    const runId = await crashAfterEffect(agent);
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"sent":500}' });
    expect(effects).toHaveLength(1);
    expect(await store.listApprovals({ runId })).toEqual([]);
    expect((await toolStep(runId)).meta).toMatchObject({ reconciled: true });
  });

  it('asks again after the approval the call itself needed, at the tool step, not the approval step', async () => {
    const { agent, effects } = setup({ effect: 'destructive' });
    const { run } = await store.createRun({ agent: agent.name, input: 'pay' });
    const hung = new Promise<void>((resolve) => gates.push(resolve));
    let effectDone!: () => void;
    const reached = new Promise<void>((resolve) => (effectDone = resolve));
    startWorker(agent, {
      concurrency: 1,
      leaseMs: 300,
      heartbeatMs: 600_000,
      faultHook: async (point) => {
        if (point !== 'after-tool-call') return;
        effectDone();
        await hung;
      },
    });
    await waitForStatus(run.id, 'awaiting_approval');
    const [first] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(first).toMatchObject({ stepSeq: 1, arguments: { amount: 500 } });
    await store.decideApproval({ approvalId: first!.id, decision: 'approve', decidedBy: 'alice' });
    await reached;
    startWorker(agent);
    await waitForStatus(run.id, 'awaiting_approval');
    const [second] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(second).toMatchObject({ stepSeq: 2, arguments: { reason: 'unknown_outcome' } });
    await store.decideApproval({ approvalId: second!.id, decision: 'approve', decidedBy: 'alice' });
    const finished = await waitForRun({ store, runId: run.id, pollMs: 20 });
    expect(finished).toMatchObject({ status: 'completed', output: 'tool said: {"sent":500}' });
    expect(effects.map((effect) => effect.key)).toEqual([`${run.id}:2`, `${run.id}:2`]);
  });

  it('holds a destructive tool without reconcile for a person; reject skips it and the model carries on', async () => {
    const { agent, effects } = setup({ effect: 'destructive', needsApproval: false });
    const runId = await crashAfterEffect(agent);
    await waitForStatus(runId, 'awaiting_approval');
    const [approval] = await store.listApprovals({ runId, status: 'pending' });
    await store.decideApproval({
      approvalId: approval!.id,
      decision: 'reject',
      reason: 'checked the bank: it went through',
      decidedBy: 'bob',
    });
    const finished = await waitForRun({ store, runId, pollMs: 20 });
    expect(finished.status).toBe('completed');
    expect(finished.output).toMatch(/tool_outcome_unknown/);
    expect(finished.output).toMatch(/checked the bank/);
    expect(effects).toHaveLength(1);
    const step = await toolStep(runId);
    expect(step.status).toBe('failed');
    expect(step.error?.code).toBe('tool_outcome_unknown');
    expect(step.meta).toMatchObject({ unknownOutcome: { approvalId: approval!.id, decision: 'rejected' } });
  });
});

describe('DurableRun.isUnknownOutcome', () => {
  const started = (seq: number, meta: Record<string, unknown> | null): StepRecord => ({
    runId: 'run_1',
    seq,
    parentSeq: null,
    kind: 'tool',
    name: 'transfer',
    inputHash: 'h',
    status: 'started',
    attempt: 1,
    startedAt: new Date(0),
    endedAt: null,
    meta,
    usage: null,
    costUsd: null,
    outputRef: null,
    error: null,
    priorExecutions: [],
  });

  it('is true for a step a crash left started, not for one released on purpose or finished', () => {
    const durable = new DurableRun({
      store: {} as JournalStore,
      run: { id: 'run_1' } as RunRecord,
      lease: { runId: 'run_1', owner: 'o', fence: 1 },
      clock: systemClock,
      steps: [
        started(0, { effect: 'write' }),
        started(1, { effect: 'write', released: true }),
        started(2, { waited: true }),
        { ...started(3, null), status: 'completed', endedAt: new Date(0) },
      ],
    });
    expect([0, 1, 2, 3, 4].map((seq) => durable.isUnknownOutcome(seq))).toEqual([
      true,
      false,
      false,
      false,
      false,
    ]);
  });
});
