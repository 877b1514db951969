import { priceFor, type PriceTable } from '../model/prices.js';

/** What one model call is priced at when it is reserved: per million tokens, as exact decimals. */
export interface CallPricing {
  /** False when the price table does not know the model: it cannot run under a dollar budget. */
  known: boolean;
  /** USD per million prompt tokens (the uncached rate: the worst case). */
  inputPerMillion: string;
  /** USD per million output tokens (the reasoning rate when a model bills it higher). */
  outputPerMillion: string;
}

/**
 * The worst-case rates of a call with `promptTokens` prompt tokens, from the same price table
 * `costOf` settles with: cached input is priced as uncached, reasoning at the higher of the two
 * output rates, and a prompt past a long-context threshold at the long-context rates. Kept as
 * the table's decimal strings so the database multiplies exactly.
 */
export function callPricing({
  provider,
  modelId,
  promptTokens,
  table,
}: {
  provider: string;
  modelId: string;
  promptTokens: number;
  table?: PriceTable;
}): CallPricing {
  const price = priceFor(provider, modelId, table);
  if (price === undefined) return { known: false, inputPerMillion: '0', outputPerMillion: '0' };
  const long =
    price.longContext !== undefined && promptTokens > price.longContext.aboveInputTokens
      ? price.longContext
      : undefined;
  const input = long?.input ?? price.input;
  const output = Math.max(long?.output ?? price.output, price.reasoning ?? 0);
  return { known: true, inputPerMillion: String(input), outputPerMillion: String(output) };
}

/** A call's worst case in dollars at `pricing`: its prompt and `outputTokens` output tokens. */
export function worstCaseUsd(pricing: CallPricing, promptTokens: number, outputTokens: number): number {
  return (
    (promptTokens * Number(pricing.inputPerMillion) + outputTokens * Number(pricing.outputPerMillion)) / 1e6
  );
}

/** Dollars rounded to 12 decimal places: no float noise in a stored limit or a request. */
export function roundUsd(value: number): number {
  return Math.round(value * 1e12) / 1e12;
}
