import { describe, expect, it } from 'vitest';
import { costOf, PRICE_TABLE, PRICE_TABLE_VERSION, priceFor, type PriceTable } from './prices.js';

describe('PRICE_TABLE', () => {
  it('is versioned by its catalog package, version and generation day', () => {
    expect(PRICE_TABLE_VERSION).toMatch(/^@pydantic\/genai-prices@\d+\.\d+\.\d+\+\d{4}-\d{2}-\d{2}$/);
  });

  it('covers the common models of each provider', () => {
    const expected = {
      openai: [
        'gpt-4o',
        'gpt-4o-mini',
        'gpt-4.1',
        'gpt-4.1-mini',
        'gpt-4.1-nano',
        'o3',
        'o3-mini',
        'o4-mini',
        'gpt-5',
        'gpt-5-mini',
        'gpt-5-nano',
      ],
      anthropic: [
        'claude-opus-4',
        'claude-sonnet-4',
        'claude-3-5-haiku',
        'claude-haiku-4-5',
        'claude-sonnet-4-5',
      ],
      google: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash'],
    };
    for (const [provider, models] of Object.entries(expected)) {
      for (const model of models) expect(priceFor(provider, model), `${provider}:${model}`).toBeDefined();
    }
  });

  it('covers current OpenAI, Claude and Gemini 3 models', () => {
    const expected = {
      openai: ['gpt-5.1', 'gpt-5.2', 'gpt-5.4', 'gpt-5.4-mini', 'gpt-5.5'],
      anthropic: [
        'claude-opus-4-5-20251101',
        'claude-opus-4-6',
        'claude-sonnet-4-6',
        'claude-haiku-4-5-20251001',
      ],
      google: ['gemini-3-pro-preview', 'gemini-3-flash-preview', 'gemini-3.1-pro-preview'],
    };
    for (const [provider, models] of Object.entries(expected)) {
      for (const model of models) expect(priceFor(provider, model), `${provider}:${model}`).toBeDefined();
    }
  });

  it('has sane prices: positive, cache not above input, long context above its threshold', () => {
    for (const [provider, models] of Object.entries(PRICE_TABLE)) {
      if (provider === 'builtin') continue;
      for (const [model, price] of Object.entries(models)) {
        expect(price.input, model).toBeGreaterThan(0);
        expect(price.output, model).toBeGreaterThan(0);
        if (price.cachedInput !== undefined)
          expect(price.cachedInput, model).toBeLessThanOrEqual(price.input);
        if (price.longContext !== undefined) {
          expect(price.longContext.aboveInputTokens, model).toBeGreaterThan(0);
          expect(price.longContext.input, model).toBeGreaterThanOrEqual(price.input);
        }
      }
    }
  });
});

describe('priceFor', () => {
  it('matches exact ids', () => {
    expect(priceFor('openai', 'gpt-4o-mini')).toEqual({ input: 0.15, cachedInput: 0.075, output: 0.6 });
  });

  it('matches dated snapshots to the longest table id', () => {
    expect(priceFor('openai', 'gpt-4o-mini-2024-07-18')).toEqual(priceFor('openai', 'gpt-4o-mini'));
    expect(priceFor('openai', 'gpt-4o-2024-08-06')).toEqual(priceFor('openai', 'gpt-4o'));
    expect(priceFor('openai', 'gpt-4.1-nano-2025-04-14')).toEqual(priceFor('openai', 'gpt-4.1-nano'));
    expect(priceFor('openai', 'o3-mini-2025-01-31')).toEqual(priceFor('openai', 'o3-mini'));
    expect(priceFor('openai', 'gpt-3.5-turbo-0125')).toEqual(priceFor('openai', 'gpt-3.5-turbo'));
    expect(priceFor('anthropic', 'claude-sonnet-4-20250514')).toEqual(
      priceFor('anthropic', 'claude-sonnet-4'),
    );
    expect(priceFor('anthropic', 'claude-sonnet-4-5-20250929')).toEqual(
      priceFor('anthropic', 'claude-sonnet-4-5'),
    );
    expect(priceFor('anthropic', 'claude-opus-4-1-20250805')).toEqual(
      priceFor('anthropic', 'claude-opus-4-1'),
    );
    expect(priceFor('anthropic', 'claude-3-5-haiku-latest')).toEqual(
      priceFor('anthropic', 'claude-3-5-haiku'),
    );
    expect(priceFor('anthropic', 'claude-sonnet-4@20250514')).toEqual(
      priceFor('anthropic', 'claude-sonnet-4'),
    );
    expect(priceFor('google', 'gemini-2.0-flash-001')).toEqual(priceFor('google', 'gemini-2.0-flash'));
    expect(priceFor('google', 'gemini-2.5-flash-preview-05-20')).toEqual(
      priceFor('google', 'gemini-2.5-flash'),
    );
    expect(priceFor('google', 'gemini-2.5-flash-lite-preview-06-17')).toEqual(
      priceFor('google', 'gemini-2.5-flash-lite'),
    );
  });

  it('keeps a snapshot priced apart when the table lists it', () => {
    expect(priceFor('openai', 'gpt-4o-2024-05-13')).toEqual({ input: 5, output: 15 });
  });

  it('does not give a different model the price of its name prefix', () => {
    expect(priceFor('openai', 'gpt-4o-mini-pro')).toBeUndefined();
    expect(priceFor('openai', 'gpt-5-mini-turbo-2025-08-07')).toBeUndefined();
    expect(priceFor('google', 'gemini-2.5-flash-imaginary')).toBeUndefined();
    expect(priceFor('anthropic', 'claude-sonnet-4-5-fast')).toBeUndefined();
  });

  it('is undefined for unknown providers and models', () => {
    expect(priceFor('openai', 'my-finetune')).toBeUndefined();
    expect(priceFor('openai-compatible', 'gpt-4o')).toBeUndefined();
    expect(priceFor('nobody', 'gpt-4o')).toBeUndefined();
  });

  it('prices every builtin model at zero', () => {
    expect(priceFor('builtin', 'echo')).toEqual({ input: 0, output: 0 });
    expect(priceFor('builtin', 'anything-else')).toEqual({ input: 0, output: 0 });
  });
});

