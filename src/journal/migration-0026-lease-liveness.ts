import type { Migration } from './migrations.js';

/**
 * Liveness locks (issue 14): `runs.lease_liveness` is true when the run's lease owner held its
 * liveness lock when it claimed the run (see `worker-liveness.ts`). Only such a run is claimable
 * as soon as its owner's lock is gone; a run claimed without one (a worker of an earlier
 * version during a rolling deploy, a client that cannot hold a session) waits for its lease as
 * before. A constant default: adding the column rewrites nothing.
 */
export const leaseLivenessMigration: Migration = {
  version: 26,
  name: 'lease_liveness',
  up: (schema) => `ALTER TABLE ${schema}.runs ADD COLUMN lease_liveness boolean NOT NULL DEFAULT false;`,
};
