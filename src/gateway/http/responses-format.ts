/**
 * OpenAI's Responses wire format at the gateway's edge (`POST /v1/responses`, plain and
 * streamed). Any route can be called this way: input items, instructions and tools are translated
 * into the gateway's provider-neutral request, whichever provider serves the route, and the
 * answer comes back as a Responses object (or its event stream: responses-output.ts). Custom and namespace tools, as
 * the Codex CLI sends them, are mapped to function tools and back by responses-tools.ts.
 *
 * Reasoning effort, parallel tool calls, `input_image` and `input_file` parts and `strict` on
 * function tools are carried into the model request; a deployment that cannot honour one is
 * skipped, and when none can the 400 names the field in Responses terms
 * ({@link RESPONSES_WIRE_FIELDS}).
 *
 * Keel stores no responses: `store` is accepted (the answer says `store: false`),
 * `previous_response_id` and `conversation` are refused. Fields the gateway cannot honour yet are
 * refused with a 400 naming them, never dropped: they are listed in one table,
 * {@link RESPONSES_FIELDS_NOT_HONOURED}, so a field can move to pass-through by leaving it.
 * Fields nobody knows yet are ignored, as the other formats do (clients send new fields before
 * servers know them).
 */
import { z } from 'zod';
import { isKeelError } from '../../errors/keel-error.js';
import { compactContent, parseDataUrl } from '../../model/content-parts.js';
import type {
  ContentPart,
  Message,
  ReasoningBlock,
  ReasoningEffort,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  OpenAIOutputItem,
} from '../../model/model.js';
import type { GatewayRequest } from '../gateway-types.js';
import { classifyGatewayError, GatewayRequestError, invalidRequest } from './gateway-http-errors.js';
import { parseBodyPart, parseRequestBody } from './parse-request-body.js';
import { decodeReasoning } from './responses-reasoning.js';
import {
  createToolCollector,
  customArgumentsOf,
  flatToolName,
  type ResponsesToolNames,
  type ToolCollector,
} from './responses-tools.js';

/**
 * A request field the gateway cannot honour yet, and the values of it that are harmless (the
 * defaults): any other value is refused with a 400 naming the field. To pass a field through
 * once the model request carries it, remove its row here and translate it in
 * {@link parseResponsesRequest}.
 */
export interface FieldNotHonoured {
  field: string;
  /** True for a value that asks nothing the gateway does not do (null and absent always are). */
  harmless?: (value: unknown) => boolean;
  /** Why, appended to the error message. */
  reason: string;
}

const emptyArray = (value: unknown) => Array.isArray(value) && value.length === 0;

/** The Responses fields refused for now, with their harmless values. */
export const RESPONSES_FIELDS_NOT_HONOURED: readonly FieldNotHonoured[] = [
  {
    field: 'previous_response_id',
    reason: 'this gateway stores no responses; send the whole conversation as input items.',
  },
  {
    field: 'conversation',
    reason: 'this gateway stores no conversations; send the whole conversation as input items.',
  },
  { field: 'prompt', reason: 'stored prompt templates are not supported by this gateway.' },
  {
    field: 'background',
    harmless: (value) => value === false,
    reason: 'background responses are not supported.',
  },
  {
    field: 'reasoning.summary',
    // `auto` leaves it to the model whether to summarize (Codex sends it for models it does not
    // know); the gateway makes no reasoning summaries, which `auto` allows.
    harmless: (value) => value === 'auto',
    reason: 'this gateway makes no reasoning summaries (auto is accepted).',
  },
  {
    field: 'reasoning.generate_summary',
    reason: 'this gateway makes no reasoning summaries.',
  },
  { field: 'prompt_cache_retention', reason: 'prompt-cache retention is not passed to providers.' },
  { field: 'prompt_cache_options', reason: 'prompt-cache options are not passed to providers.' },
  { field: 'context_management', reason: 'context management is not supported by this gateway.' },
  {
    field: 'include',
    // Reasoning items carry their content (a model's signed thinking) when asked for, as Codex
    // and the AI SDK ask with store: false (responses-reasoning.ts).
    harmless: (value) =>
      emptyArray(value) ||
      (Array.isArray(value) && value.every((item) => item === 'reasoning.encrypted_content')),
    reason: 'no extra output data (include) is supported by this gateway, but reasoning.encrypted_content.',
  },
  { field: 'max_tool_calls', reason: 'max_tool_calls is not supported by this gateway.' },
  { field: 'top_logprobs', harmless: (value) => value === 0, reason: 'logprobs are not supported.' },
  {
    field: 'truncation',
    harmless: (value) => value === 'disabled',
    reason: 'only truncation: "disabled" (the default) is supported.',
  },
  {
    field: 'service_tier',
    harmless: (value) => value === 'auto' || value === 'default',
    reason: 'service tiers are not passed to providers.',
  },
];

