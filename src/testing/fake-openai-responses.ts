/**
 * OpenAI's Responses wire format (`POST /v1/responses`) for the fake OpenAI server: a scripted
 * completion as a Response object, or as the event stream OpenAI sends (`response.created`,
 * `response.in_progress`, each output item added, its deltas, done, then `response.completed` or
 * `response.incomplete`, each event with its `sequence_number` and an SSE `event:` line, and no
 * `[DONE]`). The event shapes follow the `openai` package's types
 * (`resources/responses/responses.d.ts`). The fake's script and faults live in
 * fake-openai-server.ts; this file only encodes.
 */
import { isPlainObject } from '../model/json.js';
import type { FakeAnswer, FakeFailure, FakeStreamPlan } from './fake-openai-server.js';
import { splitByCodePoints } from './fake-server-kit.js';

type Item = Record<string, unknown>;

/** One output item: its final form and the events that stream it between added and done. */
interface PlannedItem {
  final: Item;
  /** The item as `response.output_item.added` shows it. */
  added: Item;
  /** The events between added and done, without `output_index` and `sequence_number`. */
  middle: Item[];
}

/** The Response object of a complete answer. */
export function responseBody(answer: FakeAnswer): Item {
  const items = planItems(answer);
  return responseObject(answer, {
    ...statusOf(answer),
    output: items.map((item) => item.final),
    usage: usageOf(answer),
  });
}

/** A Response whose generation failed, with the output done before the failure. */
export function failedResponseBody(answer: FakeAnswer, failure: FakeFailure, output: Item[] = []): Item {
  return responseObject(answer, {
    status: 'failed',
    incomplete_details: null,
    output,
    usage: null,
    error: { code: failure.code, message: failure.message },
  });
}

/** The events of a streamed answer, in OpenAI's order. */
export function responsesStream(answer: FakeAnswer): FakeStreamPlan {
  const events: Item[] = [];
  const inProgress = responseObject(answer, {
    status: 'in_progress',
    incomplete_details: null,
    output: [],
    usage: null,
  });
  events.push({ type: 'response.created', response: inProgress });
  events.push({ type: 'response.in_progress', response: inProgress });
  // Each item by the position of its output_item.done event, to tell what a failure had finished.
  const done = new Map<number, Item>();
  for (const [outputIndex, item] of planItems(answer).entries()) {
    events.push({ type: 'response.output_item.added', output_index: outputIndex, item: item.added });
    for (const middle of item.middle) events.push({ ...middle, output_index: outputIndex });
    done.set(events.length, item.final);
    events.push({ type: 'response.output_item.done', output_index: outputIndex, item: item.final });
  }
  const { status } = statusOf(answer);
  const terminal = events.length;
  events.push({
    type: status === 'completed' ? 'response.completed' : 'response.incomplete',
    response: responseBody(answer),
  });
  return {
    frames: events.map((event, index) => frameOf(event, index)),
    terminal,
    failure(sent, failure) {
      const output = [...done].filter(([index]) => index < sent).map(([, item]) => item);
      return frameOf(
        { type: 'response.failed', response: failedResponseBody(answer, failure, output) },
        sent,
      );
    },
  };
}

function frameOf(event: Item, sequence: number): string {
  const type = String(event.type);
  return `event: ${type}\ndata: ${JSON.stringify({ ...event, sequence_number: sequence })}\n\n`;
}

/** The output items in OpenAI's order: reasoning, hosted tools' items, the message, function calls. */
function planItems(answer: FakeAnswer): PlannedItem[] {
  const { reply, body, number } = answer;
  const size = Math.max(1, reply.chunkSize ?? 4);
  const include = Array.isArray(body.include) ? (body.include as unknown[]) : [];
  const encrypted = include.includes('reasoning.encrypted_content');
  // Summaries come only when the request asks for them, as OpenAI makes them only then.
  const summarize = isPlainObject(body.reasoning) && typeof body.reasoning.summary === 'string';
  return [
    ...(reply.reasoning ?? []).map((reasoning, index) =>
      reasoningItem({
        id: reasoning.id ?? `rs_fake_${number}_${index}`,
        summary: summarize ? (reasoning.summary ?? []) : [],
        encryptedContent: encrypted ? reasoning.encryptedContent : undefined,
        size,
      }),
    ),
    ...(reply.outputItems ?? []).map(hostedItem),
    ...messageItems(answer, size),
    ...answer.toolCalls.map((call, index) => functionCallItem(`fc_fake_${number}_${index}`, call, size)),
  ];
}

