import { serializeError, type SerializedError } from '../errors/keel-error.js';
import type { ScoreResult, ScorerContext } from './scorer.js';
import type { ScorerSpec } from './scorer-spec.js';
import { createScorer, type ScorerSources } from './scorers.js';
import type { EvalCase } from './suite.js';

/** One scorer's outcome on a case: its result, or the error it threw. */
export type ScorerOutcome =
  | ({ scorer: string; spec: ScorerSpec; error?: undefined } & ScoreResult)
  | {
      scorer: string;
      spec: ScorerSpec;
      error: SerializedError;
      pass: false;
      score: 0;
      reason: string;
      /** What a failed judge spent before giving up (`details.costUsd` of its error), apart from the run. */
      costUsd?: number;
    };

/** What scoring may use besides the built-in scorers: custom scorers and the LLM judge. */
export type ScoreCaseOptions = ScorerSources;

/** Whether an eval case passed. */
export type CaseVerdict = 'pass' | 'fail' | 'error';

/** The scores of one eval case. */
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
  const { costUsd } = candidate;
  if (costUsd !== undefined && !(typeof costUsd === 'number' && Number.isFinite(costUsd) && costUsd >= 0)) {
    throw new TypeError("a scorer's costUsd must be a finite number of at least 0");
  }
  return {
    pass: candidate.pass,
    score: candidate.score,
    reason: candidate.reason,
    ...(costUsd === undefined ? {} : { costUsd }),
  };
}

/** The cost a scorer's error reports (a judge's, in `details.costUsd`), if any. */
function costOfError(error: SerializedError): number | undefined {
  const costUsd = error.details?.costUsd;
  return typeof costUsd === 'number' && Number.isFinite(costUsd) && costUsd >= 0 ? costUsd : undefined;
}

/**
 * Runs every expectation of a case against one run, in the order the suite lists them. A scorer
 * that throws (or cannot be built, such as a custom name nobody supplied, or an `llm_judge` with
 * no `judge`) makes the case `error`, not `fail`: the run was not judged. What a judge spent is
 * on its outcome's `costUsd`, apart from the run's cost.
 */
export async function scoreCase(
  evalCase: EvalCase,
  context: ScorerContext,
  sources: ScoreCaseOptions = {},
): Promise<CaseScore> {
  const results: ScorerOutcome[] = [];
  for (const spec of evalCase.expect) {
    let name: string = spec.kind;
    try {
      const scorer = createScorer(spec, sources);
      name = scorer.name;
      const result = checkResult(await scorer.score(context));
      results.push({ scorer: name, spec, ...result });
    } catch (error) {
      const serialized = serializeError(error);
      const costUsd = costOfError(serialized);
      results.push({
        scorer: name,
        spec,
        error: serialized,
        pass: false,
        score: 0,
        reason: serialized.message,
        ...(costUsd === undefined ? {} : { costUsd }),
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
