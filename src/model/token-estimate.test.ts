import { describe, expect, it } from 'vitest';
import type { AssistantMessage, ModelRequest } from './model.js';
import {
  cachedTokenCount,
  estimateAnswerTokens,
  estimateRequestTokens,
  estimateTextTokens,
  tokenEncodingFor,
} from './token-estimate.js';

describe('estimateTextTokens', () => {
  it('counts with a real BPE tokenizer', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('Hello')).toBe(1);
    expect(estimateTextTokens('Hello world')).toBe(2);
    expect(estimateTextTokens('The quick brown fox jumps over the lazy dog.')).toBe(10);
  });

  it('picks the encoding by model family', () => {
    // o200k_base has a larger vocabulary: non-English text takes fewer tokens than in cl100k_base.
    const text = 'Les données de l’entrepôt sont synchronisées toutes les heures. 数据每小时同步一次。';
    const modern = estimateTextTokens(text, { model: 'gpt-4o' });
    const legacy = estimateTextTokens(text, { model: 'gpt-4' });
    expect(modern).toBeLessThan(legacy);
    expect(estimateTextTokens(text, { model: 'openai:gpt-3.5-turbo' })).toBe(legacy);
    expect(estimateTextTokens(text, { model: 'anthropic:claude-sonnet-4-5' })).toBe(modern);
  });

  it('treats special-token text as plain text instead of throwing', () => {
    expect(estimateTextTokens('before <|endoftext|> after <|im_start|>')).toBeGreaterThan(5);
  });
});

describe('tokenEncodingFor', () => {
  it('maps model ids and references to encodings', () => {
    const cases: [string | undefined, string][] = [
      [undefined, 'o200k_base'],
      ['gpt-4o-mini', 'o200k_base'],
      ['gpt-4.1', 'o200k_base'],
      ['gpt-5', 'o200k_base'],
      ['o3-mini', 'o200k_base'],
      ['gpt-4', 'cl100k_base'],
      ['gpt-4-turbo', 'cl100k_base'],
      ['gpt-4-0613', 'cl100k_base'],
      ['gpt-3.5-turbo', 'cl100k_base'],
      ['ft:gpt-3.5-turbo:acme::abc', 'cl100k_base'],
      ['openai:text-embedding-3-small', 'cl100k_base'],
      ['text-embedding-ada-002', 'cl100k_base'],
      ['gemini:gemini-2.5-flash', 'o200k_base'],
      ['claude-haiku-4-5', 'o200k_base'],
    ];
    for (const [model, encoding] of cases)
      expect([model, tokenEncodingFor(model)]).toEqual([model, encoding]);
  });
});

describe('estimateRequestTokens', () => {
  it('adds the chat framing of the cookbook: 3 per message, 3 to prime the answer', () => {
    // What OpenAI reports as prompt_tokens for this request.
    expect(estimateRequestTokens({ messages: [{ role: 'user', content: 'Hello' }] })).toBe(8);
    const two: ModelRequest = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
    };
    expect(estimateRequestTokens(two)).toBe(3 + (3 + 1 + estimateTextTokens('Be brief.')) + (3 + 1 + 1));
  });

  it('counts tool calls, tool results, tool definitions and the response schema', () => {
    const base: ModelRequest = { messages: [{ role: 'user', content: 'Weather in Paris?' }] };
    const plain = estimateRequestTokens(base);
    const withCall = estimateRequestTokens({
      messages: [
        ...base.messages,
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris","units":"metric"}' }],
        },
        { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '{"celsius":21}' },
      ],
    });
    expect(withCall - plain).toBeGreaterThan(estimateTextTokens('{"city":"Paris","units":"metric"}'));
    const parameters = { type: 'object', properties: { city: { type: 'string', description: 'A city' } } };
    const withTools = estimateRequestTokens({
      ...base,
      tools: [{ name: 'get_weather', description: 'Current weather of a city', parameters }],
    });
    expect(withTools - plain).toBeGreaterThan(estimateTextTokens(JSON.stringify(parameters)));
    const withSchema = estimateRequestTokens({
      ...base,
      responseFormat: { type: 'json', schema: parameters, name: 'answer' },
    });
    expect(withSchema - plain).toBeGreaterThan(estimateTextTokens(JSON.stringify(parameters)));
    expect(estimateRequestTokens({ ...base, tools: [], responseFormat: { type: 'json' } })).toBe(plain);
  });
});

describe('estimateAnswerTokens', () => {
  it('counts the text, and each tool call with its name, arguments and framing', () => {
    expect(estimateAnswerTokens({ role: 'assistant', content: '' })).toBe(0);
    expect(estimateAnswerTokens({ role: 'assistant', content: 'Hello world' })).toBe(2);
    const args = '{"city":"Paris","units":"metric"}';
    const answer: AssistantMessage = {
      role: 'assistant',
      content: 'Checking.',
      toolCalls: [
        { id: 'call_1', name: 'get_weather', arguments: args },
        { id: 'call_2', name: 'get_time', arguments: '{}' },
      ],
    };
    expect(estimateAnswerTokens(answer)).toBe(
      estimateTextTokens('Checking.') +
        (3 + estimateTextTokens('get_weather') + estimateTextTokens(args)) +
        (3 + estimateTextTokens('get_time') + estimateTextTokens('{}')),
    );
    // The encoding follows the model, as for requests.
    const text = 'Les données de l’entrepôt sont synchronisées toutes les heures.';
    expect(estimateAnswerTokens({ role: 'assistant', content: text }, { model: 'gpt-4' })).toBe(
      estimateTextTokens(text, { model: 'gpt-4' }),
    );
  });
});

describe('cachedTokenCount', () => {
  const counting = () => {
    const counted: string[] = [];
    const count = (text: string) => {
      counted.push(text);
      return estimateTextTokens(text);
    };
    return { counted, count };
  };

  it('counts a long text once across calls, a short one every time, with the same figures', () => {
    const { counted, count } = counting();
    const cached = cachedTokenCount(count, { minChars: 10, maxChars: 1_000 });
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(5);
    // The same content in another string (a body parsed again on the next call).
    const again = JSON.parse(JSON.stringify(long)) as string;
    expect(cached(long)).toBe(estimateTextTokens(long));
    expect(cached(again)).toBe(estimateTextTokens(long));
    expect(cached('short')).toBe(estimateTextTokens('short'));
    expect(cached('short')).toBe(estimateTextTokens('short'));
    expect(counted).toEqual([long, 'short', 'short']);
  });

  it('keeps at most maxChars of texts, the least recently used going first', () => {
    const { counted, count } = counting();
    const cached = cachedTokenCount(count, { minChars: 1, maxChars: 30 });
    const [a, b, c] = ['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(10)];
    cached(a);
    cached(b);
    cached(c);
    cached(a); // a is now the most recently used: b goes first.
    cached('d'.repeat(10));
    counted.length = 0;
    cached(a);
    cached(c);
    cached(b);
    expect(counted).toEqual([b]);
    // A text longer than the whole cache is counted, never kept.
    cached('e'.repeat(31));
    cached('e'.repeat(31));
    expect(counted).toEqual([b, 'e'.repeat(31), 'e'.repeat(31)]);
  });
});
