import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type SpanContext,
} from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
} from '@opentelemetry/semantic-conventions/incubating';
import type { PriorStepExecution, RunRecord, StepRecord } from '../journal/types.js';
import { runSpanId, stepSpanId, traceIdOfRun } from './span-ids.js';

/** Keel's own span attributes (the GenAI conventions have no name for these). */
export const KEEL_ATTRIBUTES = {
  runId: 'keel.run.id',
  tenantId: 'keel.tenant.id',
  stepSeq: 'keel.step.seq',
  stepParentSeq: 'keel.step.parent_seq',
  stepAttempt: 'keel.step.attempt',
  stepKind: 'keel.step.kind',
  executionEnd: 'keel.step.execution_end',
  costUsd: 'keel.cost_usd',
  stopReason: 'keel.run.stop_reason',
  runAttempts: 'keel.run.attempts',
  promptVersion: 'keel.prompt_version',
  userId: 'keel.user.id',
  trigger: 'keel.run.trigger',
  toolEffect: 'keel.tool.effect',
  deployment: 'keel.gateway.deployment',
  route: 'keel.gateway.route',
  guardName: 'keel.guard.name',
  guardStage: 'keel.guard.stage',
  guardAction: 'keel.guard.action',
  guardReason: 'keel.guard.reason',
} as const;

/** `error.type` of an execution that a crash or a lost lease abandoned, or that waited. */
export const ABANDONED_ERROR_TYPE = 'keel.execution_abandoned';
export const WAITED_ERROR_TYPE = 'keel.execution_waited';
export const RELEASED_ERROR_TYPE = 'keel.execution_released';

/** Content attributes are cut at this many characters (with the capture option on). */
export const MAX_CONTENT_CHARS = 16_384;

/** What every span built from the journal shares. */
export interface JournalSpanOptions {
  resource: Resource;
  scope: InstrumentationScope;
  /** Message content on spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`). */
  captureContent: boolean;
}

/** The run's `invoke_agent {agent}` span, from its finished row. */
export function runSpan(run: RunRecord, options: JournalSpanOptions): ReadableSpan {
  const start = run.startedAt ?? run.createdAt;
  const end = run.endedAt ?? run.updatedAt;
  const failed = run.stopReason !== 'completed';
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: 'invoke_agent',
    [ATTR_GEN_AI_AGENT_NAME]: run.agent,
    [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: run.usage.inputTokens,
    [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: run.usage.outputTokens,
    [KEEL_ATTRIBUTES.costUsd]: run.costUsd,
    [KEEL_ATTRIBUTES.runAttempts]: run.attempts,
  };
  writeRunIdentity(attributes, run);
  if (run.stopReason !== null) attributes[KEEL_ATTRIBUTES.stopReason] = run.stopReason;
  if (run.promptVersion !== null) attributes[KEEL_ATTRIBUTES.promptVersion] = run.promptVersion;
  if (run.userId !== null) attributes[KEEL_ATTRIBUTES.userId] = run.userId;
  if (run.trigger !== null) attributes[KEEL_ATTRIBUTES.trigger] = run.trigger;
  if (failed) attributes[ATTR_ERROR_TYPE] = run.error?.code ?? run.stopReason ?? 'error';
  if (options.captureContent) {
    attributes[ATTR_GEN_AI_INPUT_MESSAGES] = bounded(
      JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: asText(run.input) }] }]),
    );
    if (run.output !== null && run.output !== undefined)
      attributes[ATTR_GEN_AI_OUTPUT_MESSAGES] = bounded(
        JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: asText(run.output) }] }]),
      );
  }
  return readableSpan({
    name: `invoke_agent ${run.agent}`,
    kind: SpanKind.INTERNAL,
    traceId: traceIdOfRun(run.id),
    spanId: runSpanId(run.id),
    start,
    end,
    attributes,
    error: failed ? (run.error?.message ?? `run stopped: ${run.stopReason ?? 'unknown'}`) : undefined,
    options,
  });
}

/** What a step span needs beyond the step row. */
export interface StepSpanContext extends JournalSpanOptions {
  /** The step that asked for this one (the model step of a tool call), when known. */
  parentSeq: number | null;
  /** The call's arguments as the model gave them (content capture only). */
  toolArguments?: string;
}

/**
 * The spans of a committed step: one for the execution the row holds, and one per earlier
 * execution a crash abandoned or a provider wait replaced (error status; its end is when the
 * next execution started, the first moment the journal knows it was over). Guard steps get a
 * `guard {name}` span with their stage, action and reason; `approval` steps and other kinds
 * without a GenAI operation get none.
 */
