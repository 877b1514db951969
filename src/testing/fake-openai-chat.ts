/**
 * OpenAI's chat-completions wire format for the fake OpenAI server: a scripted completion as a
 * `chat.completion` object or as its chunk stream (role first, content, refusal and tool-call
 * fragments, the finish-reason chunk, the usage chunk when asked, `[DONE]`), and the real API's
 * checks of `messages`. The fake's script and faults live in fake-openai-server.ts; this file
 * only encodes.
 */
import { isPlainObject } from '../model/json.js';
import type {
  ChatChunkDelta,
  ChatCompletion,
  ChatCompletionChunk,
  ChatUsage,
} from '../model/providers/openai/wire.js';
import type { FakeAnswer, FakeStreamPlan } from './fake-openai-server.js';
import { splitByCodePoints } from './fake-server-kit.js';

/** Content part types each role takes, as the real API checks them. */
const PART_TYPES: Record<string, readonly string[]> = {
  system: ['text'],
  developer: ['text'],
  user: ['text', 'image_url', 'input_audio', 'file'],
  assistant: ['text', 'refusal'],
  tool: ['text'],
};

/**
 * The real API's checks of `messages`: known roles, each role's content part types (a tool
 * message takes text alone: images go in a user message), tool messages answering the tool calls
 * of the assistant message before them, and every such call answered before the next message.
 */
export function checkMessages(messages: unknown): { message: string; param: string } | undefined {
  // A bare body (tests of the fake's own faults) has nothing to check.
  if (!Array.isArray(messages)) return undefined;
  let unanswered: string[] = [];
  for (const [index, message] of (messages as unknown[]).entries()) {
    if (!isPlainObject(message)) return { message: 'Invalid type for message.', param: `messages[${index}]` };
    const role = typeof message.role === 'string' ? message.role : '';
    const types = PART_TYPES[role];
    if (types === undefined)
      return {
        message: `Invalid value: '${role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        param: `messages[${index}].role`,
      };
    if (Array.isArray(message.content))
      for (const [position, part] of (message.content as unknown[]).entries()) {
        const type = isPlainObject(part) && typeof part.type === 'string' ? part.type : '';
        if (!types.includes(type))
          return {
            message: `Invalid value: '${type}'. Supported values are: ${types.map((name) => `'${name}'`).join(', ')}.`,
            param: `messages[${index}].content[${position}].type`,
          };
      }
    if (role === 'tool') {
      const id = message.tool_call_id;
      if (typeof id !== 'string' || !unanswered.includes(id))
        return {
          message:
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          param: `messages[${index}].role`,
        };
      unanswered = unanswered.filter((pending) => pending !== id);
      continue;
    }
    if (unanswered.length > 0)
      return {
        message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${unanswered.join(', ')}`,
        param: 'messages',
      };
    if (role === 'assistant' && Array.isArray(message.tool_calls))
      unanswered = (message.tool_calls as unknown[]).map((call) =>
        isPlainObject(call) && typeof call.id === 'string' ? call.id : '',
      );
  }
  return undefined;
}

/** The chunk stream of a chat completion. */
export function chatStream(answer: FakeAnswer): FakeStreamPlan {
  const chunks = streamChunks(answer);
  return {
    frames: chunks.map((chunk) => `data: ${JSON.stringify(chunk.data)}\n\n`),
    terminal: chunks.findIndex((chunk) => chunk.finishing),
    trailer: 'data: [DONE]\n\n',
    // As OpenAI reports an error once a chat stream is under way.
    failure: (_sent, { code, message }) =>
      `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code } })}\n\n`,
  };
}

interface StreamChunk {
  data: ChatCompletionChunk;
  /** The chunk that carries the finish reason. */
  finishing: boolean;
}

/** The chunks of a streamed answer, in OpenAI's order. */
function streamChunks(answer: FakeAnswer): StreamChunk[] {
  const { reply, toolCalls } = answer;
  const includeUsage =
    reply.usage !== 'omit' &&
    isPlainObject(answer.body.stream_options) &&
    answer.body.stream_options.include_usage === true;
  const model = reply.model ?? requestedModel(answer);
  const size = Math.max(1, reply.chunkSize ?? 4);
  const chunk = (delta: ChatChunkDelta, finishReason: string | null = null): StreamChunk => ({
    data: {
      id: `chatcmpl-fake-${answer.number}`,
      object: 'chat.completion.chunk',
      created: answer.created,
      model,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(includeUsage ? { usage: null } : {}),
    },
    finishing: finishReason !== null,
  });
  const content = reply.content ?? '';
  const chunks: StreamChunk[] = [
    chunk({ role: 'assistant', content: content === '' ? null : '', refusal: null }),
  ];
  for (const piece of splitByCodePoints(content, size)) chunks.push(chunk({ content: piece }));
  for (const piece of splitByCodePoints(reply.refusal ?? '', size)) chunks.push(chunk({ refusal: piece }));

  const callChunks = toolCalls.map((call, index) => [
    chunk({
      tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
    }),
    ...splitByCodePoints(call.arguments, size).map((piece) =>
      chunk({ tool_calls: [{ index, function: { arguments: piece } }] }),
    ),
  ]);
  if (reply.interleaveToolCalls) {
    const longest = Math.max(0, ...callChunks.map((list) => list.length));
    for (let step = 0; step < longest; step++) {
      for (const list of callChunks) {
        const next = list[step];
        if (next !== undefined) chunks.push(next);
      }
    }
  } else chunks.push(...callChunks.flat());

  chunks.push(chunk({}, answer.finishReason));
  if (includeUsage) {
    const { choices: _choices, ...envelope } = chunk({}).data;
    chunks.push({
      data: { ...envelope, choices: [], usage: usageBody(answer) },
      finishing: false,
    });
  }
  return chunks;
}

/** The JSON answer of a chat completion. */
export function completionBody(answer: FakeAnswer): ChatCompletion {
  const { reply, toolCalls } = answer;
  return {
    id: `chatcmpl-fake-${answer.number}`,
    object: 'chat.completion',
    created: answer.created,
    model: reply.model ?? requestedModel(answer),
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.content ?? null,
          refusal: reply.refusal ?? null,
          annotations: [],
          ...(toolCalls.length === 0
            ? {}
            : {
                tool_calls: toolCalls.map((call) => ({
                  id: call.id,
                  type: 'function',
                  function: { name: call.name, arguments: call.arguments },
                })),
              }),
        },
        logprobs: null,
        finish_reason: answer.finishReason,
      },
    ],
    ...(reply.usage === 'omit' ? {} : { usage: usageBody(answer) }),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

function usageBody(answer: FakeAnswer): ChatUsage {
  const { reply, toolCalls } = answer;
  const usage = reply.usage === 'omit' ? undefined : reply.usage;
  const outputText =
    (reply.content ?? '') +
    (reply.refusal ?? '') +
    toolCalls.map((call) => call.name + call.arguments).join('');
  const promptTokens =
    usage?.promptTokens ?? Math.ceil(JSON.stringify(answer.body.messages ?? []).length / 4);
  const completionTokens = usage?.completionTokens ?? Math.ceil(outputText.length / 4);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage?.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function requestedModel(answer: FakeAnswer): string {
  return typeof answer.body.model === 'string' ? answer.body.model : 'gpt-4o-mini';
}
