import { z } from 'zod';
import { InvalidToolError } from '../errors/config-errors.js';
import type { ToolSpec } from '../model/model.js';
import type { Logger } from '../util/logger.js';

/**
 * What a tool does to the world. `none`: pure read, safe to repeat. `write`: an effect that must
 * happen once (use `ctx.idempotencyKey`). `destructive`: like write, and each call needs a human
 * approval unless the tool says `needsApproval: false`; its calls are written to the audit log.
 */
export type ToolEffect = 'none' | 'write' | 'destructive';

/** What a tool's `run` receives besides its arguments. */
export interface ToolContext {
  runId: string;
  /**
   * `runId:seq`: the same for every execution of this step, including a re-execution after a
   * crash. Pass it to any API with idempotency keys, or use the effect ledger.
   */
  idempotencyKey: string;
  /** Aborted on timeout or cancellation; pass it to fetch and friends. */
  signal: AbortSignal;
  /** The model's id for this tool call. */
  toolCallId: string;
  /** 1 on the first try of this step in this process; retries and recoveries count up. */
  attempt: number;
  logger: Logger;
}

/**
 * What `reconcile` answers about an effect whose outcome is unknown: `{ done: true, result }`
 * when the effect did happen (`result`, normally what `run` would have returned, is recorded as
 * the step's output); `{ done: false }` or `undefined` when it did not (then `run` is invoked).
 */
export type ReconcileResult<Output> = { done: true; result: Output } | { done: false } | undefined;

/**
 * Finds out whether an earlier execution's effect happened. Called only after a crash (the step
 * was journaled `started` and never finished), with the same arguments and idempotency key, before
 * `run` would be invoked again; never on the normal path. Written as a method, like
 * `ApprovalPredicate`, so a tool with a specific schema is still a `Tool`.
 */
export type ReconcileFunction<Args, Output> = {
  reconcile(args: Args, ctx: ToolContext): Promise<ReconcileResult<Output>> | ReconcileResult<Output>;
}['reconcile'];

/**
 * Decides from a call's validated arguments whether it needs a human approval. Must be pure:
 * a replay evaluates it again and must reach the same answer. Written as a method so a tool with
 * a specific schema is still a `Tool` (method parameters are bivariant).
 */
export type ApprovalPredicate<Args> = { check(args: Args): boolean }['check'];

/**
 * What a rejected (or expired) approval does: `tell_model` sends the rejection back as the tool
 * result so the model can adapt; `end_run` ends the run with stop reason `rejected`.
 */
export type RejectionPolicy = 'tell_model' | 'end_run';

/** A JSON Schema, as a plain object (`{ type: 'object', properties: { ... }, required: [...] }`). */
export type JsonSchemaObject = Record<string, unknown>;

/** What a tool's `input` may be: a zod schema, or a JSON Schema object. */
export type ToolInputSchema = z.ZodType | JsonSchemaObject;

/** The arguments `run` receives: the zod schema's output, or a JSON object for a JSON Schema. */
export type ToolArgs<Input extends ToolInputSchema> = Input extends z.ZodType
  ? z.output<Input>
  : Record<string, unknown>;

/** The zod validator a tool keeps: the zod schema it was given, or one made from its JSON Schema. */
export type ToolValidator<Input extends ToolInputSchema> = Input extends z.ZodType
  ? Input
  : z.ZodType<Record<string, unknown>>;

/** The options of `defineTool`: name, description, input schema, effect, approval, `run`. */
export interface ToolOptions<Input extends ToolInputSchema, Output> {
  /** 1-64 chars of letters, digits, `_` or `-` (what every provider accepts). */
  name: string;
  description: string;
  /**
   * Arguments schema; must describe an object. Arguments are validated before `run`. A zod
   * schema (converted to the JSON Schema models see), or a JSON Schema object (sent to models as
   * written, and validated through `z.fromJSONSchema`).
   */
  input: Input;
  effect?: ToolEffect;
  /** Per-call timeout (default: the agent's `toolTimeoutMs`). */
  timeoutMs?: number;
  /** Extra attempts after a failure or timeout, with backoff (default 0). */
  retries?: number;
  /**
   * Pause the run for a human decision before each call (`true`), or before the calls whose
   * arguments the predicate picks. A waiting run holds no worker; any worker resumes it after
   * the decision. Default: true for `effect: 'destructive'` tools (opt out explicitly with
   * `false`), false for the others.
   */
  needsApproval?: boolean | ApprovalPredicate<ToolArgs<Input>>;
  /** What a rejection does (default `tell_model`). */
  onReject?: RejectionPolicy;
  /** An undecided approval expires after this long and counts as a rejection. Default: never. */
  approvalTtlMs?: number;
  /**
   * Asked, after a crash left this tool's step started but unfinished (its effect may or may
   * not have happened), whether the effect happened; see `ReconcileResult`. A result is recorded
   * as the step's output (meta `reconciled: true`) and `run` is not invoked again. Throwing fails
   * the step like a tool error (`tool_reconcile_failed`, sent to the model). Without it, the
   * step is re-invoked, except a `destructive` tool's, which waits for a human decision first.
   */
  reconcile?: ReconcileFunction<ToolArgs<Input>, unknown>;
  run(args: ToolArgs<Input>, ctx: ToolContext): Promise<Output> | Output;
}

