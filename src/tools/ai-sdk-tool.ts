/**
 * An AI SDK `tool()` (from the `ai` package, AI SDK 5 to 7) as a Keel tool. Like the model bridge,
 * it reads the tool structurally and imports nothing from the AI SDK.
 */
import { z } from 'zod';
import { InvalidToolError } from '../errors/config-errors.js';
import { ToolError } from '../errors/runtime-errors.js';
import {
  defineTool,
  type ApprovalPredicate,
  type JsonSchemaObject,
  type RejectionPolicy,
  type Tool,
  type ToolEffect,
} from './tool.js';

/** An AI SDK tool, as `tool({ description, inputSchema, execute })` makes it. Structural. */
export interface AiSdkTool {
  /** `function` (or absent) and `dynamic` tools run here; `provider` tools run at the provider. */
  type?: string;
  /** A string, or (AI SDK 7) a function of the tool's context, called once with an empty one. */
  description?: unknown;
  /** A zod schema, a `jsonSchema()` (or `zodSchema()`) wrapper, a lazy schema, or a Standard Schema. */
  inputSchema?: unknown;
  execute?(input: never, options: never): unknown;
  needsApproval?: unknown;
}

/** What the AI SDK tool's `execute` receives as its second argument. */
export interface AiSdkToolExecutionOptions {
  /** The model's id for this tool call. */
  toolCallId: string;
  /** Keel does not hand a tool the conversation: always empty. */
  messages: never[];
  /** Aborted on the tool's timeout or the run's cancellation. */
  abortSignal: AbortSignal;
  /** AI SDK 7's context (empty), and AI SDK 5 and 6's name for it. */
  context: Record<string, never>;
  experimental_context: Record<string, never>;
}

/** Options of {@link fromAiSdkTool}: Keel's tool options the AI SDK has no word for. */
export interface FromAiSdkToolOptions {
  /** What the tool does to the world (see `defineTool`): required, Keel cannot guess it. */
  effect: ToolEffect;
  /** Default: the AI SDK tool's description. */
  description?: string;
  timeoutMs?: number;
  retries?: number;
  /**
   * Default: the AI SDK tool's `needsApproval` when it is a boolean. A function there (which may be
   * asynchronous and sees the conversation) cannot be carried over: say here what Keel should do.
   */
  needsApproval?: boolean | ApprovalPredicate<Record<string, unknown>>;
  onReject?: RejectionPolicy;
  approvalTtlMs?: number;
}

/** A validation of the tool's own schema: the value to pass to `execute`, or why not. */
type Validate = (value: unknown) => Promise<{ ok: true; value: unknown } | { ok: false; message: string }>;

const SCHEMA_MARKER = Symbol.for('vercel.ai.schema');
const EMPTY_OBJECT_SCHEMA = { type: 'object', properties: {}, additionalProperties: false };

/**
 * Brings an AI SDK tool into Keel as a Keel tool named `name`, with the effect you declare. Its
 * input schema (zod, `jsonSchema()`, or a Standard Schema offering JSON Schema) becomes the JSON
 * Schema models see; arguments are validated against it before the step runs, then by the tool's
 * own schema (so `execute` gets what it expects, transforms and defaults applied); a mismatch is
 * a `tool_invalid_arguments` error the model sees. `execute` gets the arguments and
 * {@link AiSdkToolExecutionOptions}; what it throws fails the step like any Keel tool error, and
 * a streaming `execute` (an async iterable) results in its last value. Throws `InvalidToolError`
 * for a provider-executed tool, one without `execute`, or a schema with no JSON Schema form.
 */
export function fromAiSdkTool(name: string, tool: AiSdkTool, options: FromAiSdkToolOptions): Tool {
  const label = typeof name === 'string' ? name : String(name);
  if (typeof tool !== 'object' || tool === null) {
    throw new InvalidToolError(label, 'the AI SDK tool must be an object made by tool()');
  }
  if (tool.type === 'provider' || tool.type === 'provider-defined') {
    throw new InvalidToolError(label, 'a provider tool runs at the model provider, not in Keel');
  }
  const execute = tool.execute as
    ((input: unknown, options: AiSdkToolExecutionOptions) => unknown) | undefined;
  if (typeof execute !== 'function') {
    throw new InvalidToolError(label, 'the AI SDK tool has no execute function to run');
  }
  if (options === undefined || typeof options !== 'object') {
    throw new InvalidToolError(
      label,
      'options with an effect are required: { effect: "none" | "write" | "destructive" }',
    );
  }
  const { effect, needsApproval = approvalOf(label, tool.needsApproval), ...rest } = options;
  if (effect === undefined) {
    throw new InvalidToolError(label, 'effect is required: none, write or destructive');
  }
  const { input, validate } = inputOf(label, tool.inputSchema);
  const description =
    options.description ??
    (typeof tool.description === 'function'
      ? (tool.description as (options: { context: object }) => unknown)({ context: {} })
      : tool.description) ??
    '';

  return defineTool({
    ...rest,
    name,
    description: description as string,
    input,
    effect,
    ...(needsApproval === undefined ? {} : { needsApproval }),
    async run(args, ctx) {
      let value: unknown = args;
      if (validate !== undefined) {
        const checked = await validate(args);
        if (!checked.ok) {
          throw new ToolError('tool_invalid_arguments', name, `invalid arguments: ${checked.message}`);
        }
        value = checked.value;
      }
      const executionOptions: AiSdkToolExecutionOptions = {
        toolCallId: ctx.toolCallId,
        messages: [],
        abortSignal: ctx.signal,
        context: {},
        experimental_context: {},
      };
      const result = await execute.call(tool, value, executionOptions);
      return isAsyncIterable(result) ? lastOf(result) : result;
    },
  }) as Tool;
}

