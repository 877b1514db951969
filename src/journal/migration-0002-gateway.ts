import type { Migration } from './migrations.js';

/** Gateway state: rate-limit windows, shared response cache, call records. */
export const gatewayMigration: Migration = {
  version: 2,
  name: 'gateway_limits_cache_calls',
  up: () => `SELECT 1;`,
};
