import { resourceFromAttributes } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import type { RunRecord, StepRecord } from '../journal/types.js';
import { KEEL_ATTRIBUTES, stepSpans } from './journal-spans.js';

describe('guard step spans', () => {
  it('a guard step is a `guard {name}` span with its stage, action and reason, under the run', () => {
    const run = {
      id: 'run_1',
      agent: 'planner',
      tenantId: 't',
      attempts: 1,
      fence: 1,
    } as unknown as RunRecord;
    const step = {
      runId: 'run_1',
      seq: 4,
      parentSeq: 3,
      kind: 'guard',
      name: 'pii',
      inputHash: 'h',
      attempt: 1,
      status: 'completed',
      startedAt: new Date(1_000),
      endedAt: new Date(1_002),
      meta: { stage: 'tool_output', action: 'redact', reason: 'e-mail address' },
      usage: null,
      costUsd: null,
      outputRef: null,
      error: null,
      priorExecutions: [],
    } as unknown as StepRecord;
    const [span] = stepSpans(run, step, {
      resource: resourceFromAttributes({}),
      scope: { name: 'keel' },
      captureContent: false,
      parentSeq: 3,
    });
    expect(span?.name).toBe('guard pii');
    expect(span?.attributes).toMatchObject({
      [KEEL_ATTRIBUTES.guardName]: 'pii',
      [KEEL_ATTRIBUTES.guardStage]: 'tool_output',
      [KEEL_ATTRIBUTES.guardAction]: 'redact',
      [KEEL_ATTRIBUTES.guardReason]: 'e-mail address',
      [KEEL_ATTRIBUTES.stepParentSeq]: 3,
    });
  });
});
