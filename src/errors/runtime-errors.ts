import { KeelError } from './keel-error.js';

/** Identity of a journal step as compared on replay. */
export interface StepIdentity {
  seq: number;
  kind: string;
  name: string;
  inputHash: string;
}

/**
 * On replay the agent code asked for a different step than the journal recorded at that position:
 * the code or its inputs changed under a run in flight. Both sides are named so the cause is clear.
 */
export class NondeterminismError extends KeelError {
  constructor(runId: string, recorded: StepIdentity, requested: StepIdentity) {
    super({
      code: 'nondeterminism',
      message:
        `Run ${runId}: replay diverged at step ${recorded.seq}: the journal recorded ` +
        `${recorded.kind} "${recorded.name}" (input ${recorded.inputHash.slice(0, 12)}), ` +
        `the code now asks for ${requested.kind} "${requested.name}" (input ${requested.inputHash.slice(0, 12)}).`,
      fault: 'system',
      details: { runId, recorded, requested },
    });
  }
}

/**
 * A tool failed (threw, timed out, or was given invalid arguments), its `reconcile` threw
 * (`tool_reconcile_failed`), or a person skipped a call whose outcome a crash left unknown
 * (`tool_outcome_unknown`). Sent back to the model.
 */
export class ToolError extends KeelError {
  constructor(
    code:
      | 'tool_failed'
      | 'tool_timeout'
      | 'tool_invalid_arguments'
      | 'tool_unknown'
      | 'tool_reconcile_failed'
      | 'tool_outcome_unknown',
    tool: string,
    message: string,
    cause?: unknown,
  ) {
    super({
      code,
      message,
      fault: code === 'tool_unknown' || code === 'tool_invalid_arguments' ? 'model' : 'tool',
      retryable: code === 'tool_failed' || code === 'tool_timeout',
      details: { tool },
      cause,
    });
  }
}

/** The run was cancelled while this work was in flight. */
export class RunCancelledError extends KeelError {
  constructor(runId: string) {
    super({
      code: 'run_cancelled',
      message: `Run ${runId} was cancelled.`,
      fault: 'caller',
      details: { runId },
    });
  }
}