export function stepSpans(run: RunRecord, step: StepRecord, context: StepSpanContext): ReadableSpan[] {
  const shape = stepShape(step, context);
  if (shape === undefined) return [];
  const spans: ReadableSpan[] = [];
  const executions = step.priorExecutions;
  executions.forEach((prior, index) => {
    const next = executions[index + 1]?.startedAt ?? step.startedAt;
    spans.push(priorExecutionSpan(run, step, prior, next, shape, context));
  });
  const failed = step.status === 'failed';
  // Written in place, not spread: spreading these dotted keys cost more than the rest of the span.
  const attributes: Attributes = {};
  copyInto(attributes, shape.attributes);
  writeRunIdentity(attributes, run);
  writeStepIdentity(attributes, step.seq, step.attempt, context.parentSeq, step.kind);
  if (step.usage) {
    attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = step.usage.inputTokens;
    attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = step.usage.outputTokens;
  }
  if (step.costUsd !== null) attributes[KEEL_ATTRIBUTES.costUsd] = step.costUsd;
  if (failed) attributes[ATTR_ERROR_TYPE] = step.error?.code ?? 'keel.step_failed';
  copyInto(attributes, shape.outcome(step));
  spans.push(
    readableSpan({
      name: shape.name,
      kind: shape.kind,
      traceId: traceIdOfRun(run.id),
      spanId: stepSpanId(run.id, step.seq, step.attempt),
      parentSpanId: runSpanId(run.id),
      start: step.startedAt,
      end: step.endedAt ?? step.startedAt,
      attributes,
      error: failed ? (step.error?.message ?? 'step failed') : undefined,
      options: context,
    }),
  );
  return spans;
}

interface StepShape {
  name: string;
  kind: SpanKind;
  /** Attributes known from the row's identity and meta. */
  attributes: Attributes;
  /** Attributes known once the step finished (response model, finish reason, content). */
  outcome(step: StepRecord): Attributes;
}

function stepShape(step: StepRecord, context: StepSpanContext): StepShape | undefined {
  const meta = step.meta ?? {};
  if (step.kind === 'model') {
    const separator = step.name.indexOf(':');
    const model = stringOf(meta.model) ?? (separator < 0 ? step.name : step.name.slice(separator + 1));
    const provider = stringOf(meta.provider) ?? (separator < 0 ? 'unknown' : step.name.slice(0, separator));
    return {
      name: `chat ${model}`,
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_GEN_AI_OPERATION_NAME]: 'chat',
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
      },
      outcome(finished) {
        const attributes: Attributes = {};
        const output = modelOutputOf(finished.output);
        const responseModel = output?.modelId ?? (finished.status === 'completed' ? model : undefined);
        if (responseModel !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
        const finishReason = stringOf(finished.meta?.finishReason) ?? output?.finishReason;
        if (finishReason !== undefined) attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [finishReason];
        if (context.captureContent && output !== undefined)
          attributes[ATTR_GEN_AI_OUTPUT_MESSAGES] = bounded(JSON.stringify([outputMessage(output)]));
        return attributes;
      },
    };
  }
  if (step.kind === 'tool') {
    const attributes: Attributes = {
      [ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool',
      [ATTR_GEN_AI_TOOL_NAME]: step.name,
      [ATTR_GEN_AI_TOOL_TYPE]: 'function',
    };
    const callId = stringOf(meta.toolCallId);
    if (callId !== undefined) attributes[ATTR_GEN_AI_TOOL_CALL_ID] = callId;
    const effect = stringOf(meta.effect);
    if (effect !== undefined) attributes[KEEL_ATTRIBUTES.toolEffect] = effect;
    if (context.captureContent && context.toolArguments !== undefined)
      attributes[ATTR_GEN_AI_TOOL_CALL_ARGUMENTS] = bounded(context.toolArguments);
    return {
      name: `execute_tool ${step.name}`,
      kind: SpanKind.INTERNAL,
      attributes,
      outcome(finished) {
        if (!context.captureContent || finished.output === undefined) return {};
        return { [ATTR_GEN_AI_TOOL_CALL_RESULT]: bounded(asText(finished.output)) };
      },
    };
  }
  if (step.kind === 'guard') {
    const stage = stringOf(meta.stage);
    return {
      name: `guard ${step.name}`,
      kind: SpanKind.INTERNAL,
      attributes: {
        [KEEL_ATTRIBUTES.guardName]: step.name,
        ...(stage === undefined ? {} : { [KEEL_ATTRIBUTES.guardStage]: stage }),
      },
      outcome(finished) {
        const action = stringOf(finished.meta?.action);
        const reason = stringOf(finished.meta?.reason);
        return {
          ...(action === undefined ? {} : { [KEEL_ATTRIBUTES.guardAction]: action }),
          ...(reason === undefined ? {} : { [KEEL_ATTRIBUTES.guardReason]: bounded(reason) }),
        };
      },
    };
  }
  return undefined;
}

