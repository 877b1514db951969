import type { Migration } from './migrations.js';

/**
 * Which price table priced a gateway call (issue 13): `gateway_calls.price_table` holds
 * `PRICE_TABLE_VERSION` (e.g. `@pydantic/genai-prices@0.1.8+2026-12-06`) when the gateway
 * priced the call, null when it did not (unknown price, cached answer, rows written before).
 * A nullable column without default: adding it rewrites nothing.
 */
export const gatewayPriceTableMigration: Migration = {
  version: 25,
  name: 'gateway_price_table',
  up: (schema) => `ALTER TABLE ${schema}.gateway_calls ADD COLUMN price_table text;`,
};
