import { z } from 'zod';
import { defineGuard, DEFAULT_GUARD_MAX_RETRIES, invalidGuardField } from './define-guard.js';
import type { Guard, GuardVerdict } from './guard.js';

/** The options of `guards.jsonSchema`. */
export interface JsonSchemaGuardOptions {
  /** A zod schema, or a JSON Schema (an object such as `{ type: 'object', properties: ... }`). */
  schema: z.ZodType | Record<string, unknown>;
  /** How many times the model is asked again with the validation errors. Default 2. */
  maxRetries?: number;
  /** Default `jsonSchema`. */
  name?: string;
}

/** The most validation problems put in the feedback: enough to fix, short enough to read. */
const MAX_LISTED_ISSUES = 10;

/**
 * The final answer must be JSON that validates against `schema`. When it does not, the verdict is
 * `retry` with the errors as feedback, so the model can fix its answer (at most `maxRetries`
 * times; the loop blocks after that). A JSON Schema is converted to zod once, here.
 */
export function jsonSchema({
  schema,
  maxRetries = DEFAULT_GUARD_MAX_RETRIES,
  name = 'jsonSchema',
}: JsonSchemaGuardOptions): Guard {
  const validator = toZod(name, schema);
  return defineGuard({
    name,
    stage: 'output',
    maxRetries,
    check: ({ text }) => validate(validator, text),
  });
}

function toZod(name: string, schema: JsonSchemaGuardOptions['schema']): z.ZodType {
  if (schema instanceof z.ZodType) return schema;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw invalidGuardField(name, 'schema', 'must be a zod schema or a JSON Schema object');
  }
  try {
    return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    throw invalidGuardField(name, 'schema', `is not a usable JSON Schema (${(error as Error).message})`);
  }
}

function validate(validator: z.ZodType, text: string): GuardVerdict {
  let value: unknown;
  try {
    value = JSON.parse(withoutCodeFence(text));
  } catch (error) {
    const problem = `the answer is not valid JSON (${(error as Error).message})`;
    return {
      action: 'retry',
      reason: problem,
      feedback: `Your answer must be a single JSON value and nothing else: ${problem}.`,
      details: { errors: [problem] },
    };
  }
  const result = validator.safeParse(value);
  if (result.success) return { action: 'allow' };
  const errors = result.error.issues
    .slice(0, MAX_LISTED_ISSUES)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  return {
    action: 'retry',
    reason: `the answer does not match the schema (${result.error.issues.length} problems)`,
    feedback: `Your answer does not match the required JSON schema. Fix these problems and answer again with the JSON only:\n${errors.map((each) => `- ${each}`).join('\n')}`,
    details: { errors },
  };
}

/** Models often wrap JSON in a Markdown fence; the content of a lone fenced block counts. */
function withoutCodeFence(text: string): string {
  const fenced = /^\s*```[a-zA-Z]*\n([\s\S]*?)\n```\s*$/.exec(text);
  return fenced?.[1] ?? text;
}