describe('costOf', () => {
  it('prices input and output per million tokens', () => {
    const cost = costOf({
      provider: 'openai',
      modelId: 'gpt-4o',
      usage: { inputTokens: 1_000_000, outputTokens: 100_000 },
    });
    expect(cost).toBeCloseTo(2.5 + 1, 10);
  });

  it('prices cached input tokens at the cached rate', () => {
    const cost = costOf({
      provider: 'openai',
      modelId: 'gpt-4o-mini-2024-07-18',
      usage: { inputTokens: 10_000, cachedInputTokens: 8_000, outputTokens: 1_000 },
    });
    expect(cost).toBeCloseTo((2_000 * 0.15 + 8_000 * 0.075 + 1_000 * 0.6) / 1e6, 12);
  });

  it('bills cached tokens at the input rate when the model has no cached rate', () => {
    const cost = costOf({
      provider: 'openai',
      modelId: 'gpt-4o-2024-05-13',
      usage: { inputTokens: 1_000, cachedInputTokens: 1_000, outputTokens: 0 },
    });
    expect(cost).toBeCloseTo((1_000 * 5) / 1e6, 12);
  });

  it('bills reasoning tokens as output (they are part of outputTokens)', () => {
    const withReasoning = costOf({
      provider: 'openai',
      modelId: 'o4-mini',
      usage: { inputTokens: 100, outputTokens: 1_000, reasoningTokens: 800 },
    });
    expect(withReasoning).toBeCloseTo((100 * 1.1 + 1_000 * 4.4) / 1e6, 12);
  });

  it('uses a separate reasoning rate when a model has one', () => {
    const table: PriceTable = { acme: { thinker: { input: 1, output: 2, reasoning: 10 } } };
    const cost = costOf({
      provider: 'acme',
      modelId: 'thinker',
      usage: { inputTokens: 0, outputTokens: 1_000, reasoningTokens: 400 },
      table,
    });
    expect(cost).toBeCloseTo((600 * 2 + 400 * 10) / 1e6, 12);
  });

  it('applies long-context rates above the threshold', () => {
    const usage = { inputTokens: 250_000, cachedInputTokens: 50_000, outputTokens: 1_000 };
    const cost = costOf({ provider: 'google', modelId: 'gemini-2.5-pro', usage });
    expect(cost).toBeCloseTo((200_000 * 2.5 + 50_000 * 0.25 + 1_000 * 15) / 1e6, 12);
    const short = costOf({
      provider: 'google',
      modelId: 'gemini-2.5-pro',
      usage: { inputTokens: 1_000, outputTokens: 1_000 },
    });
    expect(short).toBeCloseTo((1_000 * 1.25 + 1_000 * 10) / 1e6, 12);
  });

  it('is undefined, not 0, for an unknown model', () => {
    expect(
      costOf({ provider: 'openai', modelId: 'unknown-model', usage: { inputTokens: 10, outputTokens: 10 } }),
    ).toBeUndefined();
  });

  it('is 0 for builtin models', () => {
    expect(
      costOf({ provider: 'builtin', modelId: 'echo', usage: { inputTokens: 10, outputTokens: 10 } }),
    ).toBe(0);
  });
});