/**
 * Fields without a provider-neutral counterpart, each with why: the documented drops (issue 16's
 * rule: such a field is dropped by a table, never by accident). Those marked `toResponses` reach
 * deployments that speak the Responses API as given (`ModelRequest.openai.fields`) and are
 * dropped for the others; the rest are dropped for all. docs/gateway.md lists them; any other
 * field the gateway cannot honour is refused.
 */
export const RESPONSES_FIELDS_DROPPED: readonly { field: string; toResponses: boolean; reason: string }[] = [
  {
    field: 'text.verbosity',
    toResponses: true,
    reason:
      'a style preference (low, medium, high) with no counterpart in the provider-neutral request; Codex sends low by default.',
  },
  {
    field: 'reasoning.summary',
    toResponses: true,
    reason: 'reasoning summaries are made by OpenAI alone (other values than auto are refused).',
  },
  {
    field: 'reasoning.context',
    toResponses: false,
    reason:
      "which turns' reasoning items OpenAI keeps; the caller sends back the reasoning items it wants carried.",
  },
  {
    field: 'prompt_cache_key',
    toResponses: true,
    reason: "a routing hint for OpenAI's prompt cache; caching applies without it.",
  },
  {
    field: 'client_metadata',
    toResponses: false,
    reason: "Codex's session, turn and window ids: bookkeeping.",
  },
];

/** The value of a dotted field (`text.verbosity`) in a body, or undefined. */
function fieldAt(body: unknown, field: string): unknown {
  let value = body;
  for (const key of field.split('.'))
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

/** The fields of the table marked `toResponses` that the body sets, nested as in the body. */
function responsesFieldsOf(body: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const { field, toResponses } of RESPONSES_FIELDS_DROPPED) {
    if (!toResponses) continue;
    const keys = field.split('.');
    const value = fieldAt(body, field);
    if (value === undefined || value === null) continue;
    let target = fields;
    for (const key of keys.slice(0, -1)) target = (target[key] ??= {}) as Record<string, unknown>;
    target[keys.at(-1) ?? field] = value;
  }
  return fields;
}

/** Refuses the first field of the table that the body sets to anything but a harmless value. */
export function refuseFieldsNotHonoured(body: unknown): void {
  if (typeof body !== 'object' || body === null) return;
  for (const { field, harmless, reason } of RESPONSES_FIELDS_NOT_HONOURED) {
    const value = fieldAt(body, field);
    if (value === undefined || value === null || harmless?.(value) === true) continue;
    throw invalidRequest(`${field}: not supported: ${reason}`, field, 'unsupported_parameter');
  }
}

const contentPart = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  refusal: z.string().optional(),
  // input_image
  image_url: z.string().min(1).nullish(),
  detail: z.enum(['auto', 'low', 'high']).nullish(),
  // input_file (file_id on images too)
  file_data: z.string().min(1).nullish(),
  file_id: z.string().nullish(),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
});

const messageItem = z.object({
  type: z.literal('message').optional(),
  id: z.string().nullish(),
  status: z.string().nullish(),
  role: z.enum(['user', 'system', 'developer', 'assistant']),
  content: z.union([z.string(), z.array(contentPart)]),
});

