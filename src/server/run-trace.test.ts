import { describe, expect, it } from 'vitest';
import type { RunRecord, StepRecord } from '../journal/types.js';
import { buildRunTrace } from './run-trace.js';
import { traceResponse } from './trace-schemas.js';

const at = (seconds: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, seconds));

function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'run_1',
    tenantId: 'default',
    agent: 'planner',
    status: 'completed',
    stopReason: 'completed',
    input: 'x',
    output: 'y',
    error: null,
    sessionId: 'session-1',
    metadata: {},
    userId: 'user-1',
    trigger: 'api',
    createdBy: null,
    promptVersion: 'code:0123456789ab',
    retryOf: null,
    retriedBy: null,
    idempotencyKey: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    fence: 2,
    attempts: 2,
    cancelRequested: false,
    waitedMs: 0,
    wait: null,
    usage: { inputTokens: 300, outputTokens: 40 },
    costUsd: 0.5,
    stepCount: 4,
    agentVersion: null,
    versionChanges: [],
    createdAt: at(0),
    startedAt: at(1),
    endedAt: at(11),
    updatedAt: at(11),
    ...overrides,
  };
}

function step(seq: number, overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    runId: 'run_1',
    seq,
    parentSeq: null,
    kind: 'model',
    name: 'openai:gpt-4o-mini',
    inputHash: `hash-${seq}`,
    status: 'completed',
    attempt: 1,
    startedAt: at(seq + 1),
    endedAt: new Date(at(seq + 1).getTime() + 250),
    usage: { inputTokens: 100, outputTokens: 10 },
    costUsd: 0.1,
    outputRef: `run_1:${seq}`,
    error: null,
    meta: { provider: 'openai', model: 'gpt-4o-mini', tools: ['add'] },
    priorExecutions: [],
    ...overrides,
  };
}

const toolStep = (seq: number, overrides: Partial<StepRecord> = {}) =>
  step(seq, {
    kind: 'tool',
    name: 'add',
    parentSeq: 0,
    usage: null,
    costUsd: null,
    meta: { toolCallId: `call_${seq}`, effect: 'none' },
    ...overrides,
  });

