/**
 * Token counts before a call is made: for rate-limit and budget reservations, and as the usage of
 * an answer whose provider reported none. Text is counted with a real BPE tokenizer
 * (gpt-tokenizer), so OpenAI models are counted exactly up to the chat-format overhead, which
 * follows OpenAI's cookbook (3 tokens per message, 3 to prime the answer). Other providers'
 * tokenizers are not public: their models are counted with `o200k_base`, usually within 10-20 % of
 * the provider's own count (Claude and Gemini tend to count more), which is why reservations
 * settle against reported usage afterwards.
 */
import { createRequire } from 'node:module';
import type { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { contentText, mediaParts } from './content-parts.js';
import type { AssistantMessage, Message, ModelRequest } from './model.js';

/** A BPE encoding of gpt-tokenizer. */
export type TokenEncodingName = 'o200k_base' | 'cl100k_base';

/** Options of {@link estimateRequestTokens}, {@link estimateAnswerTokens} and {@link estimateTextTokens}. */
export interface EstimateTokensOptions {
  /** Picks the encoding: a model id (`gpt-4`) or reference (`openai:gpt-4`). Default: `o200k_base`. */
  model?: string;
}

// OpenAI's cookbook: every message is wrapped as <|start|>{role}<|message|>{content}<|end|>, and
// every answer is primed with <|start|>assistant<|message|>.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const ANSWER_PRIMING_TOKENS = 3;
// Tool definitions are rendered into the system prompt as a TypeScript-like namespace; these
// constants approximate that framing around the counted name, description and schema.
const TOOLS_PREAMBLE_TOKENS = 12;
const TOKENS_PER_TOOL = 8;
const TOKENS_PER_TOOL_CALL = 3;
/**
 * Media cannot be tokenized as text, and each provider prices it by its own rule (OpenAI by tiles,
 * Anthropic by pixels / 750, Gemini 258 per image tile; a PDF page as an image plus its text).
 * A flat figure stands in: an image as a 1024x1024 one at high detail costs (OpenAI: 765,
 * Anthropic: about 1,400), a file as a few pages. Only reservations and usage estimates use it;
 * reservations settle against reported usage afterwards.
 */
export const IMAGE_TOKEN_ESTIMATE = 1_000;
export const FILE_TOKEN_ESTIMATE = 3_000;

/**
 * Estimates the input tokens of a request: messages with their framing, tool calls, tool
 * definitions and a JSON response schema. Never throws on content: special-token text such as
 * `<|endoftext|>` is counted as plain text.
 */
export function estimateRequestTokens(request: ModelRequest, options: EstimateTokensOptions = {}): number {
  const count = encodingFor(options.model);
  let total = ANSWER_PRIMING_TOKENS;
  for (const message of request.messages) total += messageTokens(message, count);
  const tools = request.tools ?? [];
  if (tools.length > 0) {
    total += TOOLS_PREAMBLE_TOKENS;
    for (const tool of tools) {
      total +=
        TOKENS_PER_TOOL +
        count(tool.name) +
        count(tool.description) +
        count(JSON.stringify(tool.parameters ?? {}));
    }
  }
  const format = request.responseFormat;
  if (format?.type === 'json' && format.schema !== undefined) {
    total += TOKENS_PER_MESSAGE + count(format.name ?? '') + count(JSON.stringify(format.schema));
  }
  return total;
}

/**
 * Estimates the output tokens of an answer: its text plus each tool call's name and arguments.
 * Reasoning tokens are invisible in the answer, so an estimate of a reasoning model's output is
 * low; it stands in only where the provider reported nothing.
 */
export function estimateAnswerTokens(message: AssistantMessage, options: EstimateTokensOptions = {}): number {
  const count = encodingFor(options.model);
  let total = count(message.content);
  for (const call of message.toolCalls ?? []) {
    total += TOKENS_PER_TOOL_CALL + count(call.name) + count(call.arguments);
  }
  return total;
}

/** Counts the tokens of a text on its own, without any chat framing. */
export function estimateTextTokens(text: string, options: EstimateTokensOptions = {}): number {
  return encodingFor(options.model)(text);
}

/**
 * The encoding of a model: `cl100k_base` for the GPT-4 (not 4o, 4.1 or 4.5), GPT-3.5 and
 * text-embedding families, `o200k_base` for everything else (newer OpenAI models, and the stand-in
 * for providers whose tokenizers are not public).
 */
export function tokenEncodingFor(model: string | undefined): TokenEncodingName {
  const id = (model ?? '').slice((model ?? '').indexOf(':') + 1).toLowerCase();
  if (/^(ft:)?gpt-3\.5|^gpt-4(-|$)|^text-embedding-(3|ada)/.test(id)) return 'cl100k_base';
  return 'o200k_base';
}

function messageTokens(message: Message, count: (text: string) => number): number {
  let total = TOKENS_PER_MESSAGE + count(message.role) + count(contentText(message.content));
  for (const part of mediaParts(message.content))
    total += part.type === 'image' ? IMAGE_TOKEN_ESTIMATE : FILE_TOKEN_ESTIMATE;
  if (message.role === 'assistant') {
    for (const call of message.toolCalls ?? []) {
      total += TOKENS_PER_TOOL_CALL + count(call.name) + count(call.arguments);
    }
  } else if (message.role === 'tool') {
    total += TOKENS_PER_NAME + count(message.name);
  }
  return total;
}

type CountTokens = typeof countTokens;
// Plain text, always: a prompt that contains `<|endoftext|>` must not throw (the library's default).
const plainText = { disallowedSpecial: new Set<string>() };
const encodings = new Map<TokenEncodingName, (text: string) => number>();
const requireModule = createRequire(import.meta.url);

/**
 * Texts at least this long are remembered with their count. A coding agent resends its whole
 * conversation every turn (system prompt, tool definitions, every earlier message), so all but the
 * newest messages of a call were counted on an earlier one: BPE-encoding them again was most of the
 * gateway's CPU per call on a 100 KB prompt. Shorter texts cost less to count than to keep.
 */
export const COUNT_CACHE_MIN_CHARS = 256;
/** The characters of remembered texts, per encoding, at most (least recently used ones go first). */
export const COUNT_CACHE_MAX_CHARS = 8_000_000;

/**
 * A count of the tokens of texts that remembers those of long texts, keyed by the text itself (a
 * hash look-up costs a pass over the text, against BPE merges for every word), least recently
 * used first out. Exactly what `count` answers, so estimates do not depend on what was cached.
 */
export function cachedTokenCount(
  count: (text: string) => number,
  { minChars = COUNT_CACHE_MIN_CHARS, maxChars = COUNT_CACHE_MAX_CHARS } = {},
): (text: string) => number {
  const counts = new Map<string, number>();
  let chars = 0;
  return (text) => {
    if (text.length < minChars || text.length > maxChars) return count(text);
    const known = counts.get(text);
    if (known !== undefined) {
      // Most recently used last: a Map iterates in insertion order.
      counts.delete(text);
      counts.set(text, known);
      return known;
    }
    const counted = count(text);
    counts.set(text, counted);
    chars += text.length;
    for (const [oldest] of counts) {
      if (chars <= maxChars) break;
      counts.delete(oldest);
      chars -= oldest.length;
    }
    return counted;
  };
}

/**
 * Loads an encoding on first use: its rank table takes 80-150 ms to load, which a process that
 * never estimates should not pay at import, and the CommonJS build can be loaded synchronously.
 */
function encodingFor(model: string | undefined): (text: string) => number {
  const name = tokenEncodingFor(model);
  let count = encodings.get(name);
  if (count === undefined) {
    const loaded = requireModule(`gpt-tokenizer/cjs/encoding/${name}`) as { countTokens: CountTokens };
    count = cachedTokenCount((text: string) => (text === '' ? 0 : loaded.countTokens(text, plainText)));
    encodings.set(name, count);
  }
  return count;
}