function reasoningItem({
  id,
  summary,
  encryptedContent,
  size,
}: {
  id: string;
  summary: string[];
  encryptedContent: string | undefined;
  size: number;
}): PlannedItem {
  const middle = summary.flatMap((text, summaryIndex) => {
    const at = { item_id: id, summary_index: summaryIndex };
    return [
      { type: 'response.reasoning_summary_part.added', ...at, part: { type: 'summary_text', text: '' } },
      ...splitByCodePoints(text, size).map((delta) => ({
        type: 'response.reasoning_summary_text.delta',
        ...at,
        delta,
      })),
      { type: 'response.reasoning_summary_text.done', ...at, text },
      { type: 'response.reasoning_summary_part.done', ...at, part: { type: 'summary_text', text } },
    ];
  });
  return {
    // The encrypted content comes with the finished item only.
    added: { id, type: 'reasoning', summary: [] },
    middle,
    final: {
      id,
      type: 'reasoning',
      summary: summary.map((text) => ({ type: 'summary_text', text })),
      ...(encryptedContent === undefined ? {} : { encrypted_content: encryptedContent }),
    },
  };
}

/** The progress events of hosted tools' items, between added and done, by item type. */
const HOSTED_PROGRESS: Record<string, readonly string[]> = {
  web_search_call: ['in_progress', 'searching', 'completed'],
  file_search_call: ['in_progress', 'searching', 'completed'],
  code_interpreter_call: ['in_progress', 'interpreting', 'completed'],
  image_generation_call: ['in_progress', 'generating', 'completed'],
};

function hostedItem(item: Item): PlannedItem {
  const type = String(item.type);
  const phases = HOSTED_PROGRESS[type] ?? [];
  // The last phase (`completed`) only for an item that did complete.
  const sent = item.status === 'completed' ? phases : phases.slice(0, -1);
  return {
    added: 'status' in item ? { ...item, status: 'in_progress' } : item,
    middle: sent.map((phase) => ({ type: `response.${type}.${phase}`, item_id: item.id })),
    final: item,
  };
}

/** How each kind of message content part streams. */
const CONTENT_PARTS = {
  output_text: {
    part: outputText,
    deltaType: 'response.output_text.delta',
    doneType: 'response.output_text.done',
    doneField: 'text',
    extra: { logprobs: [] },
  },
  refusal: {
    part: (refusal: string): Item => ({ type: 'refusal', refusal }),
    deltaType: 'response.refusal.delta',
    doneType: 'response.refusal.done',
    doneField: 'refusal',
    extra: {},
  },
} as const;

/** The message of the content and the refusal, if there is either. */
function messageItems(answer: FakeAnswer, size: number): PlannedItem[] {
  const id = `msg_fake_${answer.number}`;
  const parts = [
    { kind: 'output_text', value: answer.reply.content ?? '' } as const,
    { kind: 'refusal', value: answer.reply.refusal ?? '' } as const,
  ].filter(({ value }) => value !== '');
  if (parts.length === 0) return [];
  const middle = parts.flatMap(({ kind, value }, contentIndex) => {
    const { part, deltaType, doneType, doneField, extra } = CONTENT_PARTS[kind];
    const at = { item_id: id, content_index: contentIndex };
    return [
      { type: 'response.content_part.added', ...at, part: part('') },
      ...splitByCodePoints(value, size).map((delta) => ({ type: deltaType, ...at, delta, ...extra })),
      { type: doneType, ...at, [doneField]: value, ...extra },
      { type: 'response.content_part.done', ...at, part: part(value) },
    ];
  });
  const message = (status: string, content: Item[]): Item => ({
    id,
    type: 'message',
    status,
    content,
    role: 'assistant',
  });
  // A message cut by the output cap or a filter is itself incomplete.
  const status = statusOf(answer).status === 'completed' ? 'completed' : 'incomplete';
  return [
    {
      added: message('in_progress', []),
      middle,
      final: message(
        status,
        parts.map(({ kind, value }) => CONTENT_PARTS[kind].part(value)),
      ),
    },
  ];
}

