/**
 * The model interface: the one boundary between Keel and any LLM. A provider adapter implements
 * `LanguageModel`; the agent loop and (later) the gateway only ever talk to this interface.
 * Messages and tool calls use a provider-neutral shape; adapters translate at their wire.
 */
import type { ServerSentEvent } from './sse.js';

/** A tool call requested by the model. `arguments` is the raw JSON text the model produced. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * A prompt-cache mark (Anthropic's `cache_control`): the prompt up to and including the marked
 * part may be cached by the provider. `ttl` defaults to the provider's (5 minutes for Anthropic).
 * Providers that cache prompts on their own (OpenAI, Gemini) honour it implicitly and send nothing;
 * see docs/gateway.md for the table.
 */
export interface CacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

/** Text in a user message. */
export interface TextPart {
  type: 'text';
  text: string;
  cacheControl?: CacheControl;
}

/**
 * Media given inline (base64 `data` with its `mediaType`) or by `url` (an https or data URL;
 * `mediaType` optional but needed by some providers, e.g. Gemini for URLs). Exactly one of
 * `data` and `url`.
 */
export type MediaSource =
  { data: string; mediaType: string; url?: never } | { url: string; mediaType?: string; data?: never };

/** How closely the model should look at an image (OpenAI's `detail`); `auto` is the default. */
export type ImageDetail = 'auto' | 'low' | 'high';

/** An image in a user message (PNG, JPEG, GIF, WebP). */
export type ImagePart = {
  type: 'image';
  detail?: ImageDetail;
  cacheControl?: CacheControl;
} & MediaSource;

/** A document in a user message, e.g. a PDF (`application/pdf`) or plain text. */
export type FilePart = {
  type: 'file';
  /** Required here (unlike images): providers pick the reader by it. */
  mediaType: string;
  filename?: string;
  cacheControl?: CacheControl;
} & ({ data: string; url?: never } | { url: string; data?: never });

/** One part of a user message's content. */
export type ContentPart = TextPart | ImagePart | FilePart;

export interface SystemMessage {
  role: 'system';
  content: string;
  cacheControl?: CacheControl;
}
/**
 * A user message: plain text (the common case, and the only form before content parts existed,
 * so requests hash as before) or parts mixing text, images and files.
 */
export interface UserMessage {
  role: 'user';
  content: string | ContentPart[];
}
/**
 * A block of a model's reasoning, kept so that a later turn can hand it back as it came:
 * Anthropic refuses a tool loop with thinking on unless the assistant turn carries its thinking
 * blocks first, signatures intact, and OpenAI's reasoning models keep their chain of thought
 * across a tool loop only when their reasoning items come back. Keel never edits one.
 *
 * - `thinking` (its text and the signature over it) and `redacted_thinking` (encrypted `data`)
 *   are Anthropic's: the Anthropic adapter sends them back.
 * - `openai_item` is an output item of OpenAI's Responses API that came before the answer, kept
 *   verbatim: a `reasoning` item with its `encrypted_content`, or a hosted tool's call (a
 *   `web_search_call`). The OpenAI Responses adapter sends it back as an input item.
 *
 * Every other provider cannot read them and drops them (docs/gateway.md).
 */
