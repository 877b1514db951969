import { describe, expect, it } from 'vitest';
import { createScriptedModel } from './builtin-model.js';
import type { AssistantMessage, ModelRequest, ModelResponse } from './model.js';
import { estimateAnswerTokens, estimateRequestTokens } from './token-estimate.js';
import {
  MAX_REPORTED_TOKENS,
  sumReported,
  trustedCount,
  trustedUsage,
  withTrustedUsage,
  withTrustedUsageModel,
} from './trusted-usage.js';

const request: ModelRequest = {
  messages: [
    { role: 'system', content: 'You book trips. Use the tools.' },
    { role: 'user', content: 'Find me a train from Paris to Lyon tomorrow morning.' },
    {
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'call_1', name: 'search_trains', arguments: '{"from":"Paris","to":"Lyon"}' }],
    },
    {
      role: 'tool',
      toolCallId: 'call_1',
      name: 'search_trains',
      content: '[{"id":"TGV 6603","at":"07:56"}]',
    },
  ],
  tools: [
    {
      name: 'search_trains',
      description: 'Searches trains between two cities.',
      parameters: {
        type: 'object',
        properties: { from: { type: 'string' }, to: { type: 'string' }, date: { type: 'string' } },
        required: ['from', 'to'],
      },
    },
    {
      name: 'book_train',
      description: 'Books a seat on a train.',
      parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    },
  ],
};
const answer: AssistantMessage = {
  role: 'assistant',
  content: 'Booking the 07:56 TGV.',
  toolCalls: [{ id: 'call_2', name: 'book_train', arguments: '{"id":"TGV 6603"}' }],
};
const inputEstimate = estimateRequestTokens(request, { model: 'gpt-4o' });
const outputEstimate = estimateAnswerTokens(answer, { model: 'gpt-4o' });
const trust = (reported: Parameters<typeof trustedUsage>[0]['reported']) =>
  trustedUsage({ reported, request, message: answer, model: 'gpt-4o' });

describe('trustedUsage', () => {
  it('takes valid reported counts as they are', () => {
    expect(
      trust({ inputTokens: 1200, outputTokens: 40, cachedInputTokens: 1024, reasoningTokens: 0 }),
    ).toEqual({
      inputTokens: 1200,
      outputTokens: 40,
      cachedInputTokens: 1024,
      reasoningTokens: 0,
      source: 'reported',
    });
  });

  it('estimates a missing usage from the request (messages, tools, tool calls) and the answer (text, tool calls)', () => {
    const usage = trust(undefined);
    expect(usage).toEqual({ inputTokens: inputEstimate, outputTokens: outputEstimate, source: 'estimated' });
    // The tools and the earlier tool call are in the count, not only the text.
    const bare = estimateRequestTokens({ messages: request.messages.slice(0, 2) }, { model: 'gpt-4o' });
    expect(usage.inputTokens).toBeGreaterThan(bare + 60);
    expect(usage.outputTokens).toBeGreaterThan(10);
    expect(trust({})).toEqual(usage);
    expect(trust({ inputTokens: null, outputTokens: null })).toEqual(usage);
  });

  it('estimates only the missing half, and takes an input count of 0 as missing', () => {
    expect(trust({ inputTokens: 900 })).toEqual({
      inputTokens: 900,
      outputTokens: outputEstimate,
      source: 'estimated',
    });
    expect(trust({ inputTokens: 0, outputTokens: 0 })).toEqual({
      inputTokens: inputEstimate,
      outputTokens: 0,
      source: 'estimated',
    });
  });

  it('replaces impossible counts by the estimate and says why: negative, not finite, too large', () => {
    expect(trust({ inputTokens: -1_000_000, outputTokens: 40 })).toEqual({
      inputTokens: inputEstimate,
      outputTokens: 40,
      source: 'estimated',
      invalid: 'negative',
    });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '12', { total: 3 }, true]) {
      expect(trust({ inputTokens: 500, outputTokens: bad })).toMatchObject({
        inputTokens: 500,
        outputTokens: outputEstimate,
        source: 'estimated',
        invalid: 'not_finite',
      });
    }
    expect(trust({ inputTokens: MAX_REPORTED_TOKENS + 1, outputTokens: 5 })).toMatchObject({
      inputTokens: inputEstimate,
      invalid: 'too_large',
    });
    expect(trust({ inputTokens: MAX_REPORTED_TOKENS, outputTokens: 5 }).inputTokens).toBe(
      MAX_REPORTED_TOKENS,
    );
  });

  it('keeps the subsets within their counts and drops impossible ones', () => {
    expect(
      trust({ inputTokens: 100, outputTokens: 10, cachedInputTokens: 500, reasoningTokens: 50 }),
    ).toEqual({
      inputTokens: 100,
      outputTokens: 10,
      cachedInputTokens: 100,
      reasoningTokens: 10,
      source: 'reported',
    });
    expect(trust({ inputTokens: 100, outputTokens: 10, cachedInputTokens: -5 })).toEqual({
      inputTokens: 100,
      outputTokens: 10,
      source: 'reported',
      invalid: 'negative',
    });
  });

  it('rounds fractional counts up (token columns are integers)', () => {
    expect(trust({ inputTokens: 10.2, outputTokens: 3.5 })).toEqual({
      inputTokens: 11,
      outputTokens: 4,
      source: 'reported',
    });
  });
});

