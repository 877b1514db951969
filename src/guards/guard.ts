/**
 * Guards: checks at four stages of a run (issue 10, build 5). A guard looks at a text and returns
 * a verdict; the agent loop journals each verdict as a step of kind `guard` before the effect it
 * guards can happen (see src/runtime/guard-steps.ts).
 */

import type { LanguageModel } from '../model/model.js';

/** Where a guard looks: the run's input, a tool call's arguments, a tool's output, the final answer. */
export type GuardStage = 'input' | 'tool_args' | 'tool_output' | 'output';

/** Every `GuardStage`, in the order a run meets them. */
export const GUARD_STAGES: readonly GuardStage[] = ['input', 'tool_args', 'tool_output', 'output'];

/** What a guard decides about one text. */
export type GuardVerdict =
  | { action: 'allow'; details?: Record<string, unknown> }
  /** Stop: the run ends with `guard_blocked` (at `tool_args`, the tool never runs). */
  | { action: 'block'; reason: string; details?: Record<string, unknown> }
  /** Go on with `text` in place of the original (the model and the journal see the replacement). */
  | { action: 'redact'; text: string; reason?: string; details?: Record<string, unknown> }
  /** Go on, but record the concern (counted, visible in the trace). */
  | { action: 'warn'; reason: string; details?: Record<string, unknown> }
  /** Output stage only: ask the model again with `feedback` (at most the guard's `maxRetries`). */
  | { action: 'retry'; feedback: string; reason?: string; details?: Record<string, unknown> };

/** What a guard's `check` is given. Only `stage` and `text` are always there. */
export interface GuardContext {
  stage: GuardStage;
  /** The text under check: the input, the arguments as JSON, the tool output, the answer. */
  text: string;
  /** At `tool_args` and `tool_output`: the tool. */
  toolName?: string;
  runId?: string;
  agent?: string;
  tenantId?: string;
  /**
   * The outputs of the run's tool calls so far, oldest first (output stage): the sources a
   * grounding check judges the answer against.
   */
  toolOutputs?: readonly string[];
  /** Aborts with the run; a guard calling a classifier passes it on. */
  signal?: AbortSignal;
  /**
   * Inside a run: wraps a model so each of its calls is reserved against the run's budgets before
   * it starts and settled after (a refused call throws a `budget_exhausted` KeelError, and the
   * model is not called). A guard that calls a model calls it through this when it is there.
   */
  meter?(model: LanguageModel): LanguageModel;
}

/** A guard as an agent lists it. */
export interface Guard {
  readonly name: string;
  /** The stages it runs at. */
  readonly stages: readonly GuardStage[];
  /** Output stage: how many times a `retry` verdict may re-ask the model. Default 2. */
  readonly maxRetries: number;
  check(context: GuardContext): Promise<GuardVerdict> | GuardVerdict;
}