const functionCallItem = z.object({
  type: z.literal('function_call'),
  id: z.string().nullish(),
  status: z.string().nullish(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().min(1).nullish(),
  arguments: z.string(),
});

const customToolCallItem = z.object({
  type: z.literal('custom_tool_call'),
  id: z.string().nullish(),
  status: z.string().nullish(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().min(1).nullish(),
  input: z.string(),
});

const functionCallOutputItem = z.object({
  type: z.enum(['function_call_output', 'custom_tool_call_output']),
  id: z.string().nullish(),
  status: z.string().nullish(),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(contentPart)]),
});

const reasoningItem = z.looseObject({
  type: z.literal('reasoning'),
  id: z.string().nullish(),
  encrypted_content: z.string().nullish(),
});

/**
 * Output items of OpenAI's hosted tools, sent back as the conversation goes on: carried verbatim
 * to Responses deployments (an `openai_item` reasoning block), dropped by the others.
 */
const HOSTED_CALL_ITEM_TYPES = [
  'web_search_call',
  'file_search_call',
  'code_interpreter_call',
  'image_generation_call',
  'tool_search_call',
  'tool_search_output',
  'mcp_call',
  'mcp_list_tools',
] as const;

const hostedCallItem = z.looseObject({ type: z.enum(HOSTED_CALL_ITEM_TYPES), id: z.string().nullish() });

/** Tools declared in the conversation (Codex's default mode): added to the request's tools. */
const additionalToolsItem = z.object({
  type: z.literal('additional_tools'),
  id: z.string().nullish(),
  role: z.string().nullish(),
  tools: z.array(z.unknown()),
});

const INPUT_ITEM_TYPES = [
  'message',
  'function_call',
  'function_call_output',
  'custom_tool_call',
  'custom_tool_call_output',
  'additional_tools',
  'reasoning',
  ...HOSTED_CALL_ITEM_TYPES,
] as const;

/** The top-level fields of the table: declared, so that their harmless values pass the schema. */
const tableFields = Object.fromEntries(
  RESPONSES_FIELDS_NOT_HONOURED.filter(({ field }) => !field.includes('.')).map(({ field }) => [
    field,
    z.unknown().optional(),
  ]),
);

/**
 * A Responses body. Strict, as on chat completions and messages: a field the gateway does not
 * know is refused by name (`unsupported_field`), never dropped.
 */
const responsesBody = z.strictObject({
  ...tableFields,
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.unknown())]),
  instructions: z.string().nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.enum(['function', 'custom']), name: z.string().min(1) }),
    ])
    .nullish(),
  text: z
    .object({
      format: z
        .discriminatedUnion('type', [
          z.object({ type: z.literal('text') }),
          z.object({ type: z.literal('json_object') }),
          z.object({
            type: z.literal('json_schema'),
            name: z.string().min(1),
            schema: z.record(z.string(), z.unknown()),
            description: z.string().nullish(),
            strict: z.boolean().nullish(),
          }),
        ])
        .nullish(),
      // To Responses deployments only (RESPONSES_FIELDS_DROPPED).
      verbosity: z.enum(['low', 'medium', 'high']).nullish(),
    })
    .nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  reasoning: z
    .object({
      effort: z.string().nullish(),
      summary: z.string().nullish(),
      generate_summary: z.string().nullish(),
      // Dropped (RESPONSES_FIELDS_DROPPED).
      context: z.string().nullish(),
    })
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_obfuscation: z.boolean().nullish() }).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  store: z.boolean().nullish(),
  // A routing hint for OpenAI's prompt cache: it changes no answer and no price, and caching
  // applies without it. Sent to Responses deployments only (RESPONSES_FIELDS_DROPPED).
  prompt_cache_key: z.string().nullish(),
  // Codex's session, turn and window ids: bookkeeping that changes no answer (not forwarded).
  client_metadata: z.record(z.string(), z.string()).nullish(),
});

