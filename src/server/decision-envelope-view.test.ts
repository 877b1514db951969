import { describe, expect, it } from 'vitest';
import type { StepRecord } from '../journal/types.js';
import type { ModelResponse } from '../model/model.js';
import { modelStepOutcome } from '../runtime/model-step-outcome.js';
import { decisionEnvelopeView, guardVerdictsOf } from './decision-envelope-view.js';
import { decisionEnvelopeResponse } from './trace-schemas.js';

const model = { provider: 'openai', modelId: 'gpt-4o-mini', generate: never, stream: never };
function never(): never {
  throw new Error('not called');
}

const response: ModelResponse = {
  message: {
    role: 'assistant',
    content: 'I need both sums before answering.',
    toolCalls: [
      { id: 'call_a', name: 'add', arguments: '{"a":2,"b":3}' },
      { id: 'call_b', name: 'lookup', arguments: '{"city": "Lisb' },
    ],
  },
  finishReason: 'tool_calls',
  usage: { inputTokens: 10, outputTokens: 5, source: 'reported' },
  modelId: 'gpt-4o-mini-2024-07-18',
  gateway: { route: 'fast', deployment: 'primary', cached: false },
};

/** A model step as the agent loop journals it (meta from `modelStepOutcome`). */
function modelStep(answer: ModelResponse, overrides: Partial<StepRecord> = {}): StepRecord {
  const outcome = modelStepOutcome({
    model,
    request: { messages: [{ role: 'user', content: 'hi' }] },
    response: answer,
    promptVersion: 'code:abcdefabcdef',
  });
  return {
    runId: 'run_1',
    seq: 0,
    parentSeq: null,
    kind: 'model',
    name: 'openai:gpt-4o-mini',
    inputHash: 'h',
    status: 'completed',
    attempt: 1,
    startedAt: new Date(),
    endedAt: new Date(),
    usage: answer.usage,
    costUsd: 0,
    outputRef: 'run_1:0',
    error: null,
    meta: { provider: 'openai', model: 'gpt-4o-mini', tools: ['add', 'lookup'], ...outcome.meta },
    output: outcome.status === 'completed' ? outcome.output : undefined,
    priorExecutions: [],
    ...overrides,
  };
}

describe('decisionEnvelopeView', () => {
  it('joins the stored envelope with the arguments and stated reason from the payload', () => {
    const step = modelStep(response);
    // Stored compactly: names and ids, no arguments, no text.
    expect(step.meta?.envelope).toEqual({
      promptVersion: 'code:abcdefabcdef',
      deployment: 'primary',
      cached: false,
      toolCalls: [
        { id: 'call_a', name: 'add' },
        { id: 'call_b', name: 'lookup' },
      ],
      guards: [],
      retrievedContextIds: [],
    });
    const view = decisionEnvelopeView(step);
    expect(decisionEnvelopeResponse.parse(view)).toEqual(view);
    expect(view).toEqual({
      prompt_version: 'code:abcdefabcdef',
      provider: 'openai',
      model: 'gpt-4o-mini',
      deployment: 'primary',
      cached: false,
      tools_offered: ['add', 'lookup'],
      tool_calls: [
        { id: 'call_a', name: 'add', arguments: { a: 2, b: 3 } },
        // Arguments that are not JSON are shown as the model wrote them.
        { id: 'call_b', name: 'lookup', arguments: '{"city": "Lisb' },
      ],
      finish_reason: 'tool_calls',
      stated_reason: 'I need both sums before answering.',
      guards: [],
      retrieved_context_ids: [],
    });
  });

  it('has no stated reason for a final answer, and no arguments without the payload', () => {
    const final = modelStep({
      ...response,
      message: { role: 'assistant', content: 'The sum is 5.' },
      finishReason: 'stop',
      gateway: { route: 'fast', deployment: null, cached: true },
    });
    expect(decisionEnvelopeView(final)).toMatchObject({
      deployment: null,
      cached: true,
      tool_calls: [],
      stated_reason: null,
      finish_reason: 'stop',
    });
    const { output: _output, ...withoutPayload } = modelStep(response);
    expect(decisionEnvelopeView(withoutPayload)?.tool_calls).toEqual([
      { id: 'call_a', name: 'add', arguments: null },
      { id: 'call_b', name: 'lookup', arguments: null },
    ]);
  });

  it('reads an open step and a step journaled before envelopes; other kinds have none', () => {
    const open = modelStep(response, {
      status: 'started',
      output: undefined,
      meta: { provider: 'openai', model: 'gpt-4o-mini', tools: ['add'] },
    });
    expect(decisionEnvelopeView(open)).toEqual({
      prompt_version: null,
      provider: 'openai',
      model: 'gpt-4o-mini',
      deployment: null,
      cached: false,
      tools_offered: ['add'],
      tool_calls: [],
      finish_reason: null,
      stated_reason: null,
      guards: [],
      retrieved_context_ids: [],
    });
    const older = modelStep(response);
    delete older.meta?.envelope;
    expect(decisionEnvelopeView(older)?.tool_calls.map((call) => call.id)).toEqual(['call_a', 'call_b']);
    expect(decisionEnvelopeView({ ...older, kind: 'tool' })).toBeNull();
  });
});

describe('guard verdicts on a decision', () => {
  const step = (
    seq: number,
    kind: string,
    name: string,
    parentSeq: number | null,
    meta: Record<string, unknown> = {},
  ) => ({ seq, kind, name, parentSeq, meta }) as unknown as StepRecord;

  it('collects the guards of the answer and of the calls it chose, not those of another turn', () => {
    const steps = [
      step(0, 'guard', 'injection', null, { stage: 'input', action: 'allow', latencyMs: 0.2 }),
      step(1, 'model', 'openai:gpt-4o-mini', null),
      step(2, 'guard', 'pii', 3, { stage: 'tool_args', action: 'redact', reason: 'e-mail' }),
      step(3, 'tool', 'email', 1),
      step(4, 'guard', 'untrusted', 3, {
        stage: 'tool_output',
        action: 'warn',
        reason: 'instructions inside',
      }),
      step(5, 'model', 'openai:gpt-4o-mini', null),
      step(6, 'guard', 'schema', 5, { stage: 'output', action: 'retry' }),
    ];
    expect(guardVerdictsOf(1, steps)).toEqual([
      {
        seq: 2,
        guard: 'pii',
        stage: 'tool_args',
        action: 'redact',
        reason: 'e-mail',
        guarded_seq: 3,
        latency_ms: null,
      },
      {
        seq: 4,
        guard: 'untrusted',
        stage: 'tool_output',
        action: 'warn',
        reason: 'instructions inside',
        guarded_seq: 3,
        latency_ms: null,
      },
    ]);
    expect(guardVerdictsOf(5, steps).map((verdict) => verdict.guard)).toEqual(['schema']);
  });
});
