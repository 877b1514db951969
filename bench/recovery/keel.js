// Keel side of the recovery benchmark: how to start a worker, submit the run and read the
// run's claim state and journal. Everything Keel-specific of that benchmark is here.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadKeel } from '../lib/keel.js';

export const name = 'Keel';

const CONFIG = fileURLToPath(new URL('./keel.config.js', import.meta.url));
// The CLI of the Keel the bench imports (bench/node_modules/keel -> the root package).
const LINKED_BIN = fileURLToPath(new URL('../node_modules/keel/bin/keel.js', import.meta.url));
const BIN = existsSync(LINKED_BIN)
  ? LINKED_BIN
  : fileURLToPath(new URL('../../bin/keel.js', import.meta.url));

/** A worker's output once it is up and claiming (its JSON log line). */
export const READY = /worker started/;

/** argv and env of one worker process. */
export function workerCommand({ databaseUrl, toolSleepMs }) {
  return {
    args: [BIN, 'worker', '--config', CONFIG, '--concurrency', '1'],
    env: { DATABASE_URL: databaseUrl, KEEL_BENCH_TOOL_SLEEP_MS: String(toolSleepMs) },
  };
}

/** Applies migrations and returns { submit() -> runId, state(runId), close() }. */
export async function open({ databaseUrl }) {
  const { openStore } = await loadKeel(['openStore']);
  const { store } = await openStore({ databaseUrl });
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  return {
    async submit() {
      const { run } = await store.createRun({ agent: 'recovery', input: 'go' });
      return run.id;
    },
    /**
     * { status, owner, fence, attempts, leaseRemainingMs, steps: 'seq:kind:status:attempt:ended,...' }:
     * `steps` changes whenever a journal entry is written.
     */
    async state(runId) {
      const { rows } = await db.query(
        `SELECT r.status, r.lease_owner AS owner, r.fence::int AS fence, r.attempts::int AS attempts,
                (extract(epoch FROM r.lease_expires_at - now()) * 1000)::float8 AS "leaseRemainingMs",
                coalesce((SELECT string_agg(s.seq || ':' || s.kind || ':' || s.status || ':' || s.attempt || ':' ||
                                            coalesce(s.ended_at::text, ''), ',' ORDER BY s.seq)
                            FROM keel.steps s WHERE s.run_id = r.id), '') AS steps
           FROM keel.runs r WHERE r.id = $1`,
        [runId],
      );
      return rows[0];
    },
    async close() {
      await db.end();
      await store.close();
    },
  };
}
