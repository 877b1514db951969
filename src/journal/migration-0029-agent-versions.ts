import type { Migration } from './migrations.js';

/**
 * Which agent version a run ran (issue 14, deploys never break runs in flight):
 * - `runs.agent_version` is the version whose code produced the run's journal (`agentVersionOf`:
 *   hash, instructions hash, tool names, model), set by the run's first execution; null before.
 * - `runs.version_changes` lists each resume by another version (a deploy), oldest first, with
 *   the first step the new version took and what changed (instructions, tools added/removed,
 *   model). Empty for every existing run: a constant default rewrites nothing.
 */
export const agentVersionsMigration: Migration = {
  version: 29,
  name: 'agent_versions',
  up: (schema) => `
    ALTER TABLE ${schema}.runs ADD COLUMN agent_version jsonb;
    ALTER TABLE ${schema}.runs ADD COLUMN version_changes jsonb NOT NULL DEFAULT '[]'::jsonb;
  `,
};