export type ReasoningBlock =
  | { type: 'thinking'; text: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | {
      type: 'openai_item';
      item: OpenAIOutputItem;
      /**
       * Its index among the answer's output items, when an adapter read it: the turn's text and
       * calls fill the other places (turn-order.ts), so it goes back in its place. Left out (an
       * item a caller handed back), it goes first in the turn.
       */
      position?: number;
    };

/** An output item of OpenAI's Responses API as it came (`type` and, when it has one, `id`). */
export type OpenAIOutputItem = { type: string; id?: string } & Record<string, unknown>;

export interface AssistantMessage {
  role: 'assistant';
  content: string;
  toolCalls?: ToolCall[];
  /** The reasoning that came before the text and tool calls, in order; see {@link ReasoningBlock}. */
  reasoning?: ReasoningBlock[];
  /** A cache mark on the message's last block (Anthropic); see {@link CacheControl}. */
  cacheControl?: CacheControl;
}

/** An assistant message as adapters build it: `toolCalls` and `reasoning` only when there are some. */
export function toAssistantMessage(
  content: string,
  toolCalls: ToolCall[],
  reasoning: ReasoningBlock[] = [],
): AssistantMessage {
  return {
    role: 'assistant',
    content,
    ...(toolCalls.length === 0 ? {} : { toolCalls }),
    ...(reasoning.length === 0 ? {} : { reasoning }),
  };
}
export interface ToolMessage {
  role: 'tool';
  toolCallId: string;
  /** Name of the tool that produced this result. */
  name: string;
  /**
   * The result as text (JSON for structured results), or as parts when it carries images or
   * documents (a Messages `tool_result` with image blocks, e.g. Claude Code reading a PNG). Each
   * adapter puts the media where its wire takes them (docs/gateway.md).
   */
  content: string | ContentPart[];
  isError?: boolean;
  cacheControl?: CacheControl;
}
/** One message of a conversation (system, user, assistant or tool). */
export type Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage;

/** A tool as offered to the model: name, description and a JSON Schema of its arguments. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  /**
   * OpenAI's `strict`: the model's arguments are constrained to the schema. Sent by the
   * OpenAI-compatible adapter; other providers do not constrain arguments (docs/gateway.md).
   */
  strict?: boolean;
  /** Caches the prompt up to this tool's definition (Anthropic); see {@link CacheControl}. */
  cacheControl?: CacheControl;
}

/** Whether and which tool the model must call. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** Plain text or JSON (with a schema) asked of the model. */
export type ResponseFormat =
  { type: 'text' } | { type: 'json'; schema?: Record<string, unknown>; name?: string };

/** How hard the model should think, for reasoning models. */
export type ReasoningEffort = 'minimal' | 'low' | 'medium' | 'high';

/**
 * Reasoning controls. `effort` is OpenAI's `reasoning_effort`; `budgetTokens` is Anthropic's
 * `thinking.budget_tokens` and Gemini's `thinkingBudget`. Each adapter maps the one it lacks from
 * the other by a documented table (docs/gateway.md); when both are set, the provider's own wins.
 */
export interface ReasoningOptions {
  effort?: ReasoningEffort;
  budgetTokens?: number;
}

/**
 * Everything a model call depends on. Its canonical hash is the step's input hash; optional
 * fields left out hash as they did before they existed (canonical JSON drops undefined members).
 *
 * A provider that cannot honour a field refuses the request before sending it, with an
 * `UnsupportedFieldError` (code `unsupported_field`) naming the field; it never drops it.
 */
