/**
 * A gateway answer as OpenAI's Responses API writes it (the edge's other half, after
 * responses-format.ts reads the request): a Responses object, or its event stream. Calls come
 * back in the terms their tools were declared in (responses-tools.ts); reasoning as Keel's
 * envelope (responses-reasoning.ts) or, from a Responses deployment, OpenAI's items as they came,
 * in their places (turn-order.ts).
 */
import type {
  ModelResponse,
  ModelStreamEvent,
  OpenAIOutputItem,
  ReasoningBlock,
  ToolCall,
  Usage,
} from '../../model/model.js';
import { layoutTurn, type Placed } from '../../model/turn-order.js';
import type { GatewayErrorClass, StreamEncoder } from './gateway-http-errors.js';
import { RESPONSES_WIRE_FIELDS, type ResponsesEcho } from './responses-format.js';
import { toOpenAIError } from './openai-format.js';
import { encodeReasoning } from './responses-reasoning.js';
import { createCustomInputStream, declaredCall, type ResponsesToolNames } from './responses-tools.js';

/** Identity of one answer, shared by its JSON body or all its events. */
export interface ResponseIdentity {
  /** `resp_...` */
  id: string;
  /** Epoch seconds. */
  createdAt: number;
  /** The route name the caller asked for. */
  model: string;
  echo: ResponsesEcho;
}

/** OpenAI's Responses usage object. */
function usageOf(usage: Usage): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedInputTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

type OutputItem = Record<string, unknown>;

function messageItemOf(id: string, text: string, status: string): OutputItem {
  return {
    id,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [outputTextOf(text)],
  };
}

/** A reasoning item: its blocks as Keel's `encrypted_content`, no summary (none is made). */
function reasoningItemOf(id: string, blocks: readonly ReasoningBlock[], status: string): OutputItem {
  return {
    id,
    type: 'reasoning',
    summary: [],
    ...(status === 'in_progress' ? {} : { encrypted_content: encodeReasoning(blocks) }),
  };
}

