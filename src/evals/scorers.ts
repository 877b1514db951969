import { z } from 'zod';
import { ScorerInvalidError } from '../errors/eval-errors.js';
import type { ScoreResult, Scorer, ScorerContext } from './scorer.js';
import type { LlmJudge } from './llm-judge.js';
import type { ScorerSpec } from './scorer-spec.js';
import { createToolCalledScorer, createTrajectoryScorer } from './trajectory.js';

/** Custom scorers by name, as `defineScorer` made them; a suite refers to them with `custom: name`. */
export type ScorerRegistry = ReadonlyMap<string, Scorer> | Readonly<Record<string, Scorer>>;

function verdict(pass: boolean, reason: string, score = pass ? 1 : 0): ScoreResult {
  return { pass, score, reason };
}

function listOf(value: string | readonly string[]): readonly string[] {
  return typeof value === 'string' ? [value] : value;
}

function fold(text: string, ignoreCase: boolean): string {
  return ignoreCase ? text.toLowerCase() : text;
}

function scorer(name: string, score: (context: ScorerContext) => ScoreResult): Scorer {
  return { name, score };
}

/** Models often wrap JSON in a Markdown fence; the content of a lone fenced block counts. */
function withoutCodeFence(text: string): string {
  return /^\s*```[a-zA-Z]*\n([\s\S]*?)\n```\s*$/.exec(text)?.[1] ?? text;
}

function limitScorer(
  name: string,
  max: number,
  measure: (context: ScorerContext) => number,
  unit: string,
): Scorer {
  return scorer(name, (context) => {
    const value = measure(context);
    return verdict(value <= max, `${value}${unit} ${value <= max ? '<=' : '>'} ${max}${unit}`);
  });
}

/** Options of {@link createScorer} and scoreCase: what the built-in scorers cannot make alone. */
export interface ScorerSources {
  /** Custom scorers by name, for `custom: <name>` specs. */
  scorers?: ScorerRegistry;
  /** Judges `llm_judge` specs (createLlmJudge); without it such a spec is an error. */
  judge?: Pick<LlmJudge, 'scorer'>;
}

/**
 * Turns a validated spec into a scorer. `custom` specs are looked up in `scorers`; `llm_judge`
 * specs are made by `judge`, since they need a model (through the gateway, in `keel eval`).
 */
export function createScorer(spec: ScorerSpec, { scorers: custom = {}, judge }: ScorerSources = {}): Scorer {
  switch (spec.kind) {
    case 'contains':
    case 'not_contains': {
      const values = listOf(spec.value);
      const wanted = spec.kind === 'contains';
      return scorer(spec.kind, ({ outputText }) => {
        const haystack = fold(outputText, spec.ignore_case);
        const found = values.filter((value) => haystack.includes(fold(value, spec.ignore_case)));
        const good = wanted ? found.length : values.length - found.length;
        const bad = wanted ? values.filter((value) => !found.includes(value)) : found;
        return verdict(
          bad.length === 0,
          bad.length === 0
            ? `output ${wanted ? 'contains' : 'does not contain'} ${values.map((v) => JSON.stringify(v)).join(', ')}`
            : `output ${wanted ? 'lacks' : 'contains'} ${bad.map((v) => JSON.stringify(v)).join(', ')}`,
          good / values.length,
        );
      });
    }
    case 'equals':
      return scorer('equals', ({ outputText }) => {
        const prepare = (text: string) => fold(spec.trim ? text.trim() : text, spec.ignore_case);
        const pass = prepare(outputText) === prepare(spec.value);
        return verdict(
          pass,
          pass
            ? 'output equals the expected text'
            : `output ${JSON.stringify(outputText.slice(0, 200))} differs from ${JSON.stringify(spec.value.slice(0, 200))}`,
        );
      });
    case 'regex': {
      const pattern = new RegExp(spec.pattern, spec.flags);
      return scorer('regex', ({ outputText }) => {
        pattern.lastIndex = 0;
        const pass = pattern.test(outputText);
        return verdict(
          pass,
          `output ${pass ? 'matches' : 'does not match'} /${spec.pattern}/${spec.flags ?? ''}`,
        );
      });
    }
    case 'json_schema': {
      let validator: z.ZodType;
      try {
        validator = z.fromJSONSchema(spec.schema as Parameters<typeof z.fromJSONSchema>[0]);
      } catch (error) {
        throw new ScorerInvalidError('json_schema', `not a usable JSON Schema (${(error as Error).message})`);
      }
      return scorer('json_schema', ({ output }) => {
        let value: unknown = output;
        if (typeof output === 'string') {
          try {
            value = JSON.parse(withoutCodeFence(output));
          } catch (error) {
            return verdict(false, `output is not JSON (${(error as Error).message})`);
          }
        }
        const result = validator.safeParse(value);
        if (result.success) return verdict(true, 'output matches the schema');
        const issues = result.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
        return verdict(false, `output does not match the schema: ${issues.join('; ')}`);
      });
    }
    case 'tool_called':
      return createToolCalledScorer(spec);
    case 'trajectory':
      return createTrajectoryScorer(spec);
    case 'max_steps':
      return limitScorer('max_steps', spec.max, ({ steps }) => steps.length, ' steps');
    case 'max_cost_usd':
      return limitScorer('max_cost_usd', spec.max, ({ costUsd }) => costUsd, ' USD');
    case 'max_latency_ms':
      return limitScorer('max_latency_ms', spec.max, ({ latencyMs }) => latencyMs, ' ms');
    case 'stop_reason': {
      const allowed = listOf(spec.value);
      return scorer('stop_reason', ({ stopReason }) =>
        verdict(
          allowed.includes(stopReason),
          `stop reason ${stopReason} ${allowed.includes(stopReason) ? 'is' : 'is not'} ${allowed.join(' or ')}`,
        ),
      );
    }
    case 'custom': {
      const found =
        custom instanceof Map ? custom.get(spec.name) : (custom as Record<string, Scorer>)[spec.name];
      if (!found) {
        throw new ScorerInvalidError(spec.name, 'no custom scorer of that name was supplied (defineScorer)');
      }
      return found;
    }
    case 'llm_judge': {
      if (!judge) {
        throw new ScorerInvalidError(
          'llm_judge',
          'no judge model is configured: pass a judge (createLlmJudge, e.g. over the gateway) to score llm_judge specs',
        );
      }
      return judge.scorer(spec.model === undefined ? { rubric: spec.rubric } : spec);
    }
  }
}
