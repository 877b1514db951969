/**
 * JSON helpers the model adapters share: parsing that reports a failure instead of throwing, the
 * conversions built on it, and the prompt sentence that asks a model for JSON.
 */

/** The result of {@link parseJson}. */
export type ParsedJson = { ok: true; value: unknown } | { ok: false };

/** `JSON.parse` that reports a failure instead of throwing; a schema then validates the value. */
export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The text parsed as JSON, or the text itself when it is not JSON (tool results may be either). */
export function parseJsonOrText(text: string): unknown {
  const json = parseJson(text);
  return json.ok ? json.value : text;
}

/** Whether a value is a plain object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Tool-call arguments as the object a provider's wire format requires (Anthropic's
 * `tool_use.input`, Gemini's `functionCall.args`). Arguments that are not a JSON object (the model
 * produced broken JSON earlier, and the tool layer reported it) are sent as `{}`: the tool result
 * that follows already tells the model what went wrong.
 */
export function toArgumentsObject(argumentsText: string): Record<string, unknown> {
  const json = parseJson(argumentsText);
  return json.ok && isPlainObject(json.value) ? json.value : {};
}

/** Asks for JSON in the system prompt, for providers whose JSON mode cannot be used for a request. */
export const JSON_INSTRUCTION = 'Respond with a single JSON value only: no prose, no Markdown code fences.';