type ResponsesBody = z.infer<typeof responsesBody>;

/** A Responses request as the gateway will make it, and what its answer echoes back. */
export interface ResponsesCall {
  request: GatewayRequest;
  stream: boolean;
  /** OpenAI's `user` (or `safety_identifier`): an end-user id, for the caller's attribution. */
  user?: string;
  /** The request's settings, echoed in the Responses object as OpenAI does. */
  echo: ResponsesEcho;
}

/** The request's settings a Responses object repeats. */
export interface ResponsesEcho {
  instructions: string | null;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  toolChoice: unknown;
  tools: unknown[];
  text: unknown;
  metadata: Record<string, string>;
  user: string | null;
  parallelToolCalls: boolean;
  reasoningEffort: ReasoningEffort | null;
  /** Each upstream tool name and the declared tool it stands for, to answer in the caller's terms. */
  toolNames: ResponsesToolNames;
  /** `include` asks for `reasoning.encrypted_content`: reasoning blocks come back as reasoning items. */
  includeReasoning: boolean;
}

/**
 * Validates a Responses body and translates it. Throws a 400 `GatewayRequestError` naming the
 * field at fault: an unknown item type, a hosted tool inside a namespace,
 * a file by id or URL and every field
 * of {@link RESPONSES_FIELDS_NOT_HONOURED} are refused rather than dropped.
 */
export function parseResponsesRequest(body: unknown): ResponsesCall {
  refuseFieldsNotHonoured(body);
  const parsed = parseRequestBody(responsesBody, body);

  const messages: Message[] = [];
  if (parsed.instructions != null && parsed.instructions !== '')
    messages.push({ role: 'system', content: parsed.instructions });
  const tools = createToolCollector();
  tools.add(parsed.tools ?? [], 'tools');
  if (typeof parsed.input === 'string') messages.push({ role: 'user', content: parsed.input });
  else appendItems(messages, parsed.input, tools);
  if (messages.length === 0) throw invalidRequest('input: must contain at least one item.', 'input');

  const request: GatewayRequest = { model: parsed.model, messages };
  if (tools.specs.length > 0) request.tools = tools.specs;
  const toolChoice = toolChoiceOf(parsed.tool_choice);
  if (toolChoice !== undefined) request.toolChoice = toolChoice;
  const responseFormat = responseFormatOf(parsed.text?.format);
  if (responseFormat !== undefined) request.responseFormat = responseFormat;
  if (parsed.max_output_tokens != null) request.maxOutputTokens = parsed.max_output_tokens;
  if (parsed.temperature != null) request.temperature = parsed.temperature;
  if (parsed.top_p != null) request.topP = parsed.top_p;
  const effort = effortOf(parsed.reasoning?.effort);
  if (effort !== undefined) request.reasoning = { effort };
  if (parsed.parallel_tool_calls != null) request.parallelToolCalls = parsed.parallel_tool_calls;
  const fields = responsesFieldsOf(body);
  // A caller that keeps OpenAI's reasoning (Codex) asks for it whatever its effort says.
  if (includesReasoning(body)) fields.include = ['reasoning.encrypted_content'];
  if (tools.hosted.length > 0 || Object.keys(fields).length > 0)
    request.openai = {
      ...(tools.hosted.length === 0 ? {} : { hostedTools: tools.hosted }),
      ...(Object.keys(fields).length === 0 ? {} : { fields }),
    };

  const user = parsed.user ?? parsed.safety_identifier ?? undefined;
  return {
    request,
    stream: parsed.stream === true,
    ...(user == null ? {} : { user }),
    echo: {
      instructions: parsed.instructions ?? null,
      maxOutputTokens: parsed.max_output_tokens ?? null,
      temperature: parsed.temperature ?? null,
      topP: parsed.top_p ?? null,
      toolChoice: parsed.tool_choice ?? 'auto',
      tools: parsed.tools ?? [],
      text: { format: parsed.text?.format ?? { type: 'text' } },
      metadata: parsed.metadata ?? {},
      user: parsed.user ?? null,
      parallelToolCalls: parsed.parallel_tool_calls ?? true,
      reasoningEffort: effort ?? null,
      toolNames: tools.names,
      includeReasoning: includesReasoning(body),
    },
  };
}

