/**
 * Generates src/model/price-catalog.generated.ts from the pinned `@pydantic/genai-prices` catalog
 * (a devDependency; runtime never loads it). Run `npm run prices:generate` after bumping the pin,
 * review the diff, commit both. src/model/price-catalog.test.ts fails when the committed file and
 * the pinned package disagree.
 *
 * Kept from the catalog: OpenAI, Anthropic and Google (Gemini) models' input, cached-input and
 * output rates per million tokens, and a long-context tier when all of a model's rates switch at
 * one prompt size (what Keel's `longContext` models). Dropped, and listed in the file's header:
 * models whose tiers Keel cannot express. Conditional prices take the one in force on the
 * generation date. Model ids: the catalog's id, its `equals` aliases and its `starts_with`
 * prefixes (Keel matches dated snapshots of a key, see prices.ts); `regex` and `contains` rules
 * are not carried over.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';

/** The catalog package, as pinned in package.json. */
export const CATALOG_PACKAGE = '@pydantic/genai-prices';

/** Catalog provider id → Keel's pricing provider id (what adapters report as `provider`). */
const PROVIDERS: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'google',
};

/** The generated file, relative to the repository root. */
export const GENERATED_PATH = 'src/model/price-catalog.generated.ts';

type Match =
  | { and: Match[] }
  | { or: Match[] }
  | { equals: string }
  | { starts_with: string }
  | { ends_with: string }
  | { contains: string }
  | { regex: string };
type Rate = number | { base: number; tiers: { start: number; price: number }[] } | undefined;
interface CatalogModel {
  id: string;
  match: Match;
  prices:
    | Record<string, Rate>
    | { constraint?: { type: string; start_date?: string }; prices: Record<string, Rate> }[];
}
/** The part of a catalog provider this script reads. */
export interface CatalogProvider {
  id: string;
  models: CatalogModel[];
}

interface Price {
  input: number;
  output: number;
  cachedInput?: number;
  longContext?: { aboveInputTokens: number; input: number; output: number; cachedInput?: number };
}

/** The ids a match rule names that Keel can look up: `equals` values and `starts_with` prefixes. */
function idsOf(match: Match): string[] {
  if ('or' in match) return match.or.flatMap(idsOf);
  if ('equals' in match) return [match.equals];
  if ('starts_with' in match) return [match.starts_with.replace(/[-.@]+$/, '')];
  return [];
}

/** The prices in force on `day` (YYYY-MM-DD): the latest start_date not after it. */
function pricesOn(model: CatalogModel, day: string): Record<string, Rate> | undefined {
  if (!Array.isArray(model.prices)) return model.prices;
  let chosen: Record<string, Rate> | undefined;
  for (const { constraint, prices } of model.prices) {
    if (constraint === undefined) chosen ??= prices;
    else if (
      constraint.type === 'start_date' &&
      constraint.start_date !== undefined &&
      constraint.start_date <= day
    )
      chosen = prices;
  }
  return chosen;
}

/** Keel's price for a catalog price, or a reason it cannot be expressed. */
function keelPrice(prices: Record<string, Rate>): Price | string {
  const fields = {
    input: prices.input_mtok,
    output: prices.output_mtok,
    cachedInput: prices.cache_read_mtok,
  };
  if (fields.input === undefined || fields.output === undefined) return 'no input or output token price';
  const starts = new Set<number>();
  for (const rate of Object.values(fields)) {
    if (typeof rate !== 'object') continue;
    if (rate.tiers.length !== 1) return 'more than one tier';
    starts.add(rate.tiers[0]!.start);
  }
  if (starts.size > 1) return 'tiers starting at different sizes';
  const base = (rate: Rate) => (typeof rate === 'object' ? rate.base : rate);
  const tier = (rate: Rate) => (typeof rate === 'object' ? rate.tiers[0]!.price : rate);
  const price: Price = { input: base(fields.input)!, output: base(fields.output)! };
  if (fields.cachedInput !== undefined) price.cachedInput = base(fields.cachedInput)!;
  const [start] = starts;
  if (start !== undefined) {
    price.longContext = { aboveInputTokens: start, input: tier(fields.input)!, output: tier(fields.output)! };
    if (fields.cachedInput !== undefined) price.longContext.cachedInput = tier(fields.cachedInput)!;
  }
  return price;
}