function priorExecutionSpan(
  run: RunRecord,
  step: StepRecord,
  prior: PriorStepExecution,
  end: Date,
  shape: StepShape,
  context: StepSpanContext,
): ReadableSpan {
  const errorType =
    prior.end === 'waited'
      ? WAITED_ERROR_TYPE
      : prior.end === 'released'
        ? RELEASED_ERROR_TYPE
        : ABANDONED_ERROR_TYPE;
  const priorAttributes = (): Attributes => {
    const attributes: Attributes = {};
    copyInto(attributes, shape.attributes);
    writeRunIdentity(attributes, run);
    writeStepIdentity(attributes, step.seq, prior.attempt, context.parentSeq, step.kind);
    attributes[KEEL_ATTRIBUTES.executionEnd] = prior.end;
    attributes[ATTR_ERROR_TYPE] = errorType;
    return attributes;
  };
  return readableSpan({
    name: shape.name,
    kind: shape.kind,
    traceId: traceIdOfRun(run.id),
    spanId: stepSpanId(run.id, step.seq, prior.attempt),
    parentSpanId: runSpanId(run.id),
    start: prior.startedAt,
    end: end < prior.startedAt ? prior.startedAt : end,
    attributes: priorAttributes(),
    error:
      prior.end === 'waited'
        ? 'this execution released the run to wait for its provider; a later execution replaced it'
        : prior.end === 'released'
          ? 'this execution was stopped by its draining worker, which released the run; a later execution replaced it'
          : 'this execution was abandoned (its worker crashed or lost its lease); a later execution replaced it',
    options: context,
  });
}

function writeRunIdentity(attributes: Attributes, run: RunRecord): void {
  attributes[KEEL_ATTRIBUTES.runId] = run.id;
  attributes[KEEL_ATTRIBUTES.tenantId] = run.tenantId;
  if (run.sessionId !== null) attributes[ATTR_GEN_AI_CONVERSATION_ID] = run.sessionId;
}

function writeStepIdentity(
  attributes: Attributes,
  seq: number,
  attempt: number,
  parentSeq: number | null,
  kind: string,
): void {
  attributes[KEEL_ATTRIBUTES.stepSeq] = seq;
  attributes[KEEL_ATTRIBUTES.stepAttempt] = attempt;
  attributes[KEEL_ATTRIBUTES.stepKind] = kind;
  if (parentSeq !== null) attributes[KEEL_ATTRIBUTES.stepParentSeq] = parentSeq;
}

function copyInto(target: Attributes, source: Attributes): void {
  for (const key in source) target[key] = source[key];
}

/** A finished span with the given identity and times, as the OTLP exporters take it. */
export function readableSpan({
  name,
  kind,
  traceId,
  spanId,
  parentSpanId,
  start,
  end,
  attributes,
  error,
  options,
}: {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** Epoch milliseconds (fractions kept) or dates. */
  start: Date | number;
  end: Date | number;
  attributes: Attributes;
  error: string | undefined;
  options: Pick<JournalSpanOptions, 'resource' | 'scope'>;
}): ReadableSpan {
  const context: SpanContext = { traceId, spanId, traceFlags: TraceFlags.SAMPLED };
  const startMs = typeof start === 'number' ? start : start.getTime();
  const endMs = typeof end === 'number' ? end : end.getTime();
  const startTime: HrTime = millisToHrTime(startMs);
  const endTime: HrTime = millisToHrTime(Math.max(endMs, startMs));
  return {
    name,
    kind,
    spanContext: () => context,
    ...(parentSpanId === undefined
      ? {}
      : { parentSpanContext: { traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED } }),
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status:
      error === undefined ? { code: SpanStatusCode.OK } : { code: SpanStatusCode.ERROR, message: error },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource: options.resource,
    instrumentationScope: options.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

interface ModelOutput {
  modelId?: string;
  finishReason?: string;
  message?: {
    content?: unknown;
    toolCalls?: { id?: unknown; name?: unknown; arguments?: unknown }[];
  };
}

/** A model step's stored response, read leniently (payloads of older versions may differ). */
function modelOutputOf(output: unknown): ModelOutput | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const candidate = output as ModelOutput;
  return {
    ...(typeof candidate.modelId === 'string' ? { modelId: candidate.modelId } : {}),
    ...(typeof candidate.finishReason === 'string' ? { finishReason: candidate.finishReason } : {}),
    ...(typeof candidate.message === 'object' && candidate.message !== null
      ? { message: candidate.message }
      : {}),
  };
}

/** The tool calls a model step's stored response asked for, as call id → arguments text. */
export function toolCallArgumentsOf(output: unknown): Map<string, string> {
  const calls = new Map<string, string>();
  const toolCalls = modelOutputOf(output)?.message?.toolCalls;
  if (!Array.isArray(toolCalls)) return calls;
  for (const call of toolCalls) if (typeof call.id === 'string') calls.set(call.id, asText(call.arguments));
  return calls;
}

/** The GenAI conventions' output message shape (role, parts, finish reason). */
function outputMessage(output: ModelOutput): unknown {
  const parts: unknown[] = [];
  const content = output.message?.content;
  if (typeof content === 'string' && content !== '') parts.push({ type: 'text', content });
  for (const call of output.message?.toolCalls ?? [])
    parts.push({ type: 'tool_call', id: call.id, name: call.name, arguments: call.arguments });
  return { role: 'assistant', parts, ...(output.finishReason ? { finish_reason: output.finishReason } : {}) };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}

function bounded(text: string): string {
  return text.length <= MAX_CONTENT_CHARS ? text : `${text.slice(0, MAX_CONTENT_CHARS)}…`;
}
