import type { Migration } from './migrations.js';

/**
 * Sessions: a conversation carried across runs that share a `session_id`. No table of its own
 * (a session is its runs); one index serves the three session queries:
 *
 * - the claim's "is an earlier run of this session still live?" check (`NOT EXISTS` per
 *   candidate), so a queued message waits behind the one being answered;
 * - `GET /v1/sessions/{id}` (count, first and last run, live runs) and its messages;
 * - the history a run of the session starts from (completed runs created before it).
 *
 * `runs_session_created` (no tenant) stays for `listRuns` filtered by session alone (the CLI).
 */
export const sessionsMigration: Migration = {
  version: 5,
  name: 'sessions',
  up: (schema) => `
    CREATE INDEX runs_tenant_session_created ON ${schema}.runs (tenant_id, session_id, created_at, id)
      WHERE session_id IS NOT NULL;
  `,
};