describe('buildRunTrace', () => {
  it("maps a run and its DAG of steps to seed 003's names", () => {
    const steps = [
      step(0),
      toolStep(1),
      toolStep(2, {
        status: 'failed',
        error: { code: 'tool_failed', message: 'boom', fault: 'tool', retryable: false },
      }),
      step(3, { attempt: 3, meta: { provider: 'openai', model: 'gpt-4o', tools: ['add'] } }),
    ];
    const trace = buildRunTrace({ run: run(), steps, outcome: { status: 'committed' }, now: at(99) });
    expect(traceResponse.parse(trace)).toEqual(trace);
    expect(trace).toMatchObject({
      trace_id: 'run_1',
      user_id: 'user-1',
      session_id: 'session-1',
      agent: 'planner',
      model: 'gpt-4o-mini',
      prompt_version: 'code:0123456789ab',
      outcome: 'committed',
      status: 'completed',
      stop_reason: 'completed',
      // An ended run's totals are the run's own (what GET /v1/runs/{id} says).
      total_tokens_in: 300,
      total_tokens_out: 40,
      total_cost_usd: 0.5,
      duration_ms: 10_000,
      attempts: 2,
    });
    expect(
      trace.steps.map((entry) => [entry.seq, entry.parent_seq, entry.type, entry.name, entry.ok]),
    ).toEqual([
      [0, null, 'llm', 'openai:gpt-4o-mini', true],
      [1, 0, 'tool', 'add', true],
      [2, 0, 'tool', 'add', false],
      [3, null, 'llm', 'openai:gpt-4o-mini', true],
    ]);
    expect(trace.steps[0]).toEqual({
      seq: 0,
      parent_seq: null,
      type: 'llm',
      name: 'openai:gpt-4o-mini',
      model: 'gpt-4o-mini',
      tokens_in: 100,
      tokens_out: 10,
      cost_usd: 0.1,
      latency_ms: 250,
      ok: true,
      error_code: null,
      attempt: 1,
      execution: 1,
      executions: [{ attempt: 1, started_at: at(1).toISOString(), end: 'completed' }],
      started_at: at(1).toISOString(),
      verdict: null,
    });
    expect(trace.steps[1]).toMatchObject({ model: null, tokens_in: null, cost_usd: null });
    expect(trace.steps[2]).toMatchObject({ error_code: 'tool_failed', executions: [{ end: 'failed' }] });
    expect(trace.steps[3]).toMatchObject({ model: 'gpt-4o', attempt: 3, execution: 1 });
  });

  it('gives a guard step its verdict (stage, action, reason) under the step it checked', () => {
    const guarded = step(4, {
      kind: 'guard',
      name: 'pii',
      parentSeq: 1,
      meta: { stage: 'tool_output', action: 'redact', reason: 'an e-mail address' },
    });
    const [traced] = buildRunTrace({ run: run(), steps: [guarded], outcome: undefined, now: at(99) }).steps;
    expect(traced).toMatchObject({
      type: 'guard',
      parent_seq: 1,
      verdict: { stage: 'tool_output', action: 'redact', reason: 'an e-mail address' },
    });
  });

  it('shows each execution of a re-executed step, the current one last', () => {
    const reExecuted = step(0, {
      attempt: 3,
      startedAt: at(9),
      endedAt: at(10),
      priorExecutions: [
        { attempt: 1, startedAt: at(1), end: 'waited' },
        { attempt: 2, startedAt: at(5), end: 'abandoned' },
      ],
    });
    const [traced] = buildRunTrace({
      run: run(),
      steps: [reExecuted],
      outcome: undefined,
      now: at(99),
    }).steps;
    expect(traced).toMatchObject({
      attempt: 3,
      execution: 3,
      latency_ms: 1_000,
      started_at: at(9).toISOString(),
    });
    expect(traced?.executions).toEqual([
      { attempt: 1, started_at: at(1).toISOString(), end: 'waited' },
      { attempt: 2, started_at: at(5).toISOString(), end: 'abandoned' },
      { attempt: 3, started_at: at(9).toISOString(), end: 'completed' },
    ]);
  });

  it('serves a running run with its open steps, totals summed from its steps so far', () => {
    const running = run({
      status: 'running',
      stopReason: null,
      endedAt: null,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
    });
    const steps = [
      step(0),
      toolStep(1, { status: 'started', endedAt: null, outputRef: null }),
      // A figure that cannot be true counts as 0, as the agent loop counts it.
      toolStep(2, { usage: { inputTokens: -5, outputTokens: 2 }, costUsd: Number.NaN }),
    ];
    const trace = buildRunTrace({ run: running, steps, outcome: undefined, now: at(4) });
    expect(trace).toMatchObject({
      outcome: 'speculative',
      status: 'running',
      stop_reason: null,
      total_tokens_in: 100,
      total_tokens_out: 12,
      total_cost_usd: 0.1,
      duration_ms: 3_000,
    });
    expect(trace.steps[1]).toMatchObject({
      ok: null,
      latency_ms: null,
      executions: [{ attempt: 1, end: null }],
    });
  });

  it('has no model, duration or steps before the run started', () => {
    const queued = run({ status: 'queued', stopReason: null, startedAt: null, endedAt: null, attempts: 0 });
    expect(buildRunTrace({ run: queued, steps: [], outcome: undefined, now: at(5) })).toMatchObject({
      model: null,
      duration_ms: null,
      attempts: 0,
      steps: [],
      outcome: 'speculative',
    });
    const rejected = buildRunTrace({ run: run(), steps: [], outcome: { status: 'rejected' }, now: at(5) });
    expect(rejected.outcome).toBe('rejected');
  });

  it('builds the trace of 1,000 steps from the step rows alone', () => {
    const steps = Array.from({ length: 1_000 }, (_, seq) => (seq % 3 === 0 ? step(seq) : toolStep(seq)));
    const trace = buildRunTrace({ run: run(), steps, outcome: undefined, now: at(0) });
    expect(trace.steps).toHaveLength(1_000);
    expect(trace.steps.filter((entry) => entry.type === 'llm')).toHaveLength(334);
  });
});