/** The generated module's source (formatted with the repository's prettier config). */
export async function renderPriceCatalog({
  providers,
  version,
  generatedOn,
}: {
  providers: readonly CatalogProvider[];
  version: string;
  generatedOn: string;
}): Promise<string> {
  const table: Record<string, Record<string, Price>> = {};
  const skipped: string[] = [];
  for (const [catalogId, keelId] of Object.entries(PROVIDERS)) {
    const provider = providers.find((candidate) => candidate.id === catalogId);
    if (provider === undefined) throw new Error(`The catalog has no provider "${catalogId}".`);
    const models: Record<string, Price> = {};
    for (const model of provider.models) {
      // Google's list also prices partner models on Vertex AI; Keel's `google` is the Gemini API.
      if (keelId === 'google' && !/^(gemini|gemma)/.test(model.id)) continue;
      const prices = pricesOn(model, generatedOn);
      const price = prices === undefined ? 'no price in force' : keelPrice(prices);
      if (typeof price === 'string') {
        skipped.push(`${keelId}:${model.id} (${price})`);
        continue;
      }
      // The first model naming an id wins, as the catalog's own lookup does.
      for (const id of [model.id, ...idsOf(model.match)])
        if (/[a-z0-9]$/i.test(id) && !(id in models)) models[id] = price;
    }
    table[keelId] = Object.fromEntries(Object.entries(models).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  const source =
    `// Generated by scripts/generate-prices.ts from ${CATALOG_PACKAGE}@${version}: do not edit.\n` +
    `// Regenerate with \`npm run prices:generate\` after changing the pinned version, and review the diff.\n` +
    (skipped.length === 0
      ? ''
      : `// Not carried over (Keel's price shape cannot express them): ${skipped.join(', ')}.\n`) +
    `import type { PriceTable } from './prices.js';\n\n` +
    `/** The catalog the table was generated from, and the day whose prices it holds. */\n` +
    `export const PRICE_CATALOG = ${JSON.stringify({ name: CATALOG_PACKAGE, version, generatedOn })} as const;\n\n` +
    `/** USD per million tokens, by provider then model id. */\n` +
    `export const CATALOG_PRICES: PriceTable = ${JSON.stringify(table)};\n`;
  const root = fileURLToPath(new URL('../', import.meta.url));
  const options = (await resolveConfig(`${root}${GENERATED_PATH}`)) ?? {};
  return format(source, { ...options, parser: 'typescript' });
}

/** The pinned catalog's version and providers. */
export async function loadCatalog(): Promise<{ version: string; providers: CatalogProvider[] }> {
  const catalog = await import(CATALOG_PACKAGE);
  // The package exports no ./package.json: its manifest sits above its entry point's dist/.
  const manifestPath = resolve(
    dirname(createRequire(import.meta.url).resolve(CATALOG_PACKAGE)),
    '../package.json',
  );
  const { version } = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string };
  const providers = Object.keys(PROVIDERS).map((providerId) => {
    const provider = catalog.findProvider({ providerId }) as CatalogProvider | undefined;
    if (provider === undefined) throw new Error(`${CATALOG_PACKAGE} has no provider "${providerId}".`);
    return provider;
  });
  return { version, providers };
}

async function main(): Promise<void> {
  const { version, providers } = await loadCatalog();
  const generatedOn = new Date().toISOString().slice(0, 10);
  const source = await renderPriceCatalog({ providers, version, generatedOn });
  const target = fileURLToPath(new URL(`../${GENERATED_PATH}`, import.meta.url));
  writeFileSync(target, source);
  console.log(`Wrote ${GENERATED_PATH} from ${CATALOG_PACKAGE}@${version} (${generatedOn}).`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
