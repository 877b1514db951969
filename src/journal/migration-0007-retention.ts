import type { Migration } from './migrations.js';

/** Retention (`keel prune`): ended runs found by when they ended, oldest first. */
export const retentionMigration: Migration = {
  version: 7,
  name: 'retention',
  up: (schema) => `
    CREATE INDEX runs_ended ON ${schema}.runs (ended_at) WHERE ended_at IS NOT NULL;
  `,
};
