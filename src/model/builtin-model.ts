/**
 * Built-in models: deterministic `LanguageModel`s that need no network and cost nothing (provider
 * `builtin`). A scripted model plays back replies for tests; a rule model answers from rules for
 * demos; both decide from the request alone, so a run replayed after a crash, in another process,
 * gets the same answers and the same tool call ids.
 */
import { sleep } from '../util/sleep.js';
import { KeelError } from '../errors/keel-error.js';
import { ModelConfigError } from '../errors/model-errors.js';
import { canonicalJson, hashCanonical } from '../util/canonical-hash.js';
import { parseJsonOrText } from './json.js';
import { contentText } from './content-parts.js';
import {
  toAssistantMessage,
  type FinishReason,
  type LanguageModel,
  type Message,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  type ToolCall,
  type ToolSpec,
  type Usage,
} from './model.js';

/** Provider id of every built-in model; prices list it at 0. */
export const BUILTIN_PROVIDER = 'builtin';

/** A tool call in a built-in reply. */
export interface BuiltinToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent untouched (to test malformed arguments). */
  arguments?: Record<string, unknown> | string;
  /** Default: derived from the request's hash and the call's index, so replays match. */
  id?: string;
}

/** A reply with text, tool calls, or both. */
export interface BuiltinReplyObject {
  text?: string;
  toolCalls?: BuiltinToolCall[];
  /** Default: `tool_calls` when there are tool calls, else `stop`. */
  finishReason?: FinishReason;
  /** Overrides the estimate (about 4 characters per token), e.g. to test token budgets. */
  usage?: Partial<Usage>;
}

/** What a built-in model answers: plain text, a reply object, or an Error, which is thrown. */
export type BuiltinReply = string | BuiltinReplyObject | Error;

/** One entry of a script: a reply, or a function computing it from the request. */
export type ScriptedReply = BuiltinReply | ((request: ModelRequest) => BuiltinReply | Promise<BuiltinReply>);

/** Options every built-in model takes. */
export interface BuiltinModelOptions {
  /** Reported model id. */
  modelId?: string;
  /**
   * Simulated time per call, for demos: `generate` waits this long, `stream` spreads it over its
   * deltas. Default 0: instant.
   */
  latencyMs?: number;
}

/**
 * Either `replies`, a script indexed by turn, or `respond`, a function of the request.
 *
 * `replies[n]` answers the request that already holds n assistant messages: the turn index comes
 * from the request, not from a counter, so a run resumed in a fresh process continues the script
 * where the journal left it. Error entries do not take a turn: they are thrown, in order, by the
 * first attempts at the turn of the reply that follows them (to script a retry), and error entries
 * at the end of the script fail their turn for good. Attempts are counted in memory, per request.
 */
export type ScriptedModelOptions = BuiltinModelOptions &
  (
    | { replies: ScriptedReply[]; respond?: undefined }
    | { respond: (request: ModelRequest) => BuiltinReply | Promise<BuiltinReply>; replies?: undefined }
  );

/** A scripted model, with the requests it received. */
export interface ScriptedModel extends LanguageModel {
  /** Copies of the requests received, in order (also those answered with an error). */
  readonly calls: ModelRequest[];
}

/** A tool result as a rule sees it. */
export interface RuleToolResult {
  toolCallId: string;
  /** The result text as sent to the model. */
  content: string;
  /** `content` parsed as JSON, or the text itself when it is not JSON. */
  value: unknown;
  isError: boolean;
  /** The arguments of the call that produced it, parsed like `value`. */
  arguments: unknown;
}

/** What a rule decides from: everything is derived from the request. */
export interface RuleContext {
  request: ModelRequest;
  messages: Message[];
  /** Text of the latest user message ('' when there is none). */
  lastUserMessage: string;
  /** Tools offered in this request. */
  tools: ToolSpec[];
  /** Tool results since the latest user message, by tool name; the latest result wins. */
  toolResults: Record<string, RuleToolResult>;
  /** Model replies since the latest user message: 0 on the first call of a turn. */
  step: number;
}

/** One rule of a rule model. */
export interface ModelRule {
  name: string;
  when(context: RuleContext): boolean;
  reply(context: RuleContext): BuiltinReply;
}

/** Options of `createRuleModel`. */
export interface RuleModelOptions extends BuiltinModelOptions {
  /** Tried in order; the first whose `when` is true answers. */
  rules: ModelRule[];
  /** Answers when no rule matches. Default: throw `model_no_rule`. */
  fallback?: (context: RuleContext) => BuiltinReply;
}

/** Creates a built-in model by name (see `registerBuiltinModel`). */
export type BuiltinModelFactory = () => LanguageModel;

