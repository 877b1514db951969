import type { Migration } from './migrations.js';

/**
 * The prompt registry (issue 10, build 4): versions of an agent's instructions per tenant, and
 * which one is pinned.
 *
 * - `prompt_versions` is one row per pushed version, numbered 1, 2, 3... per (tenant, agent) and
 *   named `v1`, `v2`... A version is never changed once written (a run records its name and
 *   replays with its text), so a reader may cache its text forever.
 * - `prompt_pins` is one row per (tenant, agent) with a pin: the pinned version and the stack of
 *   versions pinned before it (`previous`, most recent last), which `rollback` pops. No row: the
 *   instructions in code are used.
 *
 * Who pinned what and when is in the audit log (`prompt.pin`, `prompt.rollback`), written in the
 * same transaction as the change.
 */
export const promptsMigration: Migration = {
  version: 20,
  name: 'prompts',
  up: (schema) => `
    CREATE TABLE ${schema}.prompt_versions (
      tenant_id text NOT NULL,
      agent text NOT NULL,
      version integer NOT NULL CHECK (version >= 1),
      text text NOT NULL,
      note text,
      sha256 text NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, agent, version)
    );

    CREATE TABLE ${schema}.prompt_pins (
      tenant_id text NOT NULL,
      agent text NOT NULL,
      version integer NOT NULL,
      previous integer[] NOT NULL DEFAULT '{}',
      pinned_by text NOT NULL,
      pinned_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, agent),
      FOREIGN KEY (tenant_id, agent, version) REFERENCES ${schema}.prompt_versions (tenant_id, agent, version)
    );
  `,
};
