import { KeelError } from './keel-error.js';

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