function functionCallItem(id: string, call: FakeAnswer['toolCalls'][number], size: number): PlannedItem {
  const item = (status: string, text: string): Item => ({
    id,
    type: 'function_call',
    status,
    arguments: text,
    call_id: call.id,
    name: call.name,
  });
  return {
    added: item('in_progress', ''),
    middle: [
      ...splitByCodePoints(call.arguments, size).map((delta) => ({
        type: 'response.function_call_arguments.delta',
        item_id: id,
        delta,
      })),
      {
        type: 'response.function_call_arguments.done',
        item_id: id,
        name: call.name,
        arguments: call.arguments,
      },
    ],
    final: item('completed', call.arguments),
  };
}

function outputText(text: string): Item {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** `incomplete` for an answer cut by the output cap (`length`) or a content filter. */
function statusOf(answer: FakeAnswer): {
  status: 'completed' | 'incomplete';
  incomplete_details: { reason: string } | null;
} {
  if (answer.finishReason === 'length')
    return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (answer.finishReason === 'content_filter')
    return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** The reply's counts in Responses terms; missing ones estimated at 4 characters a token. */
function usageOf(answer: FakeAnswer): Item | undefined {
  const { reply, body, toolCalls } = answer;
  if (reply.usage === 'omit') return undefined;
  const usage = reply.usage;
  const outputText =
    (reply.content ?? '') +
    (reply.refusal ?? '') +
    toolCalls.map((call) => call.name + call.arguments).join('');
  const inputTokens =
    usage?.promptTokens ??
    Math.ceil(JSON.stringify({ instructions: body.instructions, input: body.input }).length / 4);
  const outputTokens = usage?.completionTokens ?? Math.ceil(outputText.length / 4);
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

/** The Response object around an output, with the request's settings echoed as OpenAI does. */
function responseObject(
  answer: FakeAnswer,
  fields: {
    status: string;
    incomplete_details: { reason: string } | null;
    output: Item[];
    usage: Item | null | undefined;
    error?: FakeFailure;
  },
): Item {
  const { body, reply } = answer;
  const echo = (name: string, fallback: unknown): unknown => body[name] ?? fallback;
  const reasoning = isPlainObject(body.reasoning) ? body.reasoning : {};
  return {
    id: `resp_fake_${answer.number}`,
    object: 'response',
    created_at: answer.created,
    status: fields.status,
    completed_at: fields.status === 'completed' ? answer.created : null,
    background: false,
    error: fields.error ?? null,
    incomplete_details: fields.incomplete_details,
    instructions: echo('instructions', null),
    max_output_tokens: echo('max_output_tokens', null),
    max_tool_calls: echo('max_tool_calls', null),
    model: reply.model ?? (typeof body.model === 'string' ? body.model : 'gpt-4o-mini'),
    output: fields.output,
    parallel_tool_calls: echo('parallel_tool_calls', true),
    previous_response_id: echo('previous_response_id', null),
    prompt_cache_key: echo('prompt_cache_key', null),
    reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
    safety_identifier: echo('safety_identifier', null),
    service_tier: 'default',
    store: echo('store', true),
    temperature: echo('temperature', 1),
    text: echo('text', { format: { type: 'text' }, verbosity: 'medium' }),
    tool_choice: echo('tool_choice', 'auto'),
    tools: echo('tools', []),
    top_logprobs: echo('top_logprobs', 0),
    top_p: echo('top_p', 1),
    truncation: echo('truncation', 'disabled'),
    // 'omit' sends no usage at all, not even a null.
    ...(fields.usage === undefined ? {} : { usage: fields.usage }),
    user: echo('user', null),
    metadata: echo('metadata', {}),
  };
}

/**
 * The real API's check of `input` when no stored response precedes it: a tool output must answer
 * a call among the input items. Returns the 400's message and param, or undefined.
 */
export function checkResponsesInput(
  body: Record<string, unknown>,
): { message: string; param: string } | undefined {
  if (!Array.isArray(body.input) || body.previous_response_id != null || body.conversation != null)
    return undefined;
  const items = (body.input as unknown[]).filter(isPlainObject);
  const outputs = new Map<unknown, string>([
    ['function_call_output', 'function call output'],
    ['custom_tool_call_output', 'custom tool call output'],
  ]);
  const calls = new Set<unknown>(
    items
      .filter((item) => !outputs.has(item.type))
      .map((item) => item.call_id)
      .filter((id) => typeof id === 'string'),
  );
  for (const item of items) {
    const kind = outputs.get(item.type);
    if (kind !== undefined && !calls.has(item.call_id))
      return {
        message: `No tool call found for ${kind} with call_id ${String(item.call_id)}.`,
        param: 'input',
      };
  }
  return undefined;
}
