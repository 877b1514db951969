/**
 * The analytics API's contract (`GET /v1/analytics/summary` and `/compare`): query strings and
 * answers as zod schemas, used by the routes, the CLI's `keel stats` (the same validation of its
 * flags), the tests and `/openapi.json`. docs/observability.md defines every figure.
 */
import { z } from 'zod';
import {
  DEFAULT_ABANDONED_AFTER_DAYS,
  DEFAULT_WINDOW_DAYS,
  GROUP_BY,
  MAX_WINDOW_DAYS,
} from '../analytics/analytics-query.js';
import { isStorableText } from './schemas.js';

const text = (max: number) =>
  z.string().min(1).max(max).refine(isStorableText, 'Contains a NUL character or an unpaired surrogate.');
const instant = () => z.iso.datetime({ offset: true });
const abandonedAfterDays = z.coerce
  .number()
  .int()
  .min(1)
  .max(365)
  .optional()
  .describe(
    `Days after its end a run without an outcome counts as abandoned (default ${DEFAULT_ABANDONED_AFTER_DAYS}).`,
  );
const tenant = text(64)
  .optional()
  .describe("A tenant: the key's own (default), or any with the `operator` scope (default: every tenant).");

/** `GET /v1/analytics/summary`. */
export const summaryQuery = z.object({
  from: instant()
    .optional()
    .describe(`Start of the window, inclusive (default: \`to\` − ${DEFAULT_WINDOW_DAYS} days).`),
  to: instant()
    .optional()
    .describe(`End of the window, exclusive (default: now); at most ${MAX_WINDOW_DAYS} days after \`from\`.`),
  agent: text(64).optional(),
  tenant,
  group_by: z.enum(GROUP_BY).optional(),
  abandoned_after_days: abandonedAfterDays,
});

/** `GET /v1/analytics/compare`: `a_from`, `a_to`, `b_from`, `b_to`, or `agent`, `a_version`, `b_version`. */
export const compareQuery = z.object({
  a_from: instant().optional(),
  a_to: instant().optional(),
  b_from: instant().optional(),
  b_to: instant().optional(),
  a_version: text(200).optional().describe('Prompt version of sample A (with `agent` and `b_version`).'),
  b_version: text(200).optional(),
  from: instant().optional().describe('Window of a comparison of versions (default: the last 7 days).'),
  to: instant().optional(),
  agent: text(64).optional(),
  tenant,
  abandoned_after_days: abandonedAfterDays,
});

const toolErrorRate = z.object({ calls: z.number(), errors: z.number(), rate: z.number() });
const loopBucket = z.object({
  bucket: z.string(),
  min: z.number(),
  max: z.number().nullable(),
  runs: z.number(),
});
const hiddenRecompute = z.object({
  total_usd: z.number(),
  crash_reexecution_usd: z.number(),
  crash_reexecutions: z.number(),
  retried_attempts_usd: z.number(),
  retried_attempts: z.number(),
  abandoned_runs_usd: z.number(),
  abandoned_runs: z.number(),
  abandoned_after_days: z.number(),
});

/** The figures of a set of runs. */
export const analyticsFigures = z.object({
  runs: z.number(),
  ended_runs: z.number(),
  successful_runs: z.number(),
  success_rate: z.number().nullable(),
  p50_duration_ms: z.number().nullable(),
  p95_duration_ms: z.number().nullable(),
  p99_duration_ms: z.number().nullable(),
  cost_usd: z.number(),
  cost_per_run_usd: z.number().nullable(),
  cost_per_successful_run_usd: z.number().nullable(),
  cost_per_committed_outcome_usd: z.number().nullable(),
  outcomes: z.object({ committed: z.number(), rejected: z.number(), speculative: z.number() }),
  stop_reasons: z.record(z.string(), z.number()),
  tool_error_rate: z.record(z.string(), toolErrorRate),
  loop_histogram: z.array(loopBucket),
  hidden_recompute_usd: hiddenRecompute,
  feedback: z.object({
    thumbs_up: z.number(),
    thumbs_down: z.number(),
    mean_score: z.number().nullable(),
    scores: z.number(),
    count: z.number(),
  }),
});

const summaryScope = z.object({
  from: z.string(),
  to: z.string(),
  tenant: z.string().nullable().describe('null: every tenant.'),
  agent: z.string().nullable(),
  prompt_version: z.string().nullable(),
  group_by: z.enum(GROUP_BY).nullable(),
  abandoned_after_days: z.number(),
});

const gatewayFigures = z.object({
  calls: z.number(),
  errors: z.number(),
  cost_usd: z.number(),
  by_key: z.array(
    z.object({
      tenant_id: z.string().nullable(),
      key_id: z.string().nullable(),
      calls: z.number(),
      errors: z.number(),
      cost_usd: z.number(),
      input_tokens: z.number(),
      output_tokens: z.number(),
    }),
  ),
  by_key_truncated: z.boolean(),
  by_user: z
    .array(
      z.object({
        tenant_id: z.string().nullable(),
        user_id: z.string().nullable(),
        calls: z.number(),
        errors: z.number(),
        cost_usd: z.number(),
        input_tokens: z.number(),
        output_tokens: z.number(),
        sessions: z.number(),
      }),
    )
    .describe('By the end user (developer) each call was attributed to; user_id null: calls naming none.'),
  by_user_truncated: z.boolean(),
});

/** `GET /v1/analytics/summary`: the figures at the top level, or per group in `groups[]`. */
export const summaryResponse = summaryScope
  .extend({
    ...analyticsFigures.partial().shape,
    groups: z
      .array(analyticsFigures.extend({ key: z.string().nullable() }))
      .optional()
      .describe('With `group_by`: one entry per key, most runs first (days and hours in order).'),
    groups_truncated: z.boolean().optional(),
    gateway: gatewayFigures.describe('Gateway calls made outside runs, by tenant and API key, and by user.'),
  })
  .meta({ id: 'AnalyticsSummary' });

const testResult = z.object({
  test: z.enum(['two_proportion_z', 'mann_whitney_u']),
  statistic: z.number(),
  z: z.number(),
  p_value: z.number(),
  significant: z.boolean(),
  n_a: z.number(),
  n_b: z.number(),
});
const figureChange = z.object({
  a: z.number().nullable(),
  b: z.number().nullable(),
  difference: z.number().nullable(),
  changed: z.boolean(),
  test: testResult.nullable(),
});

/** `GET /v1/analytics/compare`. */
export const compareResponse = z
  .object({
    mode: z.enum(['windows', 'versions']),
    alpha: z.number(),
    a: summaryScope.extend(analyticsFigures.shape),
    b: summaryScope.extend(analyticsFigures.shape),
    changes: z.object({
      success_rate: figureChange,
      tool_error_rate: figureChange,
      tool_error_rate_by_tool: z.record(z.string(), figureChange),
      cost_per_run_usd: figureChange,
      steps_per_run: figureChange,
      model_calls_per_run: figureChange,
      duration_ms: figureChange,
    }),
  })
  .meta({ id: 'AnalyticsComparison' });
