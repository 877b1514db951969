import { describe, expect, it } from 'vitest';
import type { LanguageModel, ModelRequest, ModelResponse, Usage } from '../model/model.js';
import { costOf, PRICE_TABLE_VERSION } from '../model/prices.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import { countableUsage, modelStepOutcome } from './model-step-outcome.js';

const model = { provider: 'openai', modelId: 'gpt-4o' } as LanguageModel;
const request: ModelRequest = { messages: [{ role: 'user', content: 'Plan a weekend in Lisbon.' }] };
const answer = (usage: Usage): ModelResponse => ({
  message: { role: 'assistant', content: 'Day one: Alfama.' },
  finishReason: 'stop',
  usage,
  modelId: 'gpt-4o',
});

describe('modelStepOutcome', () => {
  it('journals reported usage, its price and its source', () => {
    const outcome = modelStepOutcome({
      model,
      request,
      response: answer({ inputTokens: 1_000, outputTokens: 50 }),
    });
    expect(outcome).toMatchObject({
      status: 'completed',
      usage: { inputTokens: 1_000, outputTokens: 50, source: 'reported' },
      costUsd: costOf({
        provider: 'openai',
        modelId: 'gpt-4o',
        usage: { inputTokens: 1_000, outputTokens: 50 },
      }),
      meta: { finishReason: 'stop', priced: true, priceTable: PRICE_TABLE_VERSION, usageSource: 'reported' },
    });
    expect(outcome.meta).not.toHaveProperty('usageInvalid');
  });

  it('estimates what a model written elsewhere left at 0, and prices the estimate', () => {
    const outcome = modelStepOutcome({
      model,
      request,
      response: answer({ inputTokens: 0, outputTokens: 0 }),
    });
    expect(outcome.usage).toMatchObject({ inputTokens: estimateRequestTokens(request, { model: 'gpt-4o' }) });
    expect(outcome.costUsd).toBeGreaterThan(0);
    expect(outcome.meta).toMatchObject({ priced: true, usageSource: 'estimated' });
  });

  it('never journals negative or non-finite usage', () => {
    for (const usage of [
      { inputTokens: -1_000_000, outputTokens: 10 },
      { inputTokens: Number.NaN, outputTokens: 10 },
      { inputTokens: 100, outputTokens: Number.NEGATIVE_INFINITY },
    ]) {
      const outcome = modelStepOutcome({ model, request, response: answer(usage) });
      expect(outcome.usage?.inputTokens).toBeGreaterThan(0);
      expect(outcome.usage?.outputTokens).toBeGreaterThan(0);
      expect(outcome.costUsd).toBeGreaterThan(0);
      expect(outcome.meta).toMatchObject({ usageSource: 'estimated' });
      expect(outcome.meta?.usageInvalid).toMatch(/negative|not_finite/);
      // The recorded output carries the same figure, so a replay reads what the run summed.
      expect((outcome.status === 'completed' ? (outcome.output as ModelResponse) : undefined)?.usage).toEqual(
        outcome.usage,
      );
    }
  });

  it('says when no price is known, with usage still counted', () => {
    const unknown = { provider: 'openai', modelId: 'my-private-model' } as LanguageModel;
    const outcome = modelStepOutcome({
      model: unknown,
      request,
      response: answer({ inputTokens: 0, outputTokens: 0 }),
    });
    expect(outcome.meta).toMatchObject({ priced: false, usageSource: 'estimated' });
    expect(outcome.meta).not.toHaveProperty('priceTable');
    expect(outcome.costUsd).toBe(0);
  });
});

describe('countableUsage', () => {
  it('counts figures journaled before usage was checked as 0 when they cannot be true', () => {
    expect(countableUsage({ inputTokens: -5, outputTokens: Number.NaN }, -4.58)).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    });
    expect(countableUsage({ inputTokens: 5, outputTokens: 2 }, 0.5)).toEqual({
      inputTokens: 5,
      outputTokens: 2,
      costUsd: 0.5,
    });
    expect(countableUsage(undefined, undefined)).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
  });
});
