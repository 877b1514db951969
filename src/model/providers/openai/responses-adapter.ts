/**
 * The OpenAI Responses adapter: Keel's provider-neutral request as `POST {baseURL}/responses`
 * (OpenAI, Azure OpenAI's v1 endpoint, servers that speak the Responses API) and the answer back,
 * streaming or not. What it carries that chat completions cannot:
 *
 * - **Reasoning across turns.** Every request is stateless (`store: false`) and asks for
 *   `reasoning.encrypted_content`; each output item other than a message or a function call (a
 *   `reasoning` item, a hosted tool's `web_search_call`) comes back as an `openai_item` reasoning
 *   block, kept verbatim, and is sent back as an input item, in its place before the turn's text
 *   and calls, when the conversation continues. OpenAI's reasoning models then keep their chain
 *   of thought through a tool loop, as they do behind OpenAI's own Responses clients.
 * - **Hosted tools** (`request.openai.hostedTools`: `web_search`, `file_search`...) sent as
 *   declared, and other Responses fields (`request.openai.fields`: `prompt_cache_key`,
 *   `text.verbosity`...) merged into the body.
 *
 * The first system message is the request's `instructions`; later ones stay in place as system
 * input messages. The API takes no `stop` and no `seed`: a request with either is refused before
 * sending (`UnsupportedFieldError`), so the gateway routes it elsewhere. Like every adapter it
 * never retries; errors are those of the chat adapter, plus a `response.failed` answer (a
 * ProviderError whose status follows OpenAI's error code).
 */
import { ModelOutputError, ProviderError } from '../../../errors/model-errors.js';
import {
  toAssistantMessage,
  type ContentPart,
  type FinishReason,
  type LanguageModel,
  type Message,
  type ModelCallOptions,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type OpenAIOutputItem,
  type ReasoningBlock,
  type ToolCall,
} from '../../model.js';
import { defaultFilename } from '../../content-parts.js';
import { assertSupported, effortForBudget, findUnsupportedField } from '../../provider-capabilities.js';
import type { ProviderErrorBody } from '../../provider-http.js';
import { trustedUsage, type ReportedUsage } from '../../trusted-usage.js';
import { layoutTurn } from '../../turn-order.js';
import { connectOpenAI, readErrorBody, type OpenAIConnectionOptions } from './adapter.js';
import { OPENAI_RESPONSES_CAPABILITIES } from './capabilities.js';
import {
  responsesObjectSchema,
  responsesStreamEventSchema,
  type ResponsesObject,
  type ResponsesOutputItem,
  type ResponsesStreamEvent,
} from './responses-wire.js';

/** Options of {@link createOpenAIResponsesModel}: those of the chat adapter's connection. */
export type OpenAIResponsesModelOptions = OpenAIConnectionOptions;

/**
 * Creates a LanguageModel that talks to an OpenAI Responses endpoint. Defaults follow the
 * official SDK (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID`), as the chat adapter's.
 */
export function createOpenAIResponsesModel({
  model,
  ...connection
}: OpenAIResponsesModelOptions): LanguageModel {
  const { provider, endpoint, http } = connectOpenAI({
    model,
    ...connection,
    path: 'responses',
    readErrorBody: readResponsesErrorBody,
  });
  const check = (request: ModelRequest) =>
    assertSupported({ request, capabilities: OPENAI_RESPONSES_CAPABILITIES, provider, model });

  return {
    provider,
    modelId: model,
    unsupportedField: (request) => findUnsupportedField(request, OPENAI_RESPONSES_CAPABILITIES),

    async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint,
        body: toResponsesBody(model, request, false),
        stream: false,
        signal,
      });
      const answer = await http.readJson({
        response,
        signal,
        schema: responsesObjectSchema,
        expected: 'a response',
      });
      const assembly = createAssembly({ model, provider, label: http.label });
      for (const [index, item] of (answer.output ?? []).entries())
        for (const _ of assembly.itemDone(item, index));
      return assembly.finish(answer, request);
    },

    async *stream(request: ModelRequest, options: ModelCallOptions = {}): AsyncGenerator<ModelStreamEvent> {
      check(request);
      const { signal } = options;
      const response = await http.post({
        endpoint,
        body: toResponsesBody(model, request, true),
        stream: true,
        signal,
      });
      const assembly = createAssembly({ model, provider, label: http.label });
      for await (const event of http.readEvents({
        response,
        signal,
        schema: responsesStreamEventSchema,
        itemName: 'event',
        isComplete: () => assembly.final !== undefined,
      })) {
        yield* assembly.apply(event);
      }
      if (assembly.final === undefined) {
        throw new ModelOutputError(`${http.label}: the stream ended before response.completed.`, {
          provider,
          model,
          reason: 'stream_truncated',
        });
      }
      yield { type: 'finish', response: assembly.finish(assembly.final, request) };
    },
  };
}

