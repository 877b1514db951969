import type { EvalCase } from './suite.js';
import { ScorerInvalidError } from '../errors/eval-errors.js';

/** One step of the scored run, as the journal recorded it. */
export interface ScoredStep {
  /** `model`, `tool`, or another step kind. */
  kind: string;
  /** The tool's name for a tool step; the model's name (or the step name) otherwise. */
  name: string;
  /** Parsed tool arguments; `undefined` for steps without arguments. */
  arguments?: unknown;
  output?: unknown;
  /** False when the step failed. */
  ok: boolean;
}

/** A tool call of the scored run: the `tool` steps, in order. */
export interface ScoredToolCall {
  name: string;
  arguments: unknown;
  output?: unknown;
  ok: boolean;
}

/** Everything a scorer may look at: the case and what its run produced. */
export interface ScorerContext {
  case: EvalCase;
  /** The run's output as returned by the agent. */
  output: unknown;
  /** The output as text: itself when a string, its JSON otherwise. */
  outputText: string;
  stopReason: string;
  steps: readonly ScoredStep[];
  costUsd: number;
  latencyMs: number;
  toolCalls: readonly ScoredToolCall[];
}

/** A scorer's verdict on one run. */
export interface ScoreResult {
  pass: boolean;
  /** From 0 to 1; 1 for a plain pass, a fraction where partial credit means something. */
  score: number;
  /** Why, in a sentence a person reads in a report. */
  reason: string;
  /**
   * What judging itself cost in USD (an `llm_judge`'s model calls), reported apart from the
   * run's cost. Absent for scorers that call no model.
   */
  costUsd?: number;
}

/** Judges one aspect of a run. Built-in scorers and `defineScorer` both produce this. */
export interface Scorer {
  readonly name: string;
  score(context: ScorerContext): ScoreResult | Promise<ScoreResult>;
}

/** A custom scorer written in TypeScript; a suite names it with `custom: <name>`. */
export interface ScorerOptions {
  name: string;
  score(context: ScorerContext): ScoreResult | Promise<ScoreResult>;
}

const SCORER_NAME = /^[A-Za-z][\w.-]{0,63}$/;

/** Defines a custom scorer. The name must be a short identifier (letters, digits, `_ . -`). */
export function defineScorer({ name, score }: ScorerOptions): Scorer {
  if (typeof name !== 'string' || !SCORER_NAME.test(name)) {
    throw new ScorerInvalidError(String(name), 'the name must be 1-64 letters, digits, "_", "." or "-"');
  }
  if (typeof score !== 'function') throw new ScorerInvalidError(name, 'score must be a function');
  return Object.freeze({ name, score });
}

/**
 * Builds a scorer context from a run's facts: derives `outputText` and `toolCalls` so every
 * caller (the eval command, a unit test) derives them the same way.
 */
export function createScorerContext({
  evalCase,
  output,
  stopReason,
  steps,
  costUsd = 0,
  latencyMs = 0,
}: {
  evalCase: EvalCase;
  output: unknown;
  stopReason: string;
  steps: readonly ScoredStep[];
  costUsd?: number;
  latencyMs?: number;
}): ScorerContext {
  return {
    case: evalCase,
    output,
    outputText: typeof output === 'string' ? output : output === undefined ? '' : JSON.stringify(output),
    stopReason,
    steps,
    costUsd,
    latencyMs,
    toolCalls: steps
      .filter((step) => step.kind === 'tool')
      .map((step) => ({ name: step.name, arguments: step.arguments, output: step.output, ok: step.ok })),
  };
}