/** The AI SDK's `needsApproval`: a boolean carries over, a function must be restated. */
function approvalOf(name: string, needsApproval: unknown): boolean | undefined {
  if (needsApproval === undefined || typeof needsApproval === 'boolean') return needsApproval;
  throw new InvalidToolError(
    name,
    'the AI SDK tool decides approvals with a function, which Keel cannot run as its pure predicate: pass needsApproval in the options',
  );
}

/**
 * The input schema the Keel tool is defined with (a zod schema of this copy of zod as it is, any
 * other as its JSON Schema), and the tool's own validation when Keel's is not the same.
 */
function inputOf(
  name: string,
  schema: unknown,
): { input: z.ZodType | JsonSchemaObject; validate?: Validate } {
  if (schema === undefined || schema === null) return { input: EMPTY_OBJECT_SCHEMA };
  // A lazy schema (lazySchema(), or a function returning a schema).
  if (typeof schema === 'function') return inputOf(name, (schema as () => unknown)());
  if (typeof schema !== 'object') {
    throw new InvalidToolError(name, 'inputSchema must be a zod schema, a jsonSchema() or a Standard Schema');
  }
  if (schema instanceof z.ZodType) return { input: schema };
  const record = schema as Record<string | symbol, unknown>;
  if (record[SCHEMA_MARKER] === true) return fromVercelSchema(name, record);
  const standard = record['~standard'] as StandardSchemaProps | undefined;
  if (standard !== undefined && typeof standard === 'object') {
    return { input: jsonSchemaOfStandard(name, schema, standard), validate: standardValidate(standard) };
  }
  throw new InvalidToolError(name, 'inputSchema must be a zod schema, a jsonSchema() or a Standard Schema');
}

/** A `jsonSchema()` (or `zodSchema()`, `valibotSchema()`...) wrapper: its JSON Schema and its `validate`. */
function fromVercelSchema(
  name: string,
  schema: Record<string | symbol, unknown>,
): { input: JsonSchemaObject; validate?: Validate } {
  const json: unknown = schema.jsonSchema;
  if (typeof (json as PromiseLike<unknown> | undefined)?.then === 'function') {
    throw new InvalidToolError(
      name,
      'inputSchema gives its JSON Schema asynchronously; Keel needs it when the tool is defined',
    );
  }
  if (typeof json !== 'object' || json === null) {
    throw new InvalidToolError(name, 'inputSchema has no JSON Schema');
  }
  const validate = schema.validate;
  if (typeof validate !== 'function') return { input: json as JsonSchemaObject };
  return {
    input: json as JsonSchemaObject,
    validate: async (value) => {
      const result = (await (validate as (value: unknown) => unknown).call(schema, value)) as
        { success: true; value: unknown } | { success: false; error: unknown };
      return result.success
        ? { ok: true, value: result.value }
        : { ok: false, message: describeFailure(result.error) };
    },
  };
}

interface StandardSchemaProps {
  vendor?: string;
  validate?: (value: unknown) => unknown;
  jsonSchema?: { input?: (options: { target: string }) => unknown };
}

/** Standard JSON Schema (`~standard.jsonSchema.input`), or zod 4's own conversion for another copy of zod. */
function jsonSchemaOfStandard(name: string, schema: object, standard: StandardSchemaProps): JsonSchemaObject {
  try {
    const input = standard.jsonSchema?.input;
    if (typeof input === 'function') {
      // Keel's own draft first; a vendor that cannot write it is asked for draft-07, as the AI SDK does.
      try {
        return input({ target: 'draft-2020-12' }) as JsonSchemaObject;
      } catch {
        return input({ target: 'draft-07' }) as JsonSchemaObject;
      }
    }
    if ('_zod' in schema) {
      return z.toJSONSchema(schema as z.ZodType, {
        io: 'input',
        unrepresentable: 'throw',
      }) as JsonSchemaObject;
    }
  } catch (error) {
    throw new InvalidToolError(
      name,
      `inputSchema cannot be expressed as JSON Schema (${(error as Error).message})`,
    );
  }
  throw new InvalidToolError(
    name,
    `inputSchema (${standard.vendor ?? 'a Standard Schema'}${'_def' in schema ? ', zod 3' : ''}) offers no JSON Schema; wrap it with the AI SDK's jsonSchema() or use zod 4`,
  );
}

function standardValidate(standard: StandardSchemaProps): Validate | undefined {
  const validate = standard.validate;
  if (typeof validate !== 'function') return undefined;
  return async (value) => {
    const result = (await validate(value)) as {
      value?: unknown;
      issues?: readonly { message: string; path?: readonly unknown[] }[];
    };
    if (result.issues === undefined) return { ok: true, value: result.value };
    return { ok: false, message: result.issues.map(describeIssue).join('; ') };
  };
}

function describeIssue(issue: { message: string; path?: readonly unknown[] }): string {
  const path = (issue.path ?? [])
    .map((segment) =>
      typeof segment === 'object' && segment !== null && 'key' in segment
        ? String((segment as { key: unknown }).key)
        : String(segment),
    )
    .join('.');
  return `${path || '(root)'}: ${issue.message}`;
}

function describeFailure(error: unknown): string {
  if (error instanceof z.ZodError) return error.issues.map(describeIssue).join('; ');
  if (error instanceof Error) return error.message;
  return String(error);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function'
  );
}

async function lastOf(values: AsyncIterable<unknown>): Promise<unknown> {
  let last: unknown;
  for await (const value of values) last = value;
  return last;
}
