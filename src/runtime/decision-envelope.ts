import { z } from 'zod';
import type { ModelResponse } from '../model/model.js';

/**
 * What a model step decided, as its meta keeps it under `envelope`: names and references only,
 * never a copy of the conversation. The facts the meta already holds are not repeated here: the
 * provider (`meta.provider`), the model (`meta.model`), the tools offered (`meta.tools`) and the
 * finish reason (`meta.finishReason`). The chosen calls' arguments and the model's stated reason
 * are in the step's output payload and resolved from it when read (`GET /v1/runs/{id}/steps/{seq}`).
 */
export interface DecisionEnvelope {
  /** The prompt version of the agent that made the call (`code:<sha256 prefix>`). */
  promptVersion: string | null;
  /**
   * The gateway deployment that answered; null when the call did not go through Keel's gateway,
   * or its response cache answered.
   */
  deployment: string | null;
  /** True when the gateway's response cache answered. */
  cached: boolean;
  /** The tool calls the model chose, in its order: id and name (arguments are in the payload). */
  toolCalls: { id: string; name: string }[];
  /** Kept empty: guard verdicts are `guard` steps of their own, which the API view collects. */
  guards: unknown[];
  /** Ids of the context retrieved for this call (empty until retrieval exists). */
  retrievedContextIds: string[];
}

/** The envelope of a model step's answer. */
export function decisionEnvelopeOf({
  promptVersion,
  response,
}: {
  promptVersion: string | null;
  response: ModelResponse;
}): DecisionEnvelope {
  return {
    promptVersion,
    deployment: response.gateway?.deployment ?? null,
    cached: response.gateway?.cached ?? false,
    toolCalls: (response.message.toolCalls ?? []).map(({ id, name }) => ({ id, name })),
    guards: [],
    retrievedContextIds: [],
  };
}

/** A stored envelope read back leniently: a missing or damaged field reads as empty. */
const storedEnvelopeSchema = z.object({
  promptVersion: z.string().nullable().catch(null),
  deployment: z.string().nullable().catch(null),
  cached: z.boolean().catch(false),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string() })).catch([]),
  guards: z.array(z.unknown()).catch([]),
  retrievedContextIds: z.array(z.string()).catch([]),
});

/** The envelope a step's meta holds, or undefined (not a model step, still open, or journaled before envelopes). */
export function storedDecisionEnvelope(meta: Record<string, unknown> | null): DecisionEnvelope | undefined {
  const stored = meta?.envelope;
  if (stored === undefined || stored === null || typeof stored !== 'object') return undefined;
  const parsed = storedEnvelopeSchema.safeParse(stored);
  return parsed.success ? parsed.data : undefined;
}
