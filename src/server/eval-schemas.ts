/**
 * The eval API's bodies as zod schemas (`GET /v1/evals`, `/v1/evals/{id}`): the server parses the
 * list's query with them, tests check answers against them, `/openapi.json` documents them. The
 * shapes are `EvalView` and `EvalCaseView` (src/evals/eval-view.ts), which `keel eval --json` and
 * `keel evals show --json` print too, so a stored eval reads the same everywhere.
 */
import { z } from 'zod';
import type { EvalCaseView, EvalView } from '../evals/eval-view.js';
import { isStorableText } from './schemas.js';

const text = (max: number) =>
  z.string().min(1).max(max).refine(isStorableText, 'Contains a NUL character or an unpaired surrogate.');

/** `GET /v1/evals` query parameters. */
export const listEvalsQuery = z.object({
  agent: text(64).optional().describe('Only the evals of this agent.'),
  prompt_version: text(200).optional().describe('Only the evals of this prompt version.'),
  limit: z.coerce.number().int().min(1).max(200).optional().describe('Evals per page (default 50).'),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

const verdict = z.enum(['pass', 'fail', 'error']);

export const evalCaseResponse = z
  .object({
    id: z.string().describe("The case's id in the suite."),
    trial: z.number().describe('1-based.'),
    verdict: verdict.describe(
      '`error`: the run or a scorer could not be judged (counted apart from `fail`).',
    ),
    score: z.number(),
    run_id: z
      .string()
      .nullable()
      .describe('The run the case executed (`trigger: eval`); null when it could not start one.'),
    cost_usd: z.number().describe("The run's own cost."),
    judge_cost_usd: z.number().describe('What `llm_judge` scorers spent, apart from the run.'),
    latency_ms: z.number(),
    stop_reason: z.string().nullable(),
    tags: z.array(z.string()),
    scores: z.array(
      z.object({
        scorer: z.string(),
        pass: z.boolean(),
        score: z.number(),
        reason: z.string(),
        cost_usd: z.number().optional(),
        error: z.unknown().optional(),
      }),
    ),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .meta({ id: 'EvalCase' });

const evalFields = {
  id: z.string(),
  suite: z.string().describe("The suite's name, or its path when it has none."),
  agent: z.string(),
  prompt_version: z.string().nullable().describe('The prompt version the cases ran with.'),
  status: z
    .enum(['running', 'completed', 'interrupted', 'failed'])
    .describe('`interrupted` (Ctrl-C) keeps the cases that finished.'),
  trials: z.number(),
  concurrency: z.number(),
  case_count: z.number(),
  pass_rate: z.number().describe('passed / (passed + failed + errored); 0 until the eval ends.'),
  passed: z.number(),
  failed: z.number(),
  errored: z.number(),
  total: z.number().describe('Case trials that ended.'),
  cost_usd: z.number(),
  judge_cost_usd: z.number(),
  latency_ms: z.object({ mean: z.number(), p50: z.number(), p95: z.number() }),
  k: z.number().describe('Trials per case.'),
  pass_at_k: z.number(),
  pass_hat_k: z.number(),
  created_by: z.string().nullable(),
  created_at: z.string(),
  ended_at: z.string().nullable(),
  options: z.record(z.string(), z.unknown()).describe('What the eval was asked (`min_pass_rate`, ...).'),
};

/** An eval of the list: its figures, without its cases. */
export const evalSummaryResponse = z.object(evalFields).meta({ id: 'EvalSummary' });

/** `GET /v1/evals/{id}`: the eval with its cases, in suite order then trial. */
export const evalResponse = z
  .object({ ...evalFields, cases: z.array(evalCaseResponse) })
  .meta({ id: 'Eval' });

export const evalListResponse = z
  .object({
    data: z.array(evalSummaryResponse).describe('Newest first.'),
    next_cursor: z.string().nullable().describe('Older evals; null on the last page.'),
  })
  .meta({ id: 'EvalList' });

/** True when A and B are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// The schemas describe `evalView`'s output: a field added to one and not the other fails to compile.
true satisfies Same<z.infer<typeof evalSummaryResponse>, Omit<EvalView, 'cases'>>;
true satisfies Same<z.infer<typeof evalCaseResponse>, EvalCaseView>;