function outputTextOf(text: string): Record<string, unknown> {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/**
 * A tool call as the caller declared the tool: a `function_call` (with its `namespace` when it
 * was declared in one) or a `custom_tool_call` with the free-form `input`.
 */
function toolCallItemOf(id: string, call: ToolCall, status: string, names: ResponsesToolNames): OutputItem {
  const declared = declaredCall(call, names);
  const done = status !== 'in_progress';
  return {
    id,
    type: declared.kind === 'custom' ? 'custom_tool_call' : 'function_call',
    status,
    call_id: call.id,
    ...(declared.namespace === undefined ? {} : { namespace: declared.namespace }),
    name: declared.name,
    ...(declared.kind === 'custom'
      ? { input: done ? declared.input : '' }
      : { arguments: done ? declared.input : '' }),
  };
}

/** The id of a tool call's output item: `ctc_` for a custom tool's, `fc_` for a function's. */
function toolCallItemId(
  suffix: string,
  index: number,
  name: string | undefined,
  names: ResponsesToolNames,
): string {
  return `${names.get(name ?? '')?.kind === 'custom' ? 'ctc' : 'fc'}_${suffix}_${index}`;
}

/** `incomplete` when the answer was cut (length or a content filter), else `completed`. */
function statusOf(response: ModelResponse): {
  status: 'completed' | 'incomplete';
  incomplete_details: { reason: string } | null;
} {
  if (response.finishReason === 'length')
    return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (response.finishReason === 'content_filter')
    return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** The Responses object around an output (also the in-progress one a stream starts with). */
function responseObject(
  identity: ResponseIdentity,
  fields: {
    status: string;
    output: OutputItem[];
    usage: Record<string, unknown> | null;
    incomplete_details?: { reason: string } | null;
    error?: { code: string; message: string } | null;
  },
): Record<string, unknown> {
  const { echo } = identity;
  return {
    id: identity.id,
    object: 'response',
    created_at: identity.createdAt,
    status: fields.status,
    background: false,
    error: fields.error ?? null,
    incomplete_details: fields.incomplete_details ?? null,
    instructions: echo.instructions,
    max_output_tokens: echo.maxOutputTokens,
    max_tool_calls: null,
    model: identity.model,
    output: fields.output,
    parallel_tool_calls: echo.parallelToolCalls,
    previous_response_id: null,
    reasoning: { effort: echo.reasoningEffort, summary: null },
    service_tier: 'default',
    // Keel stores no responses, whatever the request's `store` said.
    store: false,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.toolChoice,
    tools: echo.tools,
    top_logprobs: 0,
    top_p: echo.topP,
    truncation: 'disabled',
    usage: fields.usage,
    user: echo.user,
    metadata: echo.metadata,
  };
}

/**
 * An OpenAI item as the caller gets it back: as it came, but a reasoning item's encrypted content
 * only when `include` asked for it (as OpenAI answers).
 */
function openAIItemOf(item: OpenAIOutputItem, includeReasoning: boolean): OutputItem {
  if (item.type !== 'reasoning' || includeReasoning) return item;
  const { encrypted_content: _content, ...rest } = item;
  return rest;
}

/**
 * The output items of an answer's reasoning, in order: each OpenAI item as it came, and each run
 * of Anthropic blocks as one Keel reasoning item (when `include` asked for reasoning).
 */
function reasoningItemsOf(
  blocks: readonly ReasoningBlock[],
  suffix: string,
  includeReasoning: boolean,
): Placed<OutputItem>[] {
  const items: Placed<OutputItem>[] = [];
  let run: ReasoningBlock[] = [];
  const flush = () => {
    if (run.length > 0 && includeReasoning) {
      const id = items.length === 0 ? `rs_${suffix}` : `rs_${suffix}_${items.length}`;
      items.push({ value: reasoningItemOf(id, run, 'completed') });
    }
    run = [];
  };
  for (const block of blocks) {
    if (block.type !== 'openai_item') run.push(block);
    else {
      flush();
      items.push({ position: block.position, value: openAIItemOf(block.item, includeReasoning) });
    }
  }
  flush();
  return items;
}

/**
 * A Responses object for a gateway answer; item ids are derived from the response id. OpenAI's
 * items keep their places among the text and calls (turn-order.ts); Keel's come first.
 */
export function toResponse(response: ModelResponse, identity: ResponseIdentity): Record<string, unknown> {
  const suffix = identity.id.slice('resp_'.length);
  const rest: OutputItem[] = [];
  if (response.message.content !== '')
    rest.push(messageItemOf(`msg_${suffix}`, response.message.content, 'completed'));
  const names = identity.echo.toolNames;
  for (const [index, call] of (response.message.toolCalls ?? []).entries())
    rest.push(toolCallItemOf(toolCallItemId(suffix, index, call.name, names), call, 'completed', names));
  const output = layoutTurn(
    reasoningItemsOf(response.message.reasoning ?? [], suffix, identity.echo.includeReasoning),
    rest,
  );
  return responseObject(identity, { ...statusOf(response), output, usage: usageOf(response.usage) });
}

interface StreamedReasoning {
  kind: 'reasoning';
  outputIndex: number;
  id: string;
  blocks: ReasoningBlock[];
  open: boolean;
}
/** An OpenAI item, sent whole. */
interface StreamedItem {
  kind: 'item';
  outputIndex: number;
  item: OutputItem;
  open: false;
}
interface StreamedMessage {
  kind: 'message';
  outputIndex: number;
  id: string;
  text: string;
  open: boolean;
}
interface StreamedCall {
  kind: 'call';
  outputIndex: number;
  id: string;
  call: ToolCall;
  open: boolean;
  /** A custom tool's: its input, decoded from the arguments as they come, and how much was sent. */
  custom?: { decode: (argumentsDelta: string) => string; sent: string };
}

/**
 * Creates the event encoder of one streamed answer, with OpenAI's Responses event types and a
 * `sequence_number` on each: `response.created` and `response.in_progress` first; text as a
 * `message` item (`output_item.added`, `content_part.added`, `output_text.delta`s, then the
 * `.done` events); each tool call as a `function_call` item with `function_call_arguments.delta`s,
 * or a call of a custom tool as a `custom_tool_call` item with `custom_tool_call_input.delta`s
 * (its input decoded from the stand-in function's arguments as they stream); `response.completed` (or `response.incomplete` for a cut answer) last, with the whole response.
 * A `finish` carrying text or calls no delta announced (a cached answer replayed) sends them whole
 * first. An error after the first byte is an `error` event and a `response.failed`.
 */
export function createResponsesEventEncoder(identity: ResponseIdentity): StreamEncoder {
  const suffix = identity.id.slice('resp_'.length);
  let sequence = 0;
  const event = (type: string, data: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: sequence++ })}\n\n`;
  const items: Array<StreamedReasoning | StreamedMessage | StreamedCall | StreamedItem> = [];
  let reasoning: StreamedReasoning | undefined;
  /** Whether any reasoning event came, so a `finish` does not hand the reasoning over again. */
  let reasoningStreamed = false;
  const calls = new Map<number, StreamedCall>();
  let message: StreamedMessage | undefined;
  let messages = 0;
  const names = identity.echo.toolNames;

  const itemOf = (
    item: StreamedReasoning | StreamedMessage | StreamedCall | StreamedItem,
    status: string,
  ): OutputItem =>
    item.kind === 'reasoning'
      ? reasoningItemOf(item.id, item.blocks, status)
      : item.kind === 'message'
        ? messageItemOf(item.id, item.text, status)
        : item.kind === 'call'
          ? toolCallItemOf(item.id, item.call, status, names)
          : item.item;

  /** An OpenAI item, whole: announced and done at once, in its place. */
  const openAIItem = (item: OpenAIOutputItem): string => {
    const out = closeReasoning() + closeMessage();
    const outputIndex = items.length;
    const sent = openAIItemOf(item, identity.echo.includeReasoning);
    items.push({ kind: 'item', outputIndex, item: sent, open: false });
    return (
      out +
      event('response.output_item.added', { output_index: outputIndex, item: sent }) +
      event('response.output_item.done', { output_index: outputIndex, item: sent })
    );
  };

  /** A reasoning block's pieces, gathered into one reasoning item (sent whole when it closes). */
  const reasoningDelta = (delta: Extract<ModelStreamEvent, { type: 'reasoning-delta' }>): string => {
    reasoningStreamed = true;
    if (delta.kind === 'openai_item') return delta.item === undefined ? '' : openAIItem(delta.item);
    if (!identity.echo.includeReasoning) return '';
    let out = '';
    if (reasoning === undefined) {
      reasoning = {
        kind: 'reasoning',
        outputIndex: items.length,
        id: `rs_${suffix}`,
        blocks: [],
        open: true,
      };
      items.push(reasoning);
      out += event('response.output_item.added', {
        output_index: reasoning.outputIndex,
        item: itemOf(reasoning, 'in_progress'),
      });
    }
    if (!reasoning.open) return out;
    if (delta.kind === 'thinking')
      reasoning.blocks[delta.index] = { type: 'thinking', text: '', signature: '' };
    else if (delta.kind === 'redacted_thinking')
      reasoning.blocks[delta.index] = { type: 'redacted_thinking', data: '' };
    const block = reasoning.blocks[delta.index];
    if (block?.type === 'thinking') {
      block.text += delta.text ?? '';
      block.signature += delta.signature ?? '';
    } else if (block?.type === 'redacted_thinking') block.data += delta.data ?? '';
    return out;
  };
  const closeReasoning = (): string => {
    if (reasoning?.open !== true) return '';
    reasoning.open = false;
    return event('response.output_item.done', {
      output_index: reasoning.outputIndex,
      item: itemOf(reasoning, 'completed'),
    });
  };

  const closeMessage = (): string => {
    if (message === undefined) return '';
    const item = message;
    message = undefined;
    item.open = false;
    const at = { item_id: item.id, output_index: item.outputIndex, content_index: 0 };
    return (
      event('response.output_text.done', { ...at, text: item.text, logprobs: [] }) +
      event('response.content_part.done', { ...at, part: outputTextOf(item.text) }) +
      event('response.output_item.done', { output_index: item.outputIndex, item: itemOf(item, 'completed') })
    );
  };
  const text = (delta: string): string => {
    let out = closeReasoning();
    if (message === undefined) {
      message = {
        kind: 'message',
        outputIndex: items.length,
        id: messages === 0 ? `msg_${suffix}` : `msg_${suffix}_${messages}`,
        text: '',
        open: true,
      };
      messages += 1;
      items.push(message);
      const at = { item_id: message.id, output_index: message.outputIndex, content_index: 0 };
      out +=
        event('response.output_item.added', {
          output_index: message.outputIndex,
          item: itemOf(message, 'in_progress'),
        }) + event('response.content_part.added', { ...at, part: outputTextOf('') });
    }
    message.text += delta;
    return (
      out +
      event('response.output_text.delta', {
        item_id: message.id,
        output_index: message.outputIndex,
        content_index: 0,
        delta,
        logprobs: [],
      })
    );
  };
  const callDelta = (
    index: number,
    id: string | undefined,
    name: string | undefined,
    delta: string,
  ): string => {
    let out = '';
    let streamed = calls.get(index);
    if (streamed === undefined) {
      out += closeReasoning() + closeMessage();
      streamed = {
        kind: 'call',
        outputIndex: items.length,
        id: toolCallItemId(suffix, index, name, names),
        call: { id: id ?? `call_${suffix}_${index}`, name: name ?? '', arguments: '' },
        open: true,
        ...(names.get(name ?? '')?.kind === 'custom'
          ? { custom: { decode: createCustomInputStream(), sent: '' } }
          : {}),
      };
      calls.set(index, streamed);
      items.push(streamed);
      out += event('response.output_item.added', {
        output_index: streamed.outputIndex,
        item: itemOf(streamed, 'in_progress'),
      });
    }
    if (delta === '') return out;
    streamed.call.arguments += delta;
    const at = { item_id: streamed.id, output_index: streamed.outputIndex };
    if (streamed.custom === undefined)
      return out + event('response.function_call_arguments.delta', { ...at, delta });
    const input = streamed.custom.decode(delta);
    if (input === '') return out;
    streamed.custom.sent += input;
    return out + event('response.custom_tool_call_input.delta', { ...at, delta: input });
  };
  const closeCall = (streamed: StreamedCall): string => {
    streamed.open = false;
    const at = { item_id: streamed.id, output_index: streamed.outputIndex };
    const declared = declaredCall(streamed.call, names);
    let done: string;
    if (streamed.custom === undefined)
      done = event('response.function_call_arguments.done', {
        ...at,
        name: declared.name,
        arguments: streamed.call.arguments,
      });
    else {
      // Whatever the stream could not decode on the way (arguments of another shape) comes now.
      const { sent } = streamed.custom;
      const rest = declared.input.startsWith(sent) ? declared.input.slice(sent.length) : '';
      done =
        (rest === '' ? '' : event('response.custom_tool_call_input.delta', { ...at, delta: rest })) +
        event('response.custom_tool_call_input.done', { ...at, input: declared.input });
    }
    return (
      done +
      event('response.output_item.done', {
        output_index: streamed.outputIndex,
        item: itemOf(streamed, 'completed'),
      })
    );
  };

  return {
    start() {
      const response = responseObject(identity, { status: 'in_progress', output: [], usage: null });
      return event('response.created', { response }) + event('response.in_progress', { response });
    },
    encode(modelEvent) {
      switch (modelEvent.type) {
        case 'text-delta':
          return modelEvent.text === '' ? '' : text(modelEvent.text);
        case 'reasoning-delta':
          return reasoningDelta(modelEvent);
        case 'tool-call-delta':
          return callDelta(modelEvent.index, modelEvent.id, modelEvent.name, modelEvent.argumentsDelta);
        case 'finish': {
          const { response } = modelEvent;
          let out = '';
          // An answer that streamed no reasoning (a cached one) still hands it over, first.
          if (!reasoningStreamed)
            for (const [index, block] of (response.message.reasoning ?? []).entries())
              out += reasoningDelta(
                block.type === 'thinking'
                  ? {
                      type: 'reasoning-delta',
                      index,
                      kind: 'thinking',
                      text: block.text,
                      signature: block.signature,
                    }
                  : block.type === 'redacted_thinking'
                    ? { type: 'reasoning-delta', index, kind: 'redacted_thinking', data: block.data }
                    : { type: 'reasoning-delta', index, kind: 'openai_item', item: block.item },
              );
          out += closeReasoning();
          if (messages === 0 && response.message.content !== '') out += text(response.message.content);
          if (calls.size === 0)
            for (const [index, call] of (response.message.toolCalls ?? []).entries())
              out += callDelta(index, call.id, call.name, call.arguments);
          out += closeMessage();
          for (const streamed of calls.values()) if (streamed.open) out += closeCall(streamed);
          const { status, incomplete_details } = statusOf(response);
          const final = responseObject(identity, {
            status,
            incomplete_details,
            output: items.map((item) => itemOf(item, 'completed')),
            usage: usageOf(response.usage),
          });
          return (
            out +
            event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: final })
          );
        }
      }
    },
    error(errorClass: GatewayErrorClass) {
      const { error } = toOpenAIError(errorClass, RESPONSES_WIRE_FIELDS);
      const output = items.map((item) => itemOf(item, item.open ? 'incomplete' : 'completed'));
      return (
        event('error', { code: error.code, message: error.message, param: error.param }) +
        event('response.failed', {
          response: responseObject(identity, {
            status: 'failed',
            output,
            usage: null,
            error: { code: error.code ?? 'server_error', message: error.message },
          }),
        })
      );
    },
  };
}