/** Whether the body's `include` asks for reasoning items' encrypted content. */
function includesReasoning(body: unknown): boolean {
  const include = (body as { include?: unknown }).include;
  return Array.isArray(include) && include.includes('reasoning.encrypted_content');
}

const EFFORTS: readonly ReasoningEffort[] = ['minimal', 'low', 'medium', 'high'];

function effortOf(value: string | null | undefined): ReasoningEffort | undefined {
  if (value == null) return undefined;
  if (EFFORTS.includes(value as ReasoningEffort)) return value as ReasoningEffort;
  throw invalidRequest(
    `reasoning.effort: ${JSON.stringify(value)} is not supported by this gateway; send ${EFFORTS.join(', ')}.`,
    'reasoning.effort',
    'unsupported_parameter',
  );
}

/**
 * `UnsupportedField.field` in Responses terms, for the 400 naming a field that no deployment of
 * the route can honour.
 */
export const RESPONSES_WIRE_FIELDS: Readonly<Record<string, string>> = {
  'reasoning.effort': 'reasoning.effort',
  'reasoning.budgetTokens': 'reasoning.effort',
  parallelToolCalls: 'parallel_tool_calls',
  'content.image': 'input_image',
  'content.image.url': 'input_image.image_url',
  'content.image.detail': 'input_image.detail',
  'content.image.mediaType': 'input_image.image_url',
  'content.file': 'input_file',
  'content.file.url': 'input_file.file_data',
  'content.file.mediaType': 'input_file.file_data',
  'tools.hosted': 'tools',
};

/**
 * A provider's refusal of a field (`unsupported_field`) as a 400 of the Responses edge, its param
 * the Responses field; any other error as it is.
 */
export function inResponsesTerms(error: unknown): unknown {
  if (!isKeelError(error) || error.code !== 'unsupported_field') return error;
  const errorClass = classifyGatewayError(error);
  if (errorClass.field === undefined) return error;
  const param = RESPONSES_WIRE_FIELDS[errorClass.field] ?? errorClass.field;
  return new GatewayRequestError({
    // A hosted tool no deployment of the route can run: refused as the tool it is.
    code: errorClass.field === 'tools.hosted' ? 'unsupported_tool' : 'unsupported_field',
    message: `${param}: ${errorClass.message}`,
    param,
  });
}

/**
 * Input items in order; a tool call joins the assistant message just before it. Custom tool calls
 * become calls of their function stand-in, namespaced calls take their flattened name
 * (responses-tools.ts). `additional_tools` items add their tools to the request's. `reasoning`
 * items Keel wrote carry a model's reasoning blocks back (responses-reasoning.ts); OpenAI's own
 * and hosted tools' call items are carried verbatim as `openai_item` blocks, which only a
 * Responses deployment sends on.
 */