export interface ModelRequest {
  messages: Message[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  reasoning?: ReasoningOptions;
  /** False: at most one tool call per answer. Left out, the provider's default (usually true). */
  parallelToolCalls?: boolean;
  /** Anthropic's own fields and beta flags, for Anthropic deployments; see {@link AnthropicPassthrough}. */
  anthropic?: AnthropicPassthrough;
  /** OpenAI Responses fields and hosted tools, for OpenAI Responses deployments; see {@link OpenAIPassthrough}. */
  openai?: OpenAIPassthrough;
}

/**
 * What a Responses caller (Codex, the OpenAI SDK) sends that has no provider-neutral field:
 * carried to deployments that speak OpenAI's Responses API (`openai-responses`), never seen by
 * others. What has a counterpart was translated when the request was read.
 */
export interface OpenAIPassthrough {
  /**
   * Tools that OpenAI's Responses service runs itself (`web_search`, `tool_search`,
   * `file_search`...), sent as declared. A provider that cannot run one drops it when it is
   * `optional` (the model simply lacks it; the gateway's table says which are), and refuses the
   * request otherwise (`UnsupportedField` `tools.hosted`), so the gateway routes it to a
   * deployment that can.
   */
  hostedTools?: { tool: Record<string, unknown>; optional: boolean }[];
  /**
   * Top-level Responses fields, merged into the body as given (one level deep for objects, so
   * `text: {verbosity}` joins the adapter's `text: {format}`): `prompt_cache_key`, `text`,
   * `reasoning.summary`...
   */
  fields?: Record<string, unknown>;
}

/**
 * What a Messages caller (Claude Code, the Anthropic SDK) sends that has no provider-neutral
 * field: carried to Anthropic deployments as given, where it wins over what the adapter would
 * derive (an `output_config` or `thinking` here means no thinking budget from `reasoning.effort`).
 * Other providers never see it: what has a counterpart was translated into the neutral fields
 * when the request was read (`output_config.effort` into `reasoning.effort`), the rest is dropped
 * by the table in docs/gateway.md.
 */
export interface AnthropicPassthrough {
  /** The `anthropic-beta` flags, sent as that header (joined by commas). */
  betas?: string[];
  /**
   * Top-level Messages fields, merged into the body as given: `output_config`,
   * `context_management`, `metadata`, and `thinking` when it is not `enabled` with a budget
   * (e.g. `{type: 'adaptive'}`).
   */
  fields?: Record<string, unknown>;
}

/**
 * Where a call's token counts come from: the provider's answer (`reported`), or Keel's tokenizer
 * (`estimated`) because the answer carried none, or carried counts that cannot be true.
 */
export type UsageSource = 'reported' | 'estimated';

/** Why reported counts were replaced by the estimate (see trusted-usage.ts). */
export type UsageInvalidReason = 'negative' | 'not_finite' | 'too_large';

/**
 * Token counts of one call, always non-negative finite integers. Keel's adapters never report a
 * missing count as 0: they estimate it and say so in `source`. A model written elsewhere may leave
 * `source` out and report 0 input tokens when it knows none; the agent loop and the gateway then
 * estimate them (see trusted-usage.ts).
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a subset of inputTokens). */
  cachedInputTokens?: number;
  /** Reasoning tokens (a subset of outputTokens). */
  reasoningTokens?: number;
  /** Absent on usage from models that do not say; Keel treats it as reported after checking it. */
  source?: UsageSource;
  /** Set when the provider reported counts that cannot be true: they were replaced by the estimate. */
  invalid?: UsageInvalidReason;
}

/** Why a model stopped answering. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';

/** A model's answer: the assistant message, finish reason, usage and model id. */
export interface ModelResponse {
  message: AssistantMessage;
  finishReason: FinishReason;
  usage: Usage;
  /** The model that actually answered, as the provider named it. */
  modelId: string;
  /**
   * How Keel's gateway served the call, when it went through it (a gateway model sets it;
   * providers leave it out). Model steps record it in their decision envelope.
   */
  gateway?: GatewayServed;
}

/** How Keel's gateway served a call. */
export interface GatewayServed {
  route: string;
  /** The deployment that answered; null when the gateway's response cache did. */
  deployment: string | null;
  cached: boolean;
}

/**
 * Incremental events of a streamed call; the last one is always `finish`. `reasoning-delta`
 * streams reasoning block number `index` (of the answer's `reasoning`): its first event says the
 * block's `kind`; `text` and `signature` pieces add up to a `thinking` block's, `data` is a
 * `redacted_thinking` block's whole, `item` an `openai_item` block's whole. Consumers that show
 * no reasoning may ignore it.
 */
export type ModelStreamEvent =
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call-delta'; index: number; id?: string; name?: string; argumentsDelta: string }
  | {
      type: 'reasoning-delta';
      index: number;
      kind?: ReasoningBlock['type'];
      text?: string;
      signature?: string;
      data?: string;
      item?: OpenAIOutputItem;
      /** An `openai_item` block's position (see {@link ReasoningBlock}). */
      position?: number;
    }
  | { type: 'finish'; response: ModelResponse };

/** Options of one model call, besides its request. */
export interface ModelCallOptions {
  /** Aborts the call (timeout, cancellation, caller gone). */
  signal?: AbortSignal;
  /**
   * The run and step the call is made for, when an agent run makes it. Providers ignore it; a
   * gateway model scopes its response cache to the run's tenant and records the run and step.
   */
  run?: ModelCallRun;
}

/** Which run (and tenant) a model call serves. */
export interface ModelCallRun {
  runId: string;
  tenantId: string;
  stepSeq?: number;
}

