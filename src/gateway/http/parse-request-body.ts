import type { z } from 'zod';
import { GatewayRequestError, invalidRequest } from './gateway-http-errors.js';

/**
 * Validates a request body with its schema; the first issue becomes a 400 naming the field at
 * fault (`messages.0.content`), as both OpenAI and Anthropic report it.
 */
export function parseRequestBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = deepestIssue(parsed.error.issues);
  if (issue?.code === 'unrecognized_keys') {
    // An unknown field is refused by name rather than dropped: the caller would pay for a request
    // that is not the one it sent.
    const field = [...issue.path.map(String), issue.keys[0] ?? ''].join('.');
    throw invalidRequest(
      `${field}: this field is not supported by this gateway; unknown fields are refused rather than ignored (see docs/gateway.md for the fields it accepts).`,
      field,
      'unsupported_field',
    );
  }
  const path = issue?.path.map(String).join('.') ?? '';
  const message = issue?.message ?? 'Invalid request body.';
  throw invalidRequest(path === '' ? message : `${path}: ${message}`, path === '' ? undefined : path);
}

/**
 * Validates one part of a body (an input item, a tool) with its schema; the 400 names the field
 * from the body's root (`input.3.call_id`), `param` being where the part sits.
 */
export function parseBodyPart<T>(schema: z.ZodType<T>, raw: unknown, param: string): T {
  try {
    return parseRequestBody(schema, raw);
  } catch (error) {
    if (!(error instanceof GatewayRequestError)) throw error;
    const path = error.param === undefined ? param : `${param}.${error.param}`;
    const detail = error.param === undefined ? error.message : error.message.slice(error.param.length + 2);
    throw invalidRequest(`${path}: ${detail}`, path);
  }
}

type Issue = z.core.$ZodIssue;

/** For a union that failed, the issue of the branch that got furthest names the real problem. */
function deepestIssue(issues: readonly Issue[]): Issue | undefined {
  const first = issues[0];
  if (first?.code !== 'invalid_union' || first.errors.length === 0) return first;
  let best: Issue | undefined;
  const expected: string[] = [];
  for (const branch of first.errors) {
    const candidate = deepestIssue(branch);
    if (candidate?.code === 'invalid_type' && candidate.path.length === 0) expected.push(candidate.expected);
    if (candidate !== undefined && (best === undefined || candidate.path.length > best.path.length))
      best = candidate;
  }
  if (best === undefined) return first;
  // Every branch wanted another type: say which types would do.
  if (best.path.length === 0 && expected.length === first.errors.length)
    return { ...first, message: `Invalid input: expected ${expected.join(' or ')}` };
  return { ...best, path: [...first.path, ...best.path] } as Issue;
}
