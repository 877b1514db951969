/**
 * List prices of common models, in USD per million tokens, and the cost of one call.
 *
 * These are list prices as best known on PRICE_TABLE_VERSION; they MUST be checked against the
 * providers' pricing pages (openai.com/api/pricing, anthropic.com/pricing, ai.google.dev/pricing)
 * before being relied on, and the version bumped whenever a price changes. Not modeled: batch and
 * flex discounts, priority tiers, Anthropic cache writes (billed above the input rate), audio and
 * image tokens, and per-hour cache storage. Models missing here (newer releases, fine-tunes) cost
 * `undefined`, never 0, until they are added.
 */
import type { Usage } from './model.js';

/**
 * The date of the list prices in the table (not yet verified against the live pages: see above).
 * Recorded beside costs so old costs stay explainable; bump it with every price change.
 */
export const PRICE_TABLE_VERSION = '2025-11-24';

/** Prices of one model, USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Input tokens read from the prompt cache. Absent: cached tokens cost the full input rate. */
  cachedInput?: number;
  /** Reasoning tokens, when a model bills them apart; absent, they are billed as output. */
  reasoning?: number;
  /** Higher rates for the whole call once the prompt exceeds a size (Gemini 2.5 Pro, Claude 1M context). */
  longContext?: { aboveInputTokens: number; input: number; output: number; cachedInput?: number };
}

/** Prices by provider id, then by model id (the undated name; snapshots match by prefix). */
export type PriceTable = Readonly<Record<string, Readonly<Record<string, ModelPrice>>>>;

/** Every model of this provider costs this, whatever its id. */
const ANY_MODEL = '*';

/** The built-in table. Override per deployment by passing your own table. */
export const PRICE_TABLE: PriceTable = {
  openai: {
    'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
    'gpt-5-chat-latest': { input: 1.25, cachedInput: 0.125, output: 10 },
    'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
    'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
    'gpt-5-pro': { input: 15, output: 120 },
    'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
    'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
    'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
    'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
    // The first gpt-4o snapshot kept its launch price.
    'gpt-4o-2024-05-13': { input: 5, output: 15 },
    'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
    'gpt-4-turbo': { input: 10, output: 30 },
    'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
    o1: { input: 15, cachedInput: 7.5, output: 60 },
    'o1-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
    o3: { input: 2, cachedInput: 0.5, output: 8 },
    'o3-pro': { input: 20, output: 80 },
    'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
    'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  },
  anthropic: {
    // Cache reads are 0.1x the input rate.
    'claude-opus-4-5': { input: 5, cachedInput: 0.5, output: 25 },
    'claude-opus-4-1': { input: 15, cachedInput: 1.5, output: 75 },
    'claude-opus-4': { input: 15, cachedInput: 1.5, output: 75 },
    'claude-sonnet-4-5': {
      input: 3,
      cachedInput: 0.3,
      output: 15,
      longContext: { aboveInputTokens: 200_000, input: 6, cachedInput: 0.6, output: 22.5 },
    },
    'claude-sonnet-4': {
      input: 3,
      cachedInput: 0.3,
      output: 15,
      longContext: { aboveInputTokens: 200_000, input: 6, cachedInput: 0.6, output: 22.5 },
    },
    'claude-3-7-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
    'claude-3-5-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
    'claude-haiku-4-5': { input: 1, cachedInput: 0.1, output: 5 },
    'claude-3-5-haiku': { input: 0.8, cachedInput: 0.08, output: 4 },
    'claude-3-haiku': { input: 0.25, cachedInput: 0.03, output: 1.25 },
  },
  google: {
    // Thinking tokens are billed at the output rate, which the default already does.
    'gemini-2.5-pro': {
      input: 1.25,
      cachedInput: 0.125,
      output: 10,
      longContext: { aboveInputTokens: 200_000, input: 2.5, cachedInput: 0.25, output: 15 },
    },
    'gemini-2.5-flash': { input: 0.3, cachedInput: 0.03, output: 2.5 },
    'gemini-2.5-flash-lite': { input: 0.1, cachedInput: 0.01, output: 0.4 },
    'gemini-2.0-flash': { input: 0.1, cachedInput: 0.025, output: 0.4 },
    'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
  },
  // Keel's own offline models cost nothing; a known zero, unlike an unknown price.
  builtin: { [ANY_MODEL]: { input: 0, output: 0 } },
};

/**
 * What may follow a table id in a snapshot id: a date (`-2024-07-18`, `-20250514`, `@20250514`),
 * a short version (`-0613`, `-001`), `-latest`, a dated preview (`-preview-05-20`) or a cloud
 * version tag (`-v1:0`). Anything else (`-pro`, `-audio-preview`, `-4-5`) is a different model,
 * which must stay unknown rather than inherit a wrong price.
 */
const SNAPSHOT_SUFFIX =
  /^(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|preview(?:-\d{2}-\d{2}(?:-\d{4})?)?|exp(?:-\d{2}-\d{2})?|v\d+(?::\d+)?))+$/;

/**
 * The price of a model, or undefined when the table does not know it. Matches the exact id first,
 * then the longest table id of which `modelId` is a dated snapshot
 * (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `claude-sonnet-4-20250514` → `claude-sonnet-4`).
 */
export function priceFor(
  provider: string,
  modelId: string,
  table: PriceTable = PRICE_TABLE,
): ModelPrice | undefined {
  const prices = table[provider];
  if (prices === undefined) return undefined;
  const exact = prices[modelId];
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const candidate of Object.keys(prices)) {
    if (candidate === ANY_MODEL || !modelId.startsWith(candidate)) continue;
    if (!SNAPSHOT_SUFFIX.test(modelId.slice(candidate.length))) continue;
    if (best === undefined || candidate.length > best.length) best = candidate;
  }
  return best === undefined ? prices[ANY_MODEL] : prices[best];
}

/** Options of {@link costOf}. */
export interface CostOfOptions {
  provider: string;
  modelId: string;
  usage: Usage;
  table?: PriceTable;
}

/**
 * The cost of one call in USD, or undefined when the model's price is unknown. Unknown is not 0:
 * a caller summing costs must see that a part is missing. Cached input tokens (a subset of input
 * tokens) are billed at the cached rate; reasoning tokens (a subset of output tokens) at the output
 * rate unless the model prices them apart.
 */
export function costOf({ provider, modelId, usage, table = PRICE_TABLE }: CostOfOptions): number | undefined {
  const price = priceFor(provider, modelId, table);
  if (price === undefined) return undefined;
  const long =
    price.longContext !== undefined && usage.inputTokens > price.longContext.aboveInputTokens
      ? price.longContext
      : undefined;
  const inputRate = long?.input ?? price.input;
  const outputRate = long?.output ?? price.output;
  const cachedRate = long?.cachedInput ?? price.cachedInput ?? inputRate;
  const cachedTokens = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const reasoningTokens =
    price.reasoning === undefined ? 0 : Math.min(usage.reasoningTokens ?? 0, usage.outputTokens);
  const microDollars =
    (usage.inputTokens - cachedTokens) * inputRate +
    cachedTokens * cachedRate +
    (usage.outputTokens - reasoningTokens) * outputRate +
    reasoningTokens * (price.reasoning ?? outputRate);
  return microDollars / 1_000_000;
}
