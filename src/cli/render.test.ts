import { describe, expect, it } from 'vitest';
import type { RunView, StepView } from '../server/run-views.js';
import { renderEvent, renderRunDetail, renderRunTable, renderStep } from './render.js';

const waitingRun: RunView = {
  id: 'run_1',
  agent: 'assistant',
  status: 'waiting',
  stop_reason: null,
  input: 'Hello?',
  output: null,
  error: null,
  session_id: null,
  metadata: {},
  user_id: null,
  trigger: 'cli',
  created_by: null,
  prompt_version: 'code:0123456789ab',
  retry_of: null,
  retried_by: null,
  attempts: 1,
  waiting: {
    reason: 'gateway_unavailable',
    message: 'No deployment of model "shared" is available right now (upstream: breaker-open).',
    until: '2026-12-05T17:09:14.204Z',
    seq: 0,
    attempts: 2,
  },
  usage: { input_tokens: 0, output_tokens: 0 },
  cost_usd: 0,
  step_count: 0,
  created_at: '2026-12-05T17:08:40.000Z',
  started_at: '2026-12-05T17:08:40.100Z',
  ended_at: null,
};

const waitingStep: StepView = {
  seq: 0,
  parent_seq: null,
  kind: 'model',
  name: 'openai:gpt-4o-mini',
  status: 'started',
  attempt: 2,
  input_hash: 'h',
  started_at: '2026-12-05T17:08:40.200Z',
  ended_at: null,
  usage: null,
  usage_source: null,
  usage_invalid: null,
  cost_usd: null,
  error: null,
  meta: { attempts: 2 },
  output: undefined,
};

describe('rendering a run that waits for a provider', () => {
  it('keel runs shows why and until when', () => {
    const table = renderRunTable([waitingRun]);
    expect(table).toContain('waiting until 17:09:14 (gateway_unavailable)');
  });

  it('keel show shows the wait and the model step’s attempts', () => {
    const detail = renderRunDetail(waitingRun, [waitingStep]);
    expect(detail).toContain(
      'waiting   until 2026-12-05T17:09:14.204Z to retry step 0 (2 attempt(s) so far): gateway_unavailable: No deployment',
    );
    expect(detail).toMatch(/… model openai:gpt-4o-mini .*\(2 attempts\)/);
  });

  it('a live run prints its wait', () => {
    expect(
      renderEvent({
        type: 'run-wait',
        runId: 'run_1',
        reason: 'provider_http_429',
        until: '2026-12-05T17:09:14.204Z',
        seq: 0,
        attempts: 1,
      }),
    ).toBe(
      '… waiting until 2026-12-05T17:09:14.204Z to retry the model call (provider_http_429, 1 attempt(s) so far)\n',
    );
  });
});

describe('rendering a step whose usage Keel estimated', () => {
  const step: StepView = {
    seq: 0,
    parent_seq: null,
    kind: 'model',
    name: 'openai:gpt-4o',
    status: 'completed',
    attempt: 1,
    input_hash: 'abc',
    started_at: '2026-12-05T10:00:00.000Z',
    ended_at: '2026-12-05T10:00:00.250Z',
    usage: { input_tokens: 5_012, output_tokens: 9 },
    usage_source: 'reported',
    usage_invalid: null,
    cost_usd: 0.0126,
    error: null,
    meta: null,
    output: undefined,
  };

  it('marks the step', () => {
    expect(renderStep(step)).toBe('✓ model openai:gpt-4o  250 ms  5012→9 tok\n');
    expect(renderStep({ ...step, usage_source: 'estimated' })).toBe(
      '✓ model openai:gpt-4o  250 ms  5012→9 tok (estimated)\n',
    );
  });
});
