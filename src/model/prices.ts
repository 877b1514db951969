/**
 * List prices of models, in USD per million tokens, and the cost of one call.
 *
 * The table is generated (price-catalog.generated.ts, by scripts/generate-prices.ts) from a
 * maintained, versioned catalog pinned as a devDependency (docs/decisions/2026-12-06-price-catalog.md);
 * runtime never loads the catalog package. To update prices, bump the pin and regenerate. Not
 * modeled: batch and flex discounts, priority tiers, Anthropic cache writes (billed above the
 * input rate), audio and image tokens, and per-hour cache storage. Models missing from the
 * catalog (newer releases, most fine-tunes) cost `undefined`, never 0.
 */
import type { Usage } from './model.js';
import { CATALOG_PRICES, PRICE_CATALOG } from './price-catalog.generated.js';

/**
 * Which table priced a cost: the catalog package, its version and the day whose prices were
 * taken, e.g. `@pydantic/genai-prices@0.1.8+2026-12-06`. Recorded on every priced model step and
 * gateway call (`priceTable`) so old costs stay explainable.
 */
export const PRICE_TABLE_VERSION = `${PRICE_CATALOG.name}@${PRICE_CATALOG.version}+${PRICE_CATALOG.generatedOn}`;

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

/** The built-in table: the catalog's prices. Override per deployment by passing your own table. */
export const PRICE_TABLE: PriceTable = {
  ...CATALOG_PRICES,
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