/**
 * A tool ready for agents: its options plus the JSON Schema offered to models. Its `input` is
 * always a zod validator: the schema given, or the one made from a JSON Schema.
 */
export interface Tool<Input extends ToolInputSchema = ToolInputSchema, Output = unknown> extends Omit<
  ToolOptions<Input, Output>,
  'input'
> {
  readonly input: ToolValidator<Input>;
  readonly effect: ToolEffect;
  readonly retries: number;
  readonly onReject: RejectionPolicy;
  readonly spec: ToolSpec;
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Defines a tool. Throws `InvalidToolError` (code `invalid_tool`) for an unusable definition. */
export function defineTool<Input extends ToolInputSchema, Output>(
  options: ToolOptions<Input, Output>,
): Tool<Input, Output> {
  const {
    name,
    description,
    input,
    effect = 'none',
    timeoutMs,
    retries = 0,
    needsApproval,
    onReject = 'tell_model',
    approvalTtlMs,
    reconcile,
    run,
  } = options;
  const label = typeof name === 'string' ? name : String(name);
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new InvalidToolError(label, 'name must be 1-64 characters of letters, digits, "_" or "-"');
  }
  if (typeof description !== 'string' || description.trim() === '') {
    throw new InvalidToolError(name, 'description must be a non-empty string');
  }
  if (!(input instanceof z.ZodType) && !isPlainObject(input)) {
    throw new InvalidToolError(name, 'input must be a zod schema or a JSON Schema object');
  }
  if (!['none', 'write', 'destructive'].includes(effect)) {
    throw new InvalidToolError(name, `effect must be none, write or destructive, not ${String(effect)}`);
  }
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new InvalidToolError(name, 'timeoutMs must be a positive number');
  }
  if (!(Number.isInteger(retries) && retries >= 0 && retries <= 10)) {
    throw new InvalidToolError(name, 'retries must be an integer from 0 to 10');
  }
  if (
    needsApproval !== undefined &&
    typeof needsApproval !== 'boolean' &&
    typeof needsApproval !== 'function'
  ) {
    throw new InvalidToolError(name, 'needsApproval must be a boolean or a function of the arguments');
  }
  if (!['tell_model', 'end_run'].includes(onReject)) {
    throw new InvalidToolError(name, `onReject must be tell_model or end_run, not ${String(onReject)}`);
  }
  if (approvalTtlMs !== undefined && !(Number.isFinite(approvalTtlMs) && approvalTtlMs > 0)) {
    throw new InvalidToolError(name, 'approvalTtlMs must be a positive number');
  }
  if (reconcile !== undefined && typeof reconcile !== 'function')
    throw new InvalidToolError(name, 'reconcile must be a function');
  if (typeof run !== 'function') throw new InvalidToolError(name, 'run must be a function');

  const { parameters, validator } =
    input instanceof z.ZodType ? fromZod(name, input) : fromJsonSchema(name, input);

  // A destructive tool asks a human unless its author opted out in so many words.
  const approval = needsApproval ?? (effect === 'destructive' ? true : undefined);
  return {
    ...options,
    input: validator as ToolValidator<Input>,
    effect,
    retries,
    timeoutMs,
    onReject,
    ...(approval === undefined ? {} : { needsApproval: approval }),
    spec: { name, description, parameters },
  };
}

function fromZod(
  name: string,
  input: z.ZodType,
): { parameters: Record<string, unknown>; validator: z.ZodType } {
  let parameters: Record<string, unknown>;
  try {
    parameters = z.toJSONSchema(input, { io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidToolError(
      name,
      `input schema cannot be expressed as JSON Schema (${(error as Error).message})`,
    );
  }
  if (parameters.type !== 'object')
    throw new InvalidToolError(name, 'input must be an object schema (z.object)');
  delete parameters.$schema;
  return { parameters, validator: input };
}

/**
 * A JSON Schema input: models see a copy of it as written (less `$schema`); arguments are
 * validated by the zod schema `z.fromJSONSchema` makes of it, so a mismatch fails the step with
 * the same `tool_invalid_arguments` error as a zod schema's. A schema it cannot express (such as
 * `if`/`then`) is refused here, not at the first call.
 */
function fromJsonSchema(
  name: string,
  input: JsonSchemaObject,
): { parameters: Record<string, unknown>; validator: z.ZodType } {
  let parameters: Record<string, unknown>;
  try {
    parameters = JSON.parse(JSON.stringify(input)) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidToolError(name, `input JSON Schema is not JSON (${(error as Error).message})`);
  }
  if (parameters.type !== 'object') {
    throw new InvalidToolError(name, 'input JSON Schema must describe an object ({ type: "object", ... })');
  }
  delete parameters.$schema;
  let validator: z.ZodType;
  try {
    validator = z.fromJSONSchema(parameters as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    throw new InvalidToolError(name, `input is not a usable JSON Schema (${(error as Error).message})`);
  }
  return { parameters, validator };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