/**
 * A request field a provider cannot honour. `field` is from a small stable vocabulary, in the
 * request's own terms: `reasoning.effort`, `reasoning.budgetTokens`, `parallelToolCalls`,
 * `cacheControl`, `content.image`, `content.image.url`, `content.image.detail`,
 * `content.image.mediaType`, `content.file`, `content.file.url`, `content.file.mediaType`.
 * The gateway's HTTP formats translate it to their wire's names.
 */
export interface UnsupportedField {
  field: string;
  /** Why, for the error message (e.g. `Gemini cannot turn parallel tool calls off`). */
  reason: string;
}

/** A language model. Implementations must not retry on their own: retries have one owner. */
export interface LanguageModel {
  /** Provider id, e.g. `openai`, `builtin`. */
  readonly provider: string;
  /** Model id as priced and reported, e.g. `gpt-4o-mini`. */
  readonly modelId: string;
  /**
   * True when this model retries and falls back on its own (the gateway): callers then do not
   * retry it at once, so retries never multiply. The agent loop calls it again only after a wait
   * (a provider's Retry-After, an open breaker's cooldown, at least 1 s), to ride out an outage.
   */
  readonly retriesOwned?: boolean;
  /**
   * The first field of `request` this model cannot honour (a provider's capability table), or
   * undefined when it can honour them all. `generate` and `stream` throw `UnsupportedFieldError`
   * for such a request before sending anything; the gateway asks first, to pick a deployment that
   * can. Models without it are assumed to honour every field.
   */
  unsupportedField?(request: ModelRequest): UnsupportedField | undefined;
  /**
   * The request's input tokens as the provider itself counts them (Anthropic's count_tokens),
   * without generating. Models without it are estimated with Keel's tokenizer by their callers.
   */
  countTokens?(request: ModelRequest, options?: ModelCallOptions): Promise<number>;
  generate(request: ModelRequest, options?: ModelCallOptions): Promise<ModelResponse>;
  stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamEvent>;
  /** The wire format of `openWireStream`'s events; set exactly when that method is. */
  readonly wire?: WireStream['wire'];
  /**
   * Opens a stream whose server-sent events a gateway may relay as they are to a caller of the
   * same wire format, reading each one beside (see {@link WireStream}). Models without it are
   * only streamed through `stream`. Resolves once the upstream answered 2xx with an event stream.
   */
  openWireStream?(request: ModelRequest, options?: ModelCallOptions): Promise<WireStream>;
}

/**
 * A provider's event stream as its bytes, for a relay to a caller of the same wire format, with a
 * reader that validates each event and folds it into the answer as `stream` would: what the
 * relay must know (usage, the complete answer, errors) comes from it, the bytes from `body`.
 */
export interface WireStream {
  /** The events' format: OpenAI chat-completion chunks. */
  readonly wire: 'openai-chat';
  /** `provider model`, the prefix of output error messages. */
  readonly label: string;
  /** The upstream's body as it arrives (server-sent events ending with `data: [DONE]`). */
  readonly body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
  /**
   * Reads one event's data. An error event is a ProviderError, bad data a ModelOutputError, as
   * `stream` throws them. Returns the data's JSON value as sent and how many stream events it
   * made (`stream` would have yielded), or undefined for an event passed over.
   */
  read(event: ServerSentEvent): { value: unknown; events: number } | undefined;
  /** What a failure reading `body` is, as `stream` would throw it (a network failure: a retryable ProviderError). */
  failure(thrown: unknown): unknown;
  /** True once the answer's terminal event was read (a body may end without `[DONE]` then). */
  isComplete(): boolean;
  /** The complete answer, usage trusted or estimated as `stream`'s `finish` carries it. */
  finish(): ModelResponse;
}

/** An embedding model. Like `LanguageModel`, implementations never retry on their own. */
export interface EmbeddingModel {
  readonly provider: string;
  readonly modelId: string;
  embed(
    request: { input: string[]; dimensions?: number },
    options?: ModelCallOptions,
  ): Promise<{ embeddings: number[][]; usage: { inputTokens: number } }>;
}
