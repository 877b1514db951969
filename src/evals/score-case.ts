import { serializeError, type SerializedError } from '../errors/keel-error.js';
import type { ScoreResult, ScorerContext } from './scorer.js';
import type { ScorerSpec } from './scorer-spec.js';
import { createScorer, type ScorerRegistry } from './scorers.js';
import type { EvalCase } from './suite.js';

/** One scorer's outcome on a case: its result, or the error it threw. */
export type ScorerOutcome =
  | ({ scorer: string; spec: ScorerSpec; error?: undefined } & ScoreResult)
  | { scorer: string; spec: ScorerSpec; error: SerializedError; pass: false; score: 0; reason: string };

/** What scoring may use besides the built-in scorers. */
export interface ScoreCaseOptions {
  /** Custom scorers by name (`custom: <name>` in a suite). */
  scorers?: ScorerRegistry;
}

export type CaseVerdict = 'pass' | 'fail' | 'error';

export interface CaseScore {
  caseId: string;
  /** `error` when any scorer threw or returned nonsense: counted apart from `fail`. */
  verdict: CaseVerdict;
  /** Mean of the scorers' scores (errors count as 0). */
  score: number;
  results: ScorerOutcome[];
}

function checkResult(result: unknown): ScoreResult {
  const candidate = result as Partial<ScoreResult> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.pass !== 'boolean' ||
    typeof candidate.score !== 'number' ||
    !(candidate.score >= 0 && candidate.score <= 1) ||
    typeof candidate.reason !== 'string'
  ) {
    throw new TypeError('a scorer must return { pass: boolean, score: number from 0 to 1, reason: string }');
  }
  return { pass: candidate.pass, score: candidate.score, reason: candidate.reason };
}

/**
 * Runs every expectation of a case against one run, in the order the suite lists them. A scorer
 * that throws (or cannot be built, such as a custom name nobody supplied) makes the case
 * `error`, not `fail`: the run was not judged.
 */
export async function scoreCase(
  evalCase: EvalCase,
  context: ScorerContext,
  { scorers = {} }: ScoreCaseOptions = {},
): Promise<CaseScore> {
  const results: ScorerOutcome[] = [];
  for (const spec of evalCase.expect) {
    let name: string = spec.kind;
    try {
      const scorer = createScorer(spec, scorers);
      name = scorer.name;
      const result = checkResult(await scorer.score(context));
      results.push({ scorer: name, spec, ...result });
    } catch (error) {
      const serialized = serializeError(error);
      results.push({
        scorer: name,
        spec,
        error: serialized,
        pass: false,
        score: 0,
        reason: serialized.message,
      });
    }
  }
  const verdict: CaseVerdict = results.some((result) => result.error)
    ? 'error'
    : results.every((result) => result.pass)
      ? 'pass'
      : 'fail';
  const score = results.length ? results.reduce((sum, result) => sum + result.score, 0) / results.length : 0;
  return { caseId: evalCase.id, verdict, score, results };
}
