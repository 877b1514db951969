/**
 * A model step's decision envelope as the API shows it: the facts the step's meta keeps (prompt
 * version, provider, model, deployment, tools offered, calls chosen, finish reason, guard
 * verdicts, retrieved context ids), with what only the step's output payload holds resolved from
 * it at read time: each chosen call's arguments and the model's stated reason.
 */
import type { StepRecord } from '../journal/types.js';
import { storedDecisionEnvelope } from '../runtime/decision-envelope.js';
import { storedModelResponseSchema } from '../model/stored-model-response.js';

/** A tool call the model chose. */
export interface EnvelopeToolCallView {
  id: string;
  name: string;
  /** The arguments as JSON when the model's text parses, else that text; null without the payload. */
  arguments: unknown;
}

/** What a model step decided, and why, in one object. */
export interface DecisionEnvelopeView {
  prompt_version: string | null;
  provider: string | null;
  model: string | null;
  /** The gateway deployment that answered; null when the call did not go through the gateway or its cache answered. */
  deployment: string | null;
  /** True when the gateway's response cache answered. */
  cached: boolean;
  tools_offered: string[];
  tool_calls: EnvelopeToolCallView[];
  /** Null while the step is open. */
  finish_reason: string | null;
  /** The text the model gave alongside its tool calls; null when it gave none or called no tool. */
  stated_reason: string | null;
  /** Verdicts of the guards on this decision: its answer, its calls' arguments and outputs. */
  guards: GuardVerdictView[];
  retrieved_context_ids: string[];
}

/** One guard verdict, as its `guard` step's meta holds it. */
export interface GuardVerdictView {
  seq: number;
  guard: string;
  stage: string | null;
  action: string | null;
  reason: string | null;
  /** The step the guard checked (a tool call, or the model step itself). */
  guarded_seq: number | null;
  latency_ms: number | null;
}

/**
 * The guard steps about a model step's decision: those whose parent is the step (its answer) or
 * one of the tool calls it chose (their arguments and outputs), in journal order.
 */
export function guardVerdictsOf(modelSeq: number, steps: readonly StepRecord[]): GuardVerdictView[] {
  const calls = new Set(
    steps.filter((step) => step.kind === 'tool' && step.parentSeq === modelSeq).map((step) => step.seq),
  );
  return steps
    .filter(
      (step) =>
        step.kind === 'guard' &&
        step.parentSeq !== null &&
        (step.parentSeq === modelSeq || calls.has(step.parentSeq)),
    )
    .map((step) => {
      const meta = step.meta ?? {};
      const text = (value: unknown) => (typeof value === 'string' ? value : null);
      return {
        seq: step.seq,
        guard: step.name,
        stage: text(meta.stage),
        action: text(meta.action),
        reason: text(meta.reason),
        guarded_seq: step.parentSeq,
        latency_ms: typeof meta.latencyMs === 'number' ? meta.latencyMs : null,
      };
    });
}

/**
 * The envelope of a model step (null for any other kind). `step.output`, when loaded, supplies
 * the arguments and the stated reason; a step journaled before envelopes existed gets its calls
 * from the payload alone.
 */
export function decisionEnvelopeView(
  step: StepRecord,
  /** The run's steps (rows without outputs suffice), for the guard verdicts. */
  runSteps: readonly StepRecord[] = [],
): DecisionEnvelopeView | null {
  if (step.kind !== 'model') return null;
  const meta = step.meta ?? {};
  const stored = storedDecisionEnvelope(step.meta);
  const response = step.output === undefined ? undefined : storedModelResponseSchema.safeParse(step.output);
  const message = response?.success ? response.data.message : undefined;
  const answered = new Map((message?.toolCalls ?? []).map((call) => [call.id, call]));
  const chosen = stored?.toolCalls ?? message?.toolCalls ?? [];
  const toolCalls = chosen.map(({ id, name }) => {
    const call = answered.get(id);
    return { id, name, arguments: call === undefined ? null : parsedArguments(call.arguments) };
  });
  const stated = message !== undefined && toolCalls.length > 0 && message.content.trim() !== '';
  return {
    prompt_version: stored?.promptVersion ?? null,
    provider: typeof meta.provider === 'string' ? meta.provider : null,
    model: typeof meta.model === 'string' ? meta.model : null,
    deployment: stored?.deployment ?? null,
    cached: stored?.cached ?? false,
    tools_offered: Array.isArray(meta.tools)
      ? meta.tools.filter((name): name is string => typeof name === 'string')
      : [],
    tool_calls: toolCalls,
    finish_reason: typeof meta.finishReason === 'string' ? meta.finishReason : null,
    stated_reason: stated ? message.content : null,
    guards: guardVerdictsOf(step.seq, runSteps),
    retrieved_context_ids: stored?.retrievedContextIds ?? [],
  };
}

function parsedArguments(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