/**
 * OpenAI's error body, and the Responses stream's `error` event (`{type: 'error', code, message}`,
 * which carries no `error` field).
 */
function readResponsesErrorBody(value: unknown): ProviderErrorBody | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ((value as { object?: unknown }).object === 'response') {
    // A whole Response carries `error` (null unless it failed): a failed one is the error. Only
    // then is it parsed here; every answer is parsed once, by readJson's schema.
    if ((value as { status?: unknown }).status !== 'failed') return undefined;
    const response = responsesObjectSchema.safeParse(value);
    return failureOf(response.success ? response.data.error : undefined);
  }
  const body = readErrorBody(value);
  if (body !== undefined) return body;
  const { type, code, message } = value as { type?: unknown; code?: unknown; message?: unknown };
  if (type !== 'error') return undefined;
  const text = typeof message === 'string' && message !== '' ? message : 'unknown error';
  return {
    message: typeof code === 'string' ? `${text} (${code})` : text,
    ...(typeof code === 'string' ? { status: statusOfCode(code) } : {}),
  };
}

/** The HTTP status OpenAI answers with for an error code, so that retries read it alike. */
function statusOfCode(code: string | null | undefined): number {
  switch (code) {
    case 'rate_limit_exceeded':
    case 'insufficient_quota':
      return 429;
    case 'invalid_api_key':
      return 401;
    case 'server_error':
    case 'internal_error':
    case undefined:
    case null:
      // A failure with no code is the provider's: retried, and failed over.
      return 500;
    case 'server_is_overloaded':
    case 'slow_down':
      return 503;
    default:
      return 400;
  }
}

// ---------------------------------------------------------------------------------------------
// Request translation

/** The request as a Responses body: stateless, asking for the reasoning to hand back. */
export function toResponsesBody(
  model: string,
  request: ModelRequest,
  stream: boolean,
): Record<string, unknown> {
  const { instructions, input } = toInput(request.messages);
  const body: Record<string, unknown> = {
    model,
    ...(instructions === undefined ? {} : { instructions }),
    input,
    // Keel keeps the conversation; OpenAI keeps nothing, and returns the reasoning to carry.
    store: false,
    // Asked of reasoning only: OpenAI refuses it for models that do not reason (gpt-4o, gpt-4.1).
    ...(reasons(request) ? { include: ['reasoning.encrypted_content'] } : {}),
  };
  const tools: Record<string, unknown>[] = (request.tools ?? []).map((tool) => ({
    type: 'function',
    name: tool.name,
    description: tool.description,
    parameters: tool.parameters,
    // Strict by default on this API, unlike chat completions: a schema not written for it fails.
    strict: tool.strict ?? false,
  }));
  for (const { tool } of request.openai?.hostedTools ?? []) tools.push(tool);
  if (tools.length > 0) body.tools = tools;
  if (request.toolChoice !== undefined)
    body.tool_choice =
      typeof request.toolChoice === 'string'
        ? request.toolChoice
        : { type: 'function', name: request.toolChoice.name };
  const format = request.responseFormat;
  if (format?.type === 'json')
    body.text = {
      format:
        format.schema === undefined
          ? { type: 'json_object' }
          : { type: 'json_schema', name: format.name ?? 'response', schema: format.schema, strict: true },
    };
  if (request.maxOutputTokens !== undefined) body.max_output_tokens = request.maxOutputTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  const { reasoning } = request;
  if (reasoning?.effort !== undefined) body.reasoning = { effort: reasoning.effort };
  else if (reasoning?.budgetTokens !== undefined)
    body.reasoning = { effort: effortForBudget(reasoning.budgetTokens) };
  if (request.parallelToolCalls !== undefined && tools.length > 0)
    body.parallel_tool_calls = request.parallelToolCalls;
  // The caller's own Responses fields, one level deep: `text.verbosity` joins `text.format`.
  for (const [key, value] of Object.entries(request.openai?.fields ?? {})) {
    const current = body[key];
    body[key] = isRecord(current) && isRecord(value) ? { ...current, ...value } : value;
  }
  if (stream) body.stream = true;
  return body;
}

