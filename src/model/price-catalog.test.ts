import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, loadCatalog, renderPriceCatalog } from '../../scripts/generate-prices.js';
import { PRICE_CATALOG } from './price-catalog.generated.js';

describe('the generated price table', () => {
  it('is what scripts/generate-prices.ts makes from the pinned catalog (run `npm run prices:generate`)', async () => {
    const { version, providers } = await loadCatalog();
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    // Pinned exactly: a range would let an install move prices under the committed table.
    expect(manifest.devDependencies[PRICE_CATALOG.name]).toBe(version);
    expect(PRICE_CATALOG.version).toBe(version);
    const regenerated = await renderPriceCatalog({
      providers,
      version,
      generatedOn: PRICE_CATALOG.generatedOn,
    });
    const committed = readFileSync(new URL(`../../${GENERATED_PATH}`, import.meta.url), 'utf8');
    expect(committed).toBe(regenerated);
  });

  it('takes conditional prices in force on the generation day and carries one long-context tier', async () => {
    const providers = [
      {
        id: 'openai',
        models: [
          {
            id: 'm',
            match: { or: [{ equals: 'm' }, { starts_with: 'm-alias-' }] },
            prices: [
              { prices: { input_mtok: 2, output_mtok: 4 } },
              {
                constraint: { type: 'start_date', start_date: '2026-01-01' },
                prices: { input_mtok: 1, output_mtok: 3 },
              },
            ],
          },
        ],
      },
      {
        id: 'anthropic',
        models: [
          {
            id: 'long',
            match: { equals: 'long' },
            prices: {
              input_mtok: { base: 3, tiers: [{ start: 200_000, price: 6 }] },
              cache_read_mtok: { base: 0.3, tiers: [{ start: 200_000, price: 0.6 }] },
              output_mtok: { base: 15, tiers: [{ start: 200_000, price: 22.5 }] },
            },
          },
          {
            id: 'odd',
            match: { equals: 'odd' },
            prices: {
              input_mtok: { base: 1, tiers: [{ start: 10, price: 2 }] },
              output_mtok: { base: 1, tiers: [{ start: 20, price: 2 }] },
            },
          },
        ],
      },
      {
        id: 'google',
        models: [
          {
            id: 'claude-on-vertex',
            match: { equals: 'claude-on-vertex' },
            prices: { input_mtok: 1, output_mtok: 1 },
          },
        ],
      },
    ];
    const before = await renderPriceCatalog({ providers, version: '9.9.9', generatedOn: '2025-12-31' });
    const after = await renderPriceCatalog({ providers, version: '9.9.9', generatedOn: '2026-01-01' });
    expect(before).toContain('m: { input: 2, output: 4 }');
    expect(after).toContain('m: { input: 1, output: 3 }');
    expect(after).toContain("'m-alias': { input: 1, output: 3 }");
    expect(after).toMatch(
      /long: \{\s*input: 3,\s*output: 15,\s*cachedInput: 0.3,\s*longContext: \{ aboveInputTokens: 200000, input: 6, output: 22.5, cachedInput: 0.6 \}/,
    );
    expect(after).toContain('anthropic:odd (tiers starting at different sizes)');
    expect(after).not.toContain('claude-on-vertex');
  });
});