/** A model that plays back a script or answers with a function. Records `calls` for tests. */
export function createScriptedModel(options: ScriptedModelOptions): ScriptedModel {
  const { modelId = 'scripted', latencyMs = 0, replies, respond } = options;
  if (replies !== undefined && respond !== undefined) {
    throw new ModelConfigError('A scripted model takes either replies or respond, not both.', { modelId });
  }
  let choose: (request: ModelRequest) => BuiltinReply | Promise<BuiltinReply>;
  if (typeof respond === 'function') choose = respond;
  else if (Array.isArray(replies)) choose = createScriptPlayer({ replies, modelId });
  else
    throw new ModelConfigError('A scripted model needs replies (an array) or respond (a function).', {
      modelId,
    });

  const calls: ModelRequest[] = [];
  const model = createModel({
    modelId,
    latencyMs,
    // A copy, because callers may keep appending to the arrays they passed in.
    record: (request) => calls.push(structuredClone(request)),
    decide: choose,
  });
  return Object.assign(model, { calls });
}

/** A model that answers with the first matching rule. Deterministic given the request. */
export function createRuleModel(options: RuleModelOptions): LanguageModel {
  const { rules, fallback, modelId = 'rules', latencyMs = 0 } = options;
  if (!Array.isArray(rules)) throw new ModelConfigError('A rule model needs rules (an array).', { modelId });
  for (const rule of rules) {
    if (
      typeof rule?.name !== 'string' ||
      typeof rule.when !== 'function' ||
      typeof rule.reply !== 'function'
    ) {
      throw new ModelConfigError('Every rule needs a name, a when function and a reply function.', {
        modelId,
      });
    }
  }
  return createModel({
    modelId,
    latencyMs,
    decide: (request) => {
      const context = createRuleContext(request);
      const rule = rules.find((candidate) => candidate.when(context));
      if (rule) return rule.reply(context);
      if (fallback) return fallback(context);
      const names = rules.map((candidate) => candidate.name);
      throw new KeelError({
        code: 'model_no_rule',
        message: `Rule model "${modelId}": no rule matched (rules: ${names.join(', ') || 'none'}) and it has no fallback.`,
        fault: 'caller',
        details: { modelId, rules: names },
      });
    },
  });
}

/**
 * Registers a built-in model under a name, for references such as `builtin:travel-planner`.
 * Registering a name again replaces it.
 */
export function registerBuiltinModel(name: string, factory: BuiltinModelFactory): void {
  if (typeof name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/.test(name)) {
    throw new ModelConfigError(`Invalid built-in model name "${String(name)}".`, { name });
  }
  if (typeof factory !== 'function')
    throw new ModelConfigError(`Built-in model "${name}" needs a factory function.`);
  registry().set(name, factory);
}

/**
 * Creates the built-in model registered under `name` (a `builtin:` prefix is accepted).
 * `echo` is always there; examples register more. Throws `model_config_invalid` for unknown names.
 */
export function createBuiltinModel(name: string): LanguageModel {
  const bareName = name.startsWith(`${BUILTIN_PROVIDER}:`) ? name.slice(BUILTIN_PROVIDER.length + 1) : name;
  const factory = registry().get(bareName);
  if (!factory) {
    const known = listBuiltinModels();
    throw new ModelConfigError(`Unknown built-in model "${bareName}". Registered: ${known.join(', ')}.`, {
      name: bareName,
      known,
    });
  }
  return factory();
}

/** Names of the registered built-in models, sorted. */
export function listBuiltinModels(): string[] {
  return [...registry().keys()].sort();
}

// The registry lives on globalThis because the CLI (from dist/) and a config file (from src/) may
// load two copies of this module; both must see the same registrations.
const REGISTRY_KEY = Symbol.for('keel.builtin-models');

function registry(): Map<string, BuiltinModelFactory> {
  const holder = globalThis as unknown as Record<symbol, Map<string, BuiltinModelFactory> | undefined>;
  return (holder[REGISTRY_KEY] ??= new Map());
}

registerBuiltinModel('echo', () =>
  createRuleModel({ modelId: 'echo', rules: [], fallback: (context) => context.lastUserMessage }),
);

function createModel({
  modelId,
  latencyMs,
  decide,
  record,
}: {
  modelId: string;
  latencyMs: number;
  decide: (request: ModelRequest) => BuiltinReply | Promise<BuiltinReply>;
  record?: (request: ModelRequest) => void;
}): LanguageModel {
  const answer = async (request: ModelRequest): Promise<ModelResponse> =>
    toResponse({ request, reply: await decide(request), modelId });
  return {
    provider: BUILTIN_PROVIDER,
    modelId,
    async generate(request, { signal } = {}) {
      record?.(request);
      await sleep(latencyMs, signal);
      return answer(request);
    },
    async *stream(request, { signal } = {}): AsyncGenerator<ModelStreamEvent> {
      record?.(request);
      signal?.throwIfAborted();
      const response = await answer(request);
      const events = toStreamEvents(response);
      const interval = latencyMs / (events.length + 1);
      for (const event of events) {
        await sleep(interval, signal);
        yield event;
      }
      await sleep(interval, signal);
      yield { type: 'finish', response };
    },
  };
}