describe('withTrustedUsage', () => {
  const response = (usage: ModelResponse['usage']): ModelResponse => ({
    message: answer,
    finishReason: 'tool_calls',
    usage,
    modelId: 'gpt-4o',
  });

  it('returns settled usage untouched, including a deliberate 0 (a cached answer)', () => {
    const settled = response({ inputTokens: 0, outputTokens: 0, source: 'reported' });
    expect(withTrustedUsage({ response: settled, request, model: 'gpt-4o' })).toBe(settled);
    const estimated = response({ inputTokens: 7, outputTokens: 2, source: 'estimated' });
    expect(withTrustedUsage({ response: estimated, request })).toBe(estimated);
  });

  it('checks usage of models that do not say where it comes from', () => {
    const zero = withTrustedUsage({
      response: response({ inputTokens: 0, outputTokens: 0 }),
      request,
      model: 'gpt-4o',
    });
    expect(zero.usage).toEqual({ inputTokens: inputEstimate, outputTokens: 0, source: 'estimated' });
    const negative = withTrustedUsage({
      response: response({ inputTokens: 10, outputTokens: -4_000_000 }),
      request,
      model: 'gpt-4o',
    });
    expect(negative.usage).toEqual({
      inputTokens: 10,
      outputTokens: outputEstimate,
      source: 'estimated',
      invalid: 'negative',
    });
    expect(
      withTrustedUsage({ response: response({ inputTokens: 10, outputTokens: 4 }), request }).usage,
    ).toEqual({
      inputTokens: 10,
      outputTokens: 4,
      source: 'reported',
    });
  });

  it('re-checks settled usage with impossible counts', () => {
    const forged = withTrustedUsage({
      response: response({ inputTokens: -50, outputTokens: 4, source: 'reported' }),
      request,
      model: 'gpt-4o',
    });
    expect(forged.usage).toMatchObject({
      inputTokens: inputEstimate,
      source: 'estimated',
      invalid: 'negative',
    });
  });
});

describe('sumReported and trustedCount', () => {
  it('sums parts, passes a bad part on, and is missing when the first part is', () => {
    expect(sumReported(10, 5, undefined, null)).toBe(15);
    expect(sumReported(undefined, 5)).toBeUndefined();
    expect(sumReported(10, -5)).toBe(-5);
    expect(trust({ inputTokens: sumReported(10, -5), outputTokens: 1 }).invalid).toBe('negative');
  });

  it('takes a valid count, else the estimate', () => {
    expect(trustedCount(12, () => 99)).toBe(12);
    for (const bad of [undefined, null, 0, -3, Number.NaN, MAX_REPORTED_TOKENS * 2]) {
      expect(trustedCount(bad, () => 99)).toBe(99);
    }
  });
});

describe('withTrustedUsageModel', () => {
  it('checks the usage of every answer of a model written elsewhere, plain and streamed', async () => {
    const inner = createScriptedModel({
      modelId: 'gpt-4o',
      respond: () => ({ text: 'Booked.', usage: { inputTokens: -10_000, outputTokens: 2 } }),
    });
    const model = withTrustedUsageModel(inner);
    expect(model).toMatchObject({ provider: inner.provider, modelId: 'gpt-4o' });
    const expected = {
      inputTokens: estimateRequestTokens(request, { model: 'gpt-4o' }),
      outputTokens: 2,
      source: 'estimated',
      invalid: 'negative',
    };
    expect((await model.generate(request)).usage).toEqual(expected);
    const events = [];
    for await (const event of model.stream(request)) events.push(event);
    expect(
      events
        .filter((event) => event.type === 'text-delta')
        .map((event) => event.text)
        .join(''),
    ).toBe('Booked.');
    expect(events.at(-1)).toMatchObject({ type: 'finish', response: { usage: expected } });
  });
});
