import { z } from 'zod';
import { checkMatcher } from './argument-matcher.js';

/**
 * The scorers a suite can name, each as `- <kind>: <options>` in a case's `expect` list. A
 * shorthand value (`contains: Paris`, `max_steps: 6`) stands for the main option.
 */
const text = z.union([z.string(), z.array(z.string()).min(1)]);

const matchers = z.record(z.string(), z.unknown()).superRefine((value, context) => {
  for (const [name, matcher] of Object.entries(value)) {
    const problem = checkMatcher(matcher);
    if (problem) context.addIssue({ code: 'custom', path: [name], message: problem });
  }
});

const toolStep = z.preprocess(
  (value) => (typeof value === 'string' ? { name: value } : value),
  z.strictObject({ name: z.string().min(1), arguments: matchers.optional() }),
);

function shorthand<T extends z.ZodType>(key: string, schema: T) {
  return z.preprocess(
    (value) =>
      typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { [key]: value },
    schema,
  );
}

const limit = () => shorthand('max', z.strictObject({ max: z.number().nonnegative() }));

export const SCORER_SPEC_SCHEMAS = {
  contains: shorthand('value', z.strictObject({ value: text, ignore_case: z.boolean().default(false) })),
  not_contains: shorthand('value', z.strictObject({ value: text, ignore_case: z.boolean().default(false) })),
  equals: shorthand(
    'value',
    z.strictObject({
      value: z.string(),
      ignore_case: z.boolean().default(false),
      trim: z.boolean().default(true),
    }),
  ),
  regex: shorthand(
    'pattern',
    z
      .strictObject({ pattern: z.string().min(1), flags: z.string().optional() })
      .superRefine(({ pattern, flags }, context) => {
        const problem = checkMatcher({ regex: pattern, flags });
        if (problem) context.addIssue({ code: 'custom', path: ['pattern'], message: problem });
      }),
  ),
  json_schema: z.strictObject({ schema: z.record(z.string(), z.unknown()) }),
  tool_called: shorthand(
    'name',
    z
      .strictObject({
        name: z.string().min(1),
        arguments: matchers.optional(),
        min: z.number().int().nonnegative().optional(),
        max: z.number().int().nonnegative().optional(),
      })
      .refine(({ min, max }) => max === undefined || min === undefined || max >= min, {
        path: ['max'],
        message: 'must be at least min',
      })
      // At least once by default; `max: 0` alone means "never called".
      .transform(({ min, ...rest }) => ({ ...rest, min: min ?? Math.min(1, rest.max ?? 1) })),
  ),
  trajectory: z.strictObject({
    mode: z.enum(['strict', 'unordered', 'subset', 'superset']).default('strict'),
    steps: z.array(toolStep),
  }),
  max_steps: limit(),
  max_cost_usd: limit(),
  max_latency_ms: limit(),
  stop_reason: shorthand('value', z.strictObject({ value: text })),
  custom: shorthand('name', z.strictObject({ name: z.string().min(1) })),
  llm_judge: shorthand('rubric', z.strictObject({ rubric: z.string().min(1), model: z.string().optional() })),
} as const;

/** One of `SCORER_KINDS`. */
export type ScorerKind = keyof typeof SCORER_SPEC_SCHEMAS;
/** The built-in scorer kinds a suite can name. */
export const SCORER_KINDS = Object.keys(SCORER_SPEC_SCHEMAS) as ScorerKind[];

/** A scorer as a suite declares it, validated and with defaults filled: `{ kind, ...options }`. */
export type ScorerSpec = {
  [K in ScorerKind]: { kind: K } & z.output<(typeof SCORER_SPEC_SCHEMAS)[K]>;
}[ScorerKind];

export function isScorerKind(value: string): value is ScorerKind {
  return Object.hasOwn(SCORER_SPEC_SCHEMAS, value);
}