function createScriptPlayer({
  replies,
  modelId,
}: {
  replies: ScriptedReply[];
  modelId: string;
}): (request: ModelRequest) => Promise<BuiltinReply> {
  const turns: { failures: Error[]; reply: ScriptedReply | undefined }[] = [];
  let failures: Error[] = [];
  for (const entry of replies) {
    if (entry instanceof Error) failures.push(entry);
    else {
      turns.push({ failures, reply: entry });
      failures = [];
    }
  }
  if (failures.length > 0) turns.push({ failures, reply: undefined });

  const attempts = new Map<string, number>();
  return async (request) => {
    const turnIndex = request.messages.filter((message) => message.role === 'assistant').length;
    const turn = turns[turnIndex];
    if (!turn) {
      throw new KeelError({
        code: 'model_script_exhausted',
        message:
          `Scripted model "${modelId}" ran past its script: asked for turn ${turnIndex + 1} (the request holds ` +
          `${turnIndex} assistant messages) but the script has ${turns.length}. Add replies or use respond().`,
        fault: 'caller',
        details: { modelId, turn: turnIndex + 1, scriptedTurns: turns.length },
      });
    }
    const key = hashCanonical(request);
    const attempt = attempts.get(key) ?? 0;
    attempts.set(key, attempt + 1);
    const failure = turn.failures[attempt] ?? (turn.reply === undefined ? turn.failures.at(-1) : undefined);
    if (failure || turn.reply === undefined) throw failure;
    return typeof turn.reply === 'function' ? turn.reply(request) : turn.reply;
  };
}

function createRuleContext(request: ModelRequest): RuleContext {
  const { messages } = request;
  const lastUserIndex = messages.findLastIndex((message) => message.role === 'user');
  const lastUser = messages[lastUserIndex];
  const recent = messages.slice(lastUserIndex + 1);
  const callsById = new Map<string, ToolCall>();
  let step = 0;
  // Null prototype: a tool named "constructor" must not find Object's.
  const toolResults = Object.create(null) as Record<string, RuleToolResult>;
  for (const message of recent) {
    if (message.role === 'assistant') {
      step += 1;
      for (const call of message.toolCalls ?? []) callsById.set(call.id, call);
    } else if (message.role === 'tool') {
      toolResults[message.name] = {
        toolCallId: message.toolCallId,
        content: contentText(message.content),
        value: parseJsonOrText(contentText(message.content)),
        isError: message.isError === true,
        arguments: parseJsonOrText(callsById.get(message.toolCallId)?.arguments ?? ''),
      };
    }
  }
  return {
    request,
    messages,
    lastUserMessage: lastUser?.role === 'user' ? contentText(lastUser.content) : '',
    tools: request.tools ?? [],
    toolResults,
    step,
  };
}

function toResponse({
  request,
  reply,
  modelId,
}: {
  request: ModelRequest;
  reply: BuiltinReply;
  modelId: string;
}): ModelResponse {
  if (reply instanceof Error) throw reply;
  const {
    text = '',
    toolCalls = [],
    finishReason,
    usage,
  } = typeof reply === 'string' ? { text: reply } : reply;
  const calls: ToolCall[] = toolCalls.map((call, index) => ({
    id: call.id ?? `call_${hashCanonical({ request, index }).slice(0, 24)}`,
    name: call.name,
    arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
  }));
  const answerText = text + calls.map((call) => call.name + call.arguments).join('');
  return {
    message: toAssistantMessage(text, calls),
    finishReason: finishReason ?? (calls.length > 0 ? 'tool_calls' : 'stop'),
    usage: {
      inputTokens: estimateTokens(promptText(request)),
      outputTokens: estimateTokens(answerText),
      ...usage,
    },
    modelId,
  };
}

/** Text deltas word by word (whitespace kept), then each tool call in argument chunks. */
function toStreamEvents(response: ModelResponse): ModelStreamEvent[] {
  const events: ModelStreamEvent[] = [];
  const { content, toolCalls = [] } = response.message;
  for (const word of content.split(/(?<=\s)(?=\S)/))
    if (word !== '') events.push({ type: 'text-delta', text: word });
  toolCalls.forEach((call, index) => {
    const pieces = call.arguments.match(/[\s\S]{1,16}/g) ?? [''];
    pieces.forEach((piece, position) =>
      events.push(
        position === 0
          ? { type: 'tool-call-delta', index, id: call.id, name: call.name, argumentsDelta: piece }
          : { type: 'tool-call-delta', index, argumentsDelta: piece },
      ),
    );
  });
  return events;
}

function promptText(request: ModelRequest): string {
  const parts = request.messages.map((message) =>
    message.role === 'assistant'
      ? message.content + (message.toolCalls ?? []).map((call) => call.name + call.arguments).join('')
      : message.content,
  );
  if (request.tools?.length) parts.push(canonicalJson(request.tools));
  return parts.join('\n');
}

function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