function appendItems(messages: Message[], items: unknown[], tools: ToolCollector): void {
  const toolNames = new Map<string, string>();
  for (const [index, raw] of items.entries()) {
    const param = `input.${index}`;
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    if (type === 'item_reference')
      throw invalidRequest(
        `${param}.type: item references are not supported: this gateway stores no items; send the item itself (the AI SDK does with providerOptions.openai.store = false).`,
        `${param}.type`,
        'unsupported_item',
      );
    if (type !== undefined && !INPUT_ITEM_TYPES.includes(type as (typeof INPUT_ITEM_TYPES)[number]))
      throw invalidRequest(
        `${param}.type: input items of type ${JSON.stringify(type)} are not supported; send message, function_call, function_call_output, custom_tool_call, custom_tool_call_output, additional_tools, reasoning or hosted tool call (${HOSTED_CALL_ITEM_TYPES.join(', ')}) items.`,
        `${param}.type`,
        'unsupported_item',
      );
    if (type === 'reasoning' || HOSTED_CALL_ITEMS.has(type)) {
      // Keel's own reasoning item (a model's signed thinking) stands for its blocks; anyone
      // else's (OpenAI's encrypted content) and a hosted tool's call are carried as they came.
      const item =
        type === 'reasoning'
          ? parseBodyPart(reasoningItem, raw, param)
          : parseBodyPart(hostedCallItem, raw, param);
      if (item.type === 'reasoning') {
        // Without its encrypted content a reasoning item only refers to one OpenAI stored, and
        // nothing is stored (store: false): it is dropped.
        if (item.encrypted_content == null) continue;
        const keels = decodeReasoning(item.encrypted_content);
        if (keels !== undefined) {
          appendReasoning(messages, keels);
          continue;
        }
      }
      appendReasoning(messages, [{ type: 'openai_item', item: withoutNulls(item) }]);
      continue;
    }
    if (type === 'additional_tools') {
      tools.add(parseBodyPart(additionalToolsItem, raw, param).tools, `${param}.tools`);
      continue;
    }
    if (type === 'function_call' || type === 'custom_tool_call') {
      const call: ToolCall =
        type === 'function_call'
          ? callOf(parseBodyPart(functionCallItem, raw, param), (item) => item.arguments)
          : callOf(parseBodyPart(customToolCallItem, raw, param), (item) => customArgumentsOf(item.input));
      toolNames.set(call.id, call.name);
      const last = messages.at(-1);
      if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call];
      else messages.push({ role: 'assistant', content: '', toolCalls: [call] });
    } else if (type === 'function_call_output' || type === 'custom_tool_call_output') {
      const item = parseBodyPart(functionCallOutputItem, raw, param);
      messages.push({
        role: 'tool',
        toolCallId: item.call_id,
        name: toolNames.get(item.call_id) ?? '',
        content: textOf(item.output, `${param}.output`),
      });
    } else {
      const item = parseBodyPart(messageItem, raw, param);
      if (item.role === 'user') {
        messages.push({ role: 'user', content: userContentOf(item.content, `${param}.content`) });
        continue;
      }
      const content = textOf(item.content, `${param}.content`);
      const last = messages.at(-1);
      if (item.role === 'system' || item.role === 'developer') messages.push({ role: 'system', content });
      // The text of a turn whose reasoning came just before.
      else if (last?.role === 'assistant' && last.content === '' && last.toolCalls === undefined)
        last.content = content;
      else messages.push({ role: 'assistant', content });
    }
  }
}

const HOSTED_CALL_ITEMS: ReadonlySet<unknown> = new Set(HOSTED_CALL_ITEM_TYPES);

/**
 * Reasoning blocks open the assistant turn they came with: they join the last assistant message
 * while it has no text and no calls yet (OpenAI's items come one by one), else start one.
 */
function appendReasoning(messages: Message[], blocks: ReasoningBlock[]): void {
  const last = messages.at(-1);
  if (last?.role === 'assistant' && last.content === '' && last.toolCalls === undefined)
    last.reasoning = [...(last.reasoning ?? []), ...blocks];
  else messages.push({ role: 'assistant', content: '', reasoning: blocks });
}

/** An item as OpenAI would take it back: members sent as null (an SDK's unset fields) left out. */
function withoutNulls(item: { type: string; id?: string | null | undefined }): OpenAIOutputItem {
  const { id, ...rest } = item;
  const kept = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== null));
  return { ...kept, type: item.type, ...(id == null ? {} : { id }) };
}

/** A tool call item as the upstream's call: the flattened name of a namespaced tool. */
function callOf<T extends { call_id: string; name: string; namespace?: string | null | undefined }>(
  item: T,
  argumentsOf: (item: T) => string,
): ToolCall {
  return {
    id: item.call_id,
    name: flatToolName(item.name, item.namespace ?? undefined),
    arguments: argumentsOf(item),
  };
}

