import { isKeelError, KeelError } from './keel-error.js';

/**
 * A suite file that cannot be used: bad YAML or JSON, a missing or wrong field, an unknown
 * scorer. `details` names the file, the 1-based line and the field path (`cases[2].expect[0]`).
 */
export class SuiteInvalidError extends KeelError {
  constructor({
    file,
    line,
    field,
    problem,
  }: {
    file: string;
    line: number;
    field: string;
    problem: string;
  }) {
    super({
      code: 'suite_invalid',
      message: `${file}:${line}: ${field ? `${field}: ` : ''}${problem}`,
      fault: 'caller',
      details: { file, line, field },
    });
  }
}

/** A scorer that cannot run: a bad definition, an unknown custom name, or one not available here. */
export class ScorerInvalidError extends KeelError {
  constructor(scorer: string, reason: string) {
    super({
      code: 'scorer_invalid',
      message: `Scorer "${scorer}" is invalid: ${reason}`,
      fault: 'caller',
      details: { scorer },
    });
  }
}

/** pass@k or pass^k asked with a k that the trials cannot estimate (k < 1, k > n, not whole). */
export class InvalidTrialCountError extends KeelError {
  constructor({ n, k }: { n: number; k: number }) {
    super({
      code: 'eval_invalid_k',
      message: `k must be a whole number from 1 to the number of trials (${n}); got ${k}.`,
      fault: 'caller',
      details: { n, k },
    });
  }
}

/**
 * An `llm_judge` that could not judge: its model failed (a provider error, a timeout), code
 * `judge_failed`, or never answered a readable verdict, code `judge_answer_invalid`. The case is
 * `error`, not `fail`: the run was not judged. `details.costUsd` is what the judge's calls cost
 * before it gave up, reported apart from the run. The answer itself is not kept (a payload).
 */
export class JudgeFailedError extends KeelError {
  constructor({
    model,
    problem,
    costUsd,
    unreadable = false,
    cause,
  }: {
    /** The judge model, `provider:model`. */
    model: string;
    problem: string;
    costUsd: number;
    /** True when the model answered, but no verdict could be read from it. */
    unreadable?: boolean;
    cause?: unknown;
  }) {
    const known = isKeelError(cause) ? cause : undefined;
    super({
      code: unreadable ? 'judge_answer_invalid' : 'judge_failed',
      message: `Judge ${model} ${problem}`,
      fault: known?.fault ?? 'model',
      retryable: known?.retryable ?? true,
      details: { model, costUsd, ...(known === undefined ? {} : { cause: known.code }) },
      cause,
    });
  }
}
