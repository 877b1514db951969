import { expect, it } from 'vitest';
import type { StepView } from '../server/run-views.js';
import { renderStep } from './render.js';

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

it('marks a step whose usage Keel estimated', () => {
  expect(renderStep(step)).toBe('✓ model openai:gpt-4o  250 ms  5012→9 tok\n');
  expect(renderStep({ ...step, usage_source: 'estimated' })).toBe(
    '✓ model openai:gpt-4o  250 ms  5012→9 tok (estimated)\n',
  );
});