const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);

const MEDIA_PARTS = new Set(['input_image', 'input_file']);

function textOf(value: string | Array<z.infer<typeof contentPart>>, param: string, first = 0): string {
  if (typeof value === 'string') return value;
  let text = '';
  for (const [offset, part] of value.entries()) {
    const index = first + offset;
    if (TEXT_PARTS.has(part.type) && typeof part.text === 'string') text += part.text;
    else if (part.type === 'refusal' && typeof part.refusal === 'string') text += part.refusal;
    else if (MEDIA_PARTS.has(part.type))
      throw invalidRequest(
        `${param}.${index}: ${part.type} parts are accepted in user messages only.`,
        `${param}.${index}`,
        'unsupported_content',
      );
    else
      throw invalidRequest(
        `${param}.${index}: content parts of type ${JSON.stringify(part.type)} are not supported by this gateway; send input_text, input_image or input_file parts.`,
        `${param}.${index}`,
        'unsupported_content',
      );
  }
  return text;
}

/**
 * A user message's content: text, `input_image` (a data URL or a URL, with `detail`) and
 * `input_file` (`file_data` as a base64 data URL, with `filename`) parts. Uploaded files
 * (`file_id`) and files by URL (`file_url`) are refused: the gateway keeps no uploads, and a file's
 * media type, which providers read it by, is not known from a URL.
 */
function userContentOf(
  value: string | Array<z.infer<typeof contentPart>>,
  param: string,
): string | ContentPart[] {
  if (typeof value === 'string') return value;
  const parts = value.map((part, index): ContentPart => {
    const where = `${param}.${index}`;
    if (part.type === 'input_image') {
      if (part.image_url == null)
        throw invalidRequest(
          `${where}.image_url: send the image as image_url (a URL or a base64 data URL); this gateway keeps no uploaded files, so file_id cannot be used.`,
          `${where}.image_url`,
          'unsupported_content',
        );
      const inline = parseDataUrl(part.image_url);
      const source =
        inline === undefined ? { url: part.image_url } : { data: inline.data, mediaType: inline.mediaType };
      return { type: 'image', ...source, ...(part.detail == null ? {} : { detail: part.detail }) };
    }
    if (part.type === 'input_file') {
      if (part.file_data == null)
        throw invalidRequest(
          `${where}.${part.file_url == null ? 'file_id' : 'file_url'}: send the file as file_data, a base64 data URL (data:application/pdf;base64,...), with its filename; this gateway keeps no uploaded files and does not fetch files by URL.`,
          `${where}.${part.file_url == null ? 'file_id' : 'file_url'}`,
          'unsupported_content',
        );
      const inline = parseDataUrl(part.file_data);
      if (inline === undefined)
        throw invalidRequest(
          `${where}.file_data: must be a base64 data URL (data:application/pdf;base64,...), which carries the file's media type.`,
          `${where}.file_data`,
          'unsupported_content',
        );
      return {
        type: 'file',
        data: inline.data,
        mediaType: inline.mediaType,
        ...(part.filename == null ? {} : { filename: part.filename }),
      };
    }
    if (TEXT_PARTS.has(part.type) && typeof part.text === 'string') return { type: 'text', text: part.text };
    return { type: 'text', text: textOf(value.slice(index, index + 1), param, index) };
  });
  return compactContent(parts);
}

/** A tool forced by name: a top-level function or custom tool, whose upstream name is its own. */
function toolChoiceOf(value: ResponsesBody['tool_choice']): ToolChoice | undefined {
  if (value == null) return undefined;
  if (typeof value === 'string') return value;
  return { name: value.name };
}

function responseFormatOf(value: NonNullable<ResponsesBody['text']>['format']): ResponseFormat | undefined {
  if (value == null || value.type === 'text') return undefined;
  if (value.type === 'json_object') return { type: 'json' };
  return { type: 'json', name: value.name, schema: value.schema };
}
