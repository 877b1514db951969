import type { Migration } from './migrations.js';

/** Tenants' API keys (virtual keys), stored hashed. */
export const apiKeysMigration: Migration = {
  version: 3,
  name: 'api_keys',
  up: () => `SELECT 1;`,
};