/** Whether the request asks for reasoning, or carries reasoning of OpenAI's to continue. */
function reasons(request: ModelRequest): boolean {
  return (
    request.reasoning !== undefined ||
    request.messages.some(
      (message) =>
        message.role === 'assistant' &&
        (message.reasoning ?? []).some(
          (block) => block.type === 'openai_item' && block.item.type === 'reasoning' && sendable(block.item),
        ),
    )
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The messages as input items; a leading system message is the `instructions`. */
function toInput(messages: Message[]): {
  instructions: string | undefined;
  input: Record<string, unknown>[];
} {
  const [first, ...rest] = messages;
  const instructions = first?.role === 'system' ? first.content : undefined;
  const input: Record<string, unknown>[] = [];
  for (const message of instructions === undefined ? messages : rest) input.push(...toInputItems(message));
  return { instructions, input };
}

function toInputItems(message: Message): Record<string, unknown>[] {
  switch (message.role) {
    case 'system':
      return [{ type: 'message', role: 'system', content: message.content }];
    case 'user':
      return [
        {
          type: 'message',
          role: 'user',
          content: typeof message.content === 'string' ? message.content : message.content.map(toInputPart),
        },
      ];
    case 'assistant': {
      // OpenAI's own items in their places, as they came; Anthropic's thinking is unreadable here.
      const placed = (message.reasoning ?? []).flatMap((block) =>
        block.type === 'openai_item'
          ? [{ position: block.position, value: sendable(block.item) ? block.item : undefined }]
          : [],
      );
      const rest: Record<string, unknown>[] = [];
      if (message.content !== '')
        rest.push({
          type: 'message',
          role: 'assistant',
          content: [{ type: 'output_text', text: message.content, annotations: [] }],
        });
      for (const call of message.toolCalls ?? [])
        rest.push({ type: 'function_call', call_id: call.id, name: call.name, arguments: call.arguments });
      return layoutTurn<Record<string, unknown>>(placed, rest);
    }
    case 'tool':
      // The wire has no error flag: the tool layer states failures in the content itself.
      return [
        {
          type: 'function_call_output',
          call_id: message.toolCallId,
          output: typeof message.content === 'string' ? message.content : message.content.map(toInputPart),
        },
      ];
  }
}

/**
 * Whether an item can go back: a reasoning item without its encrypted content only refers to one
 * OpenAI would have stored, and nothing is (`store: false`), so OpenAI would refuse it.
 */
function sendable(item: OpenAIOutputItem): boolean {
  return item.type !== 'reasoning' || typeof item.encrypted_content === 'string';
}

/** A content part as the Responses API takes it. */
function toInputPart(part: ContentPart): Record<string, unknown> {
  switch (part.type) {
    case 'text':
      return { type: 'input_text', text: part.text };
    case 'image':
      return {
        type: 'input_image',
        image_url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
        detail: part.detail ?? 'auto',
      };
    case 'file':
      return part.url !== undefined
        ? {
            type: 'input_file',
            file_url: part.url,
            ...(part.filename === undefined ? {} : { filename: part.filename }),
          }
        : {
            type: 'input_file',
            file_data: `data:${part.mediaType};base64,${part.data}`,
            // OpenAI asks for a file name with file_data.
            filename: part.filename ?? defaultFilename(part.mediaType),
          };
  }
}

// ---------------------------------------------------------------------------------------------
// Response translation

interface AssemblyOptions {
  model: string;
  provider: string;
  label: string;
}

/**
 * Folds output items (whole, from an answer, or as a stream announces and completes them) into
 * the answer, yielding the stream events they make. A stream's items are identified by their
 * `output_index`; function calls are numbered in order of arrival, as `tool-call-delta` indexes.
 */
function createAssembly({ model, provider, label }: AssemblyOptions) {
  let text = '';
  let refused = false;
  /** Text items that streamed deltas, so their `output_item.done` does not repeat them. */
  const streamedText = new Set<number>();
  const reasoning: ReasoningBlock[] = [];
  const calls: { id: string; name: string; arguments: string }[] = [];
  /** A stream's function calls by output index (and item id), as call numbers. */
  const callAt = new Map<number, number>();
  const callOfItem = new Map<string, number>();

  /** The call number of a stream's function call item, by its id or its output index. */
  const callOf = (itemId: string | null | undefined, outputIndex: number | null | undefined) =>
    (itemId == null ? undefined : callOfItem.get(itemId)) ??
    (outputIndex == null ? undefined : callAt.get(outputIndex));

  function* openCall(
    item: ResponsesOutputItem,
    outputIndex: number | undefined,
  ): Generator<ModelStreamEvent, number> {
    const index = calls.length;
    const id = item.call_id ?? `call_${index}`;
    calls.push({ id, name: item.name ?? '', arguments: '' });
    if (outputIndex !== undefined) callAt.set(outputIndex, index);
    if (item.id != null) callOfItem.set(item.id, index);
    yield {
      type: 'tool-call-delta',
      index,
      id,
      ...(item.name ? { name: item.name } : {}),
      argumentsDelta: '',
    };
    return index;
  }

  function* appendArguments(index: number, delta: string): Generator<ModelStreamEvent> {
    const call = calls[index];
    if (call === undefined || delta === '') return;
    call.arguments += delta;
    yield { type: 'tool-call-delta', index, argumentsDelta: delta };
  }

  function* appendText(delta: string, isRefusal = false): Generator<ModelStreamEvent> {
    if (delta === '') return;
    refused ||= isRefusal;
    text += delta;
    yield { type: 'text-delta', text: delta };
  }

  const state = {
    /** The terminal Response object, once `response.completed` or `response.incomplete` came. */
    final: undefined as ResponsesObject | undefined,

    /** A complete output item: text, a call's full arguments, or a block kept verbatim. */
    *itemDone(item: ResponsesOutputItem, outputIndex?: number): Generator<ModelStreamEvent> {
      if (item.type === 'message') {
        if (outputIndex !== undefined && streamedText.has(outputIndex)) return;
        for (const part of item.content ?? []) {
          if (part.type === 'refusal') yield* appendText(part.refusal ?? '', true);
          else yield* appendText(part.text ?? '');
        }
      } else if (item.type === 'function_call') {
        const index = callOf(item.id, outputIndex) ?? (yield* openCall(item, outputIndex));
        const call = calls[index];
        if (call === undefined) return;
        if (item.name && call.name === '') call.name = item.name;
        // The item's arguments are the whole; what the deltas did not bring comes now.
        const whole = item.arguments ?? '';
        if (whole.startsWith(call.arguments))
          yield* appendArguments(index, whole.slice(call.arguments.length));
        else call.arguments = whole;
      } else {
        // A reasoning item or a hosted tool's call: kept as it came, in its place, for the next turn.
        const block: ReasoningBlock = {
          type: 'openai_item',
          item: item as OpenAIOutputItem,
          ...(outputIndex === undefined ? {} : { position: outputIndex }),
        };
        reasoning.push(block);
        yield {
          type: 'reasoning-delta',
          index: reasoning.length - 1,
          kind: 'openai_item',
          item: block.item,
          ...(outputIndex === undefined ? {} : { position: outputIndex }),
        };
      }
    },

    *apply(event: ResponsesStreamEvent): Generator<ModelStreamEvent> {
      const outputIndex = event.output_index ?? undefined;
      switch (event.type) {
        case 'response.output_item.added':
          if (event.item?.type === 'function_call') yield* openCall(event.item, outputIndex);
          return;
        case 'response.output_text.delta':
        case 'response.refusal.delta':
          if (outputIndex !== undefined) streamedText.add(outputIndex);
          yield* appendText(event.delta ?? '', event.type === 'response.refusal.delta');
          return;
        case 'response.function_call_arguments.delta': {
          const index = callOf(event.item_id, event.output_index);
          if (index !== undefined) yield* appendArguments(index, event.delta ?? '');
          return;
        }
        case 'response.output_item.done':
          if (event.item != null) yield* state.itemDone(event.item, outputIndex);
          return;
        case 'response.completed':
        case 'response.incomplete':
          state.final = event.response ?? {};
          return;
        case 'response.failed':
          throw failedError(event.response?.error, provider);
        default:
          // Lifecycle and per-part events (`response.created`, `content_part.*`, `*.done`,
          // reasoning summaries) add nothing the items do not bring whole.
          return;
      }
    },

    finish(answer: ResponsesObject, request: ModelRequest): ModelResponse {
      if (answer.status === 'failed') throw failedError(answer.error, provider);
      const toolCalls: ToolCall[] = calls.map((call, index) => {
        if (call.name === '') {
          throw new ModelOutputError(`${label}: the function call at position ${index} has no name.`, {
            provider,
            model,
          });
        }
        return call;
      });
      const message = toAssistantMessage(text, toolCalls, reasoning);
      return {
        message,
        finishReason: finishReasonOf(answer, toolCalls.length > 0, refused),
        usage: trustedUsage({ reported: reportedUsageOf(answer.usage), request, message, model }),
        modelId: answer.model ?? model,
      };
    },
  };
  return state;
}

type ResponseFailure = { code?: string | null; message?: string | null } | null | undefined;

/** A failed response's error as an error body: its message, and the status its code stands for. */
function failureOf(error: ResponseFailure): { message: string; status: number } {
  const code = error?.code ?? undefined;
  return {
    message: `the response failed: ${error?.message ?? 'no reason given'}${code === undefined ? '' : ` (${code})`}`,
    status: statusOfCode(code),
  };
}

/** A `response.failed` answer as the ProviderError its code stands for. */
function failedError(error: ResponseFailure, provider: string): ProviderError {
  return new ProviderError({ provider, ...failureOf(error) });
}

function finishReasonOf(answer: ResponsesObject, called: boolean, refused: boolean): FinishReason {
  if (answer.status === 'incomplete') {
    const reason = answer.incomplete_details?.reason;
    return reason === 'max_output_tokens'
      ? 'length'
      : reason === 'content_filter'
        ? 'content_filter'
        : 'other';
  }
  if (refused) return 'content_filter';
  return called ? 'tool_calls' : 'stop';
}

function reportedUsageOf(usage: ResponsesObject['usage']): ReportedUsage | undefined {
  if (usage == null) return undefined;
  return {
    inputTokens: usage.input_tokens,
    outputTokens: usage.output_tokens,
    cachedInputTokens: usage.input_tokens_details?.cached_tokens,
    reasoningTokens: usage.output_tokens_details?.reasoning_tokens,
  };
}
