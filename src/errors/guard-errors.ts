import { isKeelError, KeelError, type Fault } from './keel-error.js';

/** Who is at fault when a guard blocks, by the stage it blocked at. */
const BLOCK_FAULT: Readonly<Record<string, Fault>> = {
  input: 'caller',
  tool_args: 'model',
  tool_output: 'tool',
  output: 'model',
};

/**
 * A guard blocked: the run ends with stop reason `guard_blocked` and this error, naming the guard,
 * the stage and the guard's reason.
 */
export class GuardBlockedError extends KeelError {
  constructor(guard: string, stage: string, reason: string, details: Record<string, unknown> = {}) {
    super({
      code: 'guard_blocked',
      message: `Guard "${guard}" blocked the ${stage.replace('_', ' ')}: ${reason}`,
      fault: BLOCK_FAULT[stage] ?? 'caller',
      details: { ...details, guard, stage, reason },
    });
  }
}

/**
 * A guard could not give a verdict: its check threw (`guard_failed`, with the cause's fault when
 * it is a Keel error) or returned something that is not a verdict for that stage
 * (`guard_invalid_verdict`, the guard's author's fault).
 */
export class GuardError extends KeelError {
  constructor(
    code: 'guard_failed' | 'guard_invalid_verdict',
    guard: string,
    stage: string,
    message: string,
    cause?: unknown,
  ) {
    super({
      code,
      message: `Guard "${guard}" at ${stage}: ${message}`,
      fault: code === 'guard_invalid_verdict' ? 'caller' : isKeelError(cause) ? cause.fault : 'system',
      retryable: code === 'guard_failed' && isKeelError(cause) ? cause.retryable : false,
      details: { guard, stage },
      cause,
    });
  }
}
