import { z } from 'zod';
import { KeelError, type SerializedError } from '../errors/keel-error.js';
import type { Usage } from '../model/model.js';
import type { RunRecord, StepRecord } from '../journal/types.js';

/** The cassette format this build writes and reads. */
export const CASSETTE_VERSION = 1;

const usageSchema = z
  .object({
    inputTokens: z.number(),
    outputTokens: z.number(),
    cachedInputTokens: z.number().optional(),
    reasoningTokens: z.number().optional(),
  })
  .nullable()
  .optional() as z.ZodType<Usage | null | undefined>;

const errorSchema = z
  .object({
    code: z.string(),
    message: z.string(),
    fault: z.enum(['caller', 'model', 'provider', 'tool', 'system']),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .nullable()
  .optional() as z.ZodType<SerializedError | null | undefined>;

const stepSchema = z.object({
  seq: z.number().int().nonnegative(),
  parent_seq: z.number().int().nonnegative().nullable().optional(),
  kind: z.string().min(1),
  name: z.string(),
  input_hash: z.string().min(1),
  /** A tool step's arguments as the model sent them (model steps store only their input hash). */
  arguments: z.unknown().optional(),
  status: z.enum(['completed', 'failed']),
  output: z.unknown().optional(),
  error: errorSchema,
  attempt: z.number().int().positive().optional(),
  usage: usageSchema,
  cost_usd: z.number().nullable().optional(),
  meta: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** A cassette as validated on import and replay (snake_case, like the HTTP API). */
export const cassetteSchema = z.object({
  keel_cassette: z.literal(CASSETTE_VERSION),
  run_id: z.string().optional(),
  tenant_id: z.string().optional(),
  agent: z.string().min(1),
  prompt_version: z.string().nullable().optional(),
  input: z.unknown(),
  session_id: z.string().nullable().optional(),
  /** The earlier exchanges of the run's session it started from, oldest first. */
  session: z.array(z.object({ input: z.unknown(), output: z.unknown() })).default([]),
  user_id: z.string().nullable().optional(),
  trigger: z.string().nullable().optional(),
  steps: z.array(stepSchema),
  output: z.unknown(),
  status: z.enum(['completed', 'failed', 'cancelled']),
  stop_reason: z.string(),
  error: errorSchema,
  usage: usageSchema,
  cost_usd: z.number().optional(),
  created_at: z.string().optional(),
  ended_at: z.string().nullable().optional(),
});

/** A run as a versioned JSON cassette. */
export type Cassette = z.infer<typeof cassetteSchema>;
/** One step of a cassette. */
export type CassetteStep = Cassette['steps'][number];

/** A cassette written by another format version of Keel. */
export class CassetteVersionUnsupportedError extends KeelError {
  constructor(version: unknown) {
    super({
      code: 'cassette_version_unsupported',
      message: `This cassette is format version ${JSON.stringify(version)}; this Keel reads version ${CASSETTE_VERSION}.`,
      fault: 'caller',
      details: { version, supported: [CASSETTE_VERSION] },
    });
  }
}

/** A cassette that is not JSON or lacks a field; the message names the field. */
export class CassetteInvalidError extends KeelError {
  constructor(field: string, problem: string) {
    super({
      code: 'cassette_invalid',
      message: `Invalid cassette: ${field}: ${problem}.`,
      fault: 'caller',
      details: { field, problem },
    });
  }
}

/** Parses and validates a cassette's text. Throws `cassette_invalid` or `cassette_version_unsupported`. */
export function parseCassette(text: string): Cassette {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new CassetteInvalidError('(file)', `not JSON (${(error as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new CassetteInvalidError('(root)', 'expected a JSON object');
  const version = (data as Record<string, unknown>).keel_cassette;
  if (version === undefined) throw new CassetteInvalidError('keel_cassette', 'missing (not a Keel cassette)');
  if (version !== CASSETTE_VERSION) throw new CassetteVersionUnsupportedError(version);
  const parsed = cassetteSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const missing = valueAt(data, issue.path) === undefined;
    throw new CassetteInvalidError(issue.path.join('.') || '(root)', missing ? 'missing' : issue.message);
  }
  const seqs = parsed.data.steps.map((step) => step.seq);
  if (seqs.some((seq, index) => index > 0 && seq <= seqs[index - 1]!))
    throw new CassetteInvalidError('steps', 'seq must increase from step to step');
  return parsed.data;
}

/**
 * A finished run as a cassette: the run, its finished steps (as the journal stores them: already
 * redacted) and the session exchanges it started from.
 */
export function buildCassette({
  run,
  steps,
  session,
}: {
  run: RunRecord;
  steps: readonly StepRecord[];
  session: readonly { input: unknown; output: unknown }[];
}): Cassette {
  if (run.status !== 'completed' && run.status !== 'failed' && run.status !== 'cancelled')
    throw new KeelError({
      code: 'run_not_ended',
      message: `Run ${run.id} is ${run.status}: only an ended run can be exported.`,
      fault: 'caller',
      details: { runId: run.id, status: run.status },
    });
  const toolArguments = new Map<string, unknown>();
  const cassetteSteps: CassetteStep[] = [];
  for (const step of steps) {
    if (step.status === 'started') continue;
    if (step.kind === 'model') {
      for (const call of modelToolCalls(step.output))
        toolArguments.set(call.id, parseArguments(call.arguments));
    }
    const toolCallId = step.meta?.toolCallId;
    cassetteSteps.push({
      seq: step.seq,
      parent_seq: step.parentSeq,
      kind: step.kind,
      name: step.name,
      input_hash: step.inputHash,
      ...(step.kind === 'tool' && typeof toolCallId === 'string' && toolArguments.has(toolCallId)
        ? { arguments: toolArguments.get(toolCallId) }
        : {}),
      status: step.status,
      ...(step.output === undefined ? {} : { output: step.output }),
      error: step.error,
      attempt: step.attempt,
      usage: step.usage,
      cost_usd: step.costUsd,
      meta: step.meta,
    });
  }
  return {
    keel_cassette: CASSETTE_VERSION,
    run_id: run.id,
    tenant_id: run.tenantId,
    agent: run.agent,
    prompt_version: run.promptVersion,
    input: run.input,
    session_id: run.sessionId,
    session: [...session],
    user_id: run.userId,
    trigger: run.trigger,
    steps: cassetteSteps,
    output: run.output,
    status: run.status,
    stop_reason: run.stopReason ?? 'error',
    error: run.error,
    usage: run.usage,
    cost_usd: run.costUsd,
    created_at: run.createdAt.toISOString(),
    ended_at: run.endedAt?.toISOString() ?? null,
  };
}

const toolCallsSchema = z.object({
  message: z.object({
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })),
  }),
});

function modelToolCalls(output: unknown): { id: string; arguments: string }[] {
  const parsed = toolCallsSchema.safeParse(output);
  return parsed.success ? parsed.data.message.toolCalls : [];
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
