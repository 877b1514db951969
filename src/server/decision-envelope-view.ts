/**
 * A model step's decision envelope as the API shows it: the facts the step's meta keeps (prompt
 * version, provider, model, deployment, tools offered, calls chosen, finish reason, guard
 * verdicts, retrieved context ids), with what only the step's output payload holds resolved from
 * it at read time: each chosen call's arguments and the model's stated reason.
 */
import type { StepRecord } from '../journal/types.js';
import { storedDecisionEnvelope } from '../runtime/decision-envelope.js';
import { storedModelResponseSchema } from '../runtime/stored-model-response.js';

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
  guards: unknown[];
  retrieved_context_ids: string[];
}

/**
 * The envelope of a model step (null for any other kind). `step.output`, when loaded, supplies
 * the arguments and the stated reason; a step journaled before envelopes existed gets its calls
 * from the payload alone.
 */
export function decisionEnvelopeView(step: StepRecord): DecisionEnvelopeView | null {
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
    guards: stored?.guards ?? [],
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
