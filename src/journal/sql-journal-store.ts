import { ApprovalNotFoundError, ApprovalNotPendingError } from '../errors/approval-errors.js';
import { RunCancelledError } from '../errors/runtime-errors.js';
import {
  LeaseLostError,
  RunAlreadyRetriedError,
  RunNotDeadError,
  RunNotFoundError,
} from '../errors/storage-errors.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { createId } from '../util/ids.js';
import type { IdGenerator } from '../util/ids.js';
import { appendAudit } from './audit-log.js';
import { assertSchemaName, DEFAULT_SCHEMA, migrate } from './migrations.js';
import { withSessionLock } from './session-lock.js';
import { TRACE_ID_SQL } from './migration-0023-run-search.js';
import { INLINE_OUTPUT_MAX_BYTES } from './migration-0031-inline-outputs.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';
import { setStepFactsSql, stepFactsOfRunFromSql, writeStepFactsSql } from './run-step-facts.js';
import type { SessionLockHold, SqlClient, SqlExecutor } from './sql-client.js';
import type { JournalStore } from './store.js';
import {
  toApprovalRecord,
  toJson,
  toRunRecord,
  toStepRecord,
  type ApprovalRow,
  type RunRow,
  type StepRow,
  type TextDeltaRow,
  retriedBySql,
  toDate,
  TERMINAL_SQL,
} from './sql-rows.js';
import { fromStorableText, toStorableText } from './storable-json.js';
import { packStepMeta } from './step-meta-codec.js';
import { statusForStopReason } from './types.js';
import { livenessLockKey, OWNER_GONE_SQL } from './worker-liveness.js';
import type { ApprovalStatus, Lease, RunRecord, StepStart } from './types.js';

/** Options of `createSqlJournalStore`. */
export interface SqlJournalStoreOptions {
  client: SqlClient;
  /** Postgres schema of the tables (default `keel`); validated, then interpolated into SQL. */
  schema?: string;
  /** Stamps `created_at` (the same clock that orders generated ids). Leases use the database clock. */
  clock?: Clock;
  generateId?: IdGenerator;
  /** Close `client` when the store closes (default false: whoever created the client owns it). */
  closeClient?: boolean;
}

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;
const MAX_CHANNEL_LENGTH = 63;
/** A run's trace id as OpenTelemetry shows it (telemetry/span-ids.ts). */
const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * The journal store over SQL, for PGlite and Postgres alike.
 *
 * Round trips: every method is one statement, except on rare paths (a duplicate idempotency
 * key reads the existing run; a refused fenced write looks once more to tell an already
 * applied retry from a lost lease). A journaled step costs one round trip for `completeStep`
 * (payload insert and step upsert in one statement) plus one for `startStep` when the step has
 * effects.
 *
 * Time: leases, `available_at`, `started_at`, `ended_at` and `updated_at` use the database's
 * `now()`, so clock skew between machines cannot break a lease; `created_at` uses the injected
 * clock, which also orders generated ids and so keeps the (created_at, id) keyset coherent.
 *
 * Fencing: a lease is held while the run is `running` with the same owner and fence. Each
 * fenced write checks that in the statement that writes, locking the run row (`FOR SHARE`), so
 * a claim by another worker either happens before (the write is refused with `LeaseLostError`,
 * nothing written) or after (the new owner sees the write when it loads the journal). A claim
 * takes a running run over when its lease expired, or at once when its owner's liveness lock is
 * gone (the process died: see `worker-liveness.ts`); either way it bumps the fence.
 *
 * Append-only steps: once a step is `completed` or `failed`, it never changes. A second
 * `completeStep` for the same seq is a no-op that keeps the first record and its payload,
 * whether or not it is identical; this makes retrying an ambiguous write (sent, answer lost)
 * safe. Divergence is the runtime's to detect, by comparing the replayed step with its record.
 * Likewise `startStep` on a finished step does nothing; on a `started` step it records the new
 * attempt.
 */
export function createSqlJournalStore({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
  generateId = createId,
  closeClient = false,
}: SqlJournalStoreOptions): JournalStore {
  assertSchemaName(schema);
  const runs = `${schema}.runs`;
  const steps = `${schema}.steps`;
  const payloads = `${schema}.payloads`;
  const approvals = `${schema}.approvals`;
  const textDeltas = `${schema}.text_deltas`;
  const channel = `${schema}_runnable`.slice(0, MAX_CHANNEL_LENGTH);
  /** Notified with a run's id when it ends (finished, or cancelled before it ran on). */
  const endedChannel = `${schema}_run_ended`.slice(0, MAX_CHANNEL_LENGTH);
  const leaseInterval = (parameter: string) => `now() + ${parameter}::float8 * interval '1 millisecond'`;
  const unsubscribers = new Set<() => Promise<void>>();
  /** The liveness locks this store holds, by lease owner (see `holdLiveness`). */
  const liveness = new Map<string, SessionLockHold>();

  const heldLease = `
    lease AS (
      SELECT id FROM ${runs}
      WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'running'
      FOR SHARE
    )`;

  /** Requeues runs awaiting approval that have nothing pending any more (call with them locked). */
  const wakeRuns = (tx: SqlExecutor, runIds: readonly string[]) =>
    tx.query(
      `UPDATE ${runs} AS run SET status = 'queued', available_at = now(), updated_at = now(),
         ${waitedMsUpdate('run.waiting_since')}, waiting_since = NULL
       WHERE run.id = ANY($1::text[]) AND run.status = 'awaiting_approval'
         AND NOT EXISTS (SELECT 1 FROM ${approvals} WHERE run_id = run.id AND status = 'pending')
       RETURNING pg_notify($2, '')`,
      [[...runIds], channel],
    );

  const subscribe = async (name: string, listener: (payload: string) => void) => {
    const unlisten = await client.listen(name, listener);
    const unsubscribe = async () => {
      unsubscribers.delete(unsubscribe);
      await unlisten();
    };
    unsubscribers.add(unsubscribe);
    return unsubscribe;
  };

  const store: JournalStore = {
    async migrate() {
      await migrate(client, { schema });
    },

    async createRun(run) {
      const tenantId = run.tenantId ?? 'default';
      const idempotencyKey = run.idempotencyKey ?? null;
      const inserted = await client.query<RunRow>(
        `INSERT INTO ${runs} (id, tenant_id, agent, status, input, session_id, metadata, idempotency_key, created_at,
           user_id, trigger, created_by, prompt_version, agent_version)
         VALUES ($1, $2, $3, 'queued', $4::jsonb, $5, $6::jsonb, $7, $8::timestamptz, $10, $11, $12, $13, $14::jsonb)
         ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *, pg_notify($9, '')`,
        [
          run.id ?? generateId('run'),
          tenantId,
          run.agent,
          toJson(run.input),
          run.sessionId ?? null,
          toJson(run.metadata ?? {}),
          idempotencyKey,
          new Date(clock.now()).toISOString(),
          channel,
          run.userId ?? null,
          run.trigger ?? null,
          run.createdBy ?? null,
          run.promptVersion ?? null,
          run.agentVersion ? toJson(run.agentVersion) : null,
        ],
      );
      const row = inserted.rows[0];
      if (row) return { run: toRunRecord(row), created: true };
      // Conflict: ON CONFLICT waited for any concurrent insert of the key to commit, and this
      // second statement's snapshot sees it.
      const existing = await client.query<RunRow>(
        `SELECT * FROM ${runs} WHERE tenant_id = $1 AND idempotency_key = $2`,
        [tenantId, idempotencyKey],
      );
      const existingRow = existing.rows[0];
      if (!existingRow)
        throw new Error(`Run with idempotency key ${String(idempotencyKey)} vanished during creation.`);
      return { run: toRunRecord(existingRow), created: false };
    },

    async getRun(runId, { tenantId } = {}) {
      const result = await client.query<RunRow>(
        `SELECT run.*, ${retriedBySql(runs, 'run.id')} AS retried_by FROM ${runs} AS run
         WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text)`,
        [runId, tenantId ?? null],
      );
      const row = result.rows[0];
      return row ? toRunRecord(row) : undefined;
    },

    async retryRun({ runId, tenantId, actor, id, createdBy, promptVersion }) {
      const outcome = await client.transaction(async (tx) => {
        // The row lock serializes concurrent retries of one run. The link is read by a second
        // statement: its snapshot, taken after the lock was granted, sees a retry committed
        // meanwhile (the unique index on retry_of would refuse a second one anyway).
        const found = await tx.query<RunRow>(
          `SELECT * FROM ${runs} WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text) FOR UPDATE`,
          [runId, tenantId ?? null],
        );
        const dead = found.rows[0];
        if (!dead) return { kind: 'not_found' } as const;
        if (dead.stop_reason !== 'error') return { kind: 'not_dead', dead } as const;
        const earlier = await tx.query<{ id: string }>(`SELECT id FROM ${runs} WHERE retry_of = $1`, [runId]);
        const retriedBy = earlier.rows[0]?.id;
        if (retriedBy !== undefined) return { kind: 'retried', retriedBy } as const;
        const inserted = await tx.query<RunRow>(
          `INSERT INTO ${runs} (id, tenant_id, agent, status, input, session_id, metadata, created_at,
             user_id, trigger, created_by, prompt_version, retry_of)
           SELECT $1, tenant_id, agent, 'queued', input, session_id, metadata, $2::timestamptz,
             user_id, 'retry', $3, CASE WHEN $4::boolean THEN $5 ELSE prompt_version END, id
           FROM ${runs} WHERE id = $6
           RETURNING *, pg_notify($7, '')`,
          [
            id ?? generateId('run'),
            new Date(clock.now()).toISOString(),
            createdBy ?? null,
            promptVersion !== undefined,
            promptVersion ?? null,
            runId,
            channel,
          ],
        );
        const retry = inserted.rows[0]!;
        // The retry and its audit row commit together.
        await appendAudit(
          tx,
          {
            tenantId: dead.tenant_id,
            actor,
            action: 'run.retry',
            target: `run:${runId}`,
            before: { status: dead.status, stop_reason: dead.stop_reason, retried_by: null },
            after: { retried_by: retry.id },
            details: {
              retry_run_id: retry.id,
              agent: dead.agent,
              error_code: toRunRecord(dead).error?.code ?? null,
            },
          },
          { schema },
        );
        return { kind: 'created', retry } as const;
      });
      if (outcome.kind === 'not_found') throw new RunNotFoundError(runId);
      if (outcome.kind === 'not_dead')
        throw new RunNotDeadError(runId, outcome.dead.status, outcome.dead.stop_reason);
      if (outcome.kind === 'retried') throw new RunAlreadyRetriedError(runId, outcome.retriedBy);
      return toRunRecord(outcome.retry);
    },

    async listRuns(filter = {}) {
      const limit = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(filter.limit ?? DEFAULT_PAGE_SIZE)));
      const conditions: string[] = [];
      const params: unknown[] = [];
      const where = (condition: (parameter: string) => string, value: unknown) => {
        params.push(value);
        conditions.push(condition(`$${params.length}`));
      };
      // Only the filters present go into the SQL, so the planner can pick the matching index.
      if (filter.tenantId !== undefined) where((p) => `tenant_id = ${p}`, filter.tenantId);
      if (filter.agent !== undefined) where((p) => `agent = ${p}`, filter.agent);
      if (filter.status !== undefined) where((p) => `status = ${p}`, filter.status);
      if (filter.sessionId !== undefined) where((p) => `session_id = ${p}`, filter.sessionId);
      if (filter.userId !== undefined) where((p) => `user_id = ${p}`, filter.userId);
      if (filter.trigger !== undefined) where((p) => `trigger = ${p}`, filter.trigger);
      if (filter.stopReason !== undefined) where((p) => `stop_reason = ${p}`, filter.stopReason);
      if (filter.promptVersion !== undefined) where((p) => `prompt_version = ${p}`, filter.promptVersion);
      // Dead: ended with stop reason error; runs_tenant_stop_reason_created serves it.
      if (filter.dead === true) where((p) => `stop_reason = ${p}`, 'error');
      // Each arm is an index lookup (primary key, runs_tenant_user_created, runs_tenant_trace_id);
      // the trace id arm only when the text could be one.
      if (filter.search !== undefined)
        where(
          (p) =>
            `(id = ${p} OR user_id = ${p}${TRACE_ID.test(filter.search ?? '') ? ` OR ${TRACE_ID_SQL} = ${p}` : ''})`,
          filter.search,
        );
      if (filter.createdAfter !== undefined)
        where((p) => `created_at > ${p}::timestamptz`, filter.createdAfter.toISOString());
      if (filter.createdBefore !== undefined)
        where((p) => `created_at < ${p}::timestamptz`, filter.createdBefore.toISOString());
      if (filter.cursor !== undefined) {
        const cursor = decodeCursor(filter.cursor);
        params.push(cursor.createdAt, cursor.id);
        conditions.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::text)`);
      }
      params.push(limit + 1);
      // The text keeps the microseconds a JS Date would drop, so the cursor is exact.
      const result = await client.query<RunRow & { cursor_created_at: string }>(
        `SELECT run.*, ${retriedBySql(runs, 'run.id')} AS retried_by,
           ${cursorTime('created_at')} AS cursor_created_at FROM ${runs} AS run
         ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
         ORDER BY created_at DESC, id DESC
         LIMIT $${params.length}`,
        params,
      );
      const page = result.rows.slice(0, limit);
      const last = page[page.length - 1];
      const nextCursor =
        result.rows.length > limit && last
          ? encodeCursor({ createdAt: last.cursor_created_at, id: last.id })
          : undefined;
      return { runs: page.map(toRunRecord), ...(nextCursor === undefined ? {} : { nextCursor }) };
    },

    async getSession(sessionId, { tenantId = 'default' } = {}) {
      const result = await client.query<{
        run_count: number;
        created_at: Date | null;
        last_run_at: Date | null;
        active_run_ids: string[];
      }>(
        `SELECT count(*)::int AS run_count, min(created_at) AS created_at, max(created_at) AS last_run_at,
           coalesce(array_agg(id ORDER BY created_at, id) FILTER (WHERE status NOT IN ${TERMINAL_SQL}), '{}')
             AS active_run_ids
         FROM ${runs} WHERE tenant_id = $1 AND session_id = $2`,
        [tenantId, sessionId],
      );
      const row = result.rows[0];
      if (!row || Number(row.run_count) === 0 || !row.created_at || !row.last_run_at) return undefined;
      return {
        id: sessionId,
        tenantId,
        runCount: Number(row.run_count),
        createdAt: new Date(row.created_at),
        lastRunAt: new Date(row.last_run_at),
        activeRunIds: row.active_run_ids,
      };
    },

    async claimRuns({ owner, limit, leaseMs, agents, ids, agentVersions }) {
      if (limit <= 0 || agents?.length === 0 || ids?.length === 0) return [];
      const params: unknown[] = [
        owner,
        leaseMs,
        limit,
        liveness.get(owner)?.isHeld() === true,
        agentVersions === undefined ? null : toJson(agentVersions),
      ];
      let filters = '';
      if (agents !== undefined) {
        params.push([...agents]);
        filters += ` AND agent = ANY($${params.length}::text[])`;
      }
      if (ids !== undefined) {
        params.push([...ids]);
        filters += ` AND id = ANY($${params.length}::text[])`;
      }
      const result = await client.query<RunRow & { claimed_from: string; owner_gone: boolean }>(
        // A queued run of a session waits for the earlier live runs of its session (tenant-scoped,
        // served by runs_tenant_session_created); a running one being recovered never waits, nor
        // does a waiting one (it was claimed before), once its not-before time has come. A running
        // one is taken over when its lease expired or its owner died (its liveness lock is gone).
        `WITH candidates AS (
           SELECT id, status AS claimed_from, status = 'running' AND lease_expires_at >= now() AS owner_gone
           FROM ${runs} AS candidate
           -- ended_at IS NULL: the predicate of runs_runnable (migration 27), implied by the statuses.
           WHERE ended_at IS NULL AND ((status = 'queued' AND available_at <= now()
                   AND (session_id IS NULL OR NOT EXISTS (
                     SELECT 1 FROM ${runs} AS earlier
                     WHERE earlier.tenant_id = candidate.tenant_id AND earlier.session_id = candidate.session_id
                       AND (earlier.created_at, earlier.id) < (candidate.created_at, candidate.id)
                       AND earlier.status NOT IN ${TERMINAL_SQL})))
                  OR (status = 'waiting' AND available_at <= now())
                  OR (status = 'running' AND (lease_expires_at < now() OR ${OWNER_GONE_SQL})))
             ${filters}
           ORDER BY created_at, id
           LIMIT $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE ${runs} AS run SET
           status = 'running',
           lease_owner = $1,
           lease_expires_at = ${leaseInterval('$2')},
           lease_liveness = $4,
           -- A first execution records the claimer's version of its agent (see recordAgentVersion).
           agent_version = coalesce(run.agent_version, $5::jsonb -> run.agent),
           fence = run.fence + 1,
           -- Resuming after a wait for a provider is not a new attempt at the run (a crash is).
           attempts = run.attempts + CASE WHEN run.status = 'waiting' THEN 0 ELSE 1 END,
           started_at = coalesce(run.started_at, now()),
           wait_reason = NULL,
           wait_detail = NULL,
           updated_at = now()
         FROM candidates
         WHERE run.id = candidates.id
         RETURNING run.*, candidates.claimed_from, candidates.owner_gone`,
        params,
      );
      return result.rows
        .map((row) => ({
          ...toRunRecord(row),
          leaseRecovered: row.claimed_from === 'running',
          ownerGone: row.owner_gone === true,
        }))
        .sort(byCreation);
    },

    async holdLiveness(owner) {
      if (liveness.has(owner)) throw new Error(`Liveness of ${owner} is already held by this store.`);
      if (client.holdSessionLock === undefined) return undefined;
      const hold = await client.holdSessionLock(livenessLockKey(owner));
      liveness.set(owner, hold);
      return {
        isHeld: () => hold.isHeld(),
        async release() {
          if (liveness.get(owner) === hold) liveness.delete(owner);
          await hold.release();
        },
      };
    },

    async heartbeat({ leases, leaseMs }) {
      if (leases.length === 0) return [];
      const result = await client.query<{ run_id: string; held: boolean; cancel_requested: boolean }>(
        `WITH lease AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) AS lease (run_id, owner, fence)
         ), extended AS (
           UPDATE ${runs} AS run SET lease_expires_at = ${leaseInterval('$4')}
           FROM lease
           WHERE run.id = lease.run_id AND run.lease_owner = lease.owner AND run.fence = lease.fence
             AND run.status = 'running'
           RETURNING run.id, run.cancel_requested
         )
         SELECT lease.run_id, extended.id IS NOT NULL AS held, coalesce(extended.cancel_requested, false) AS cancel_requested
         FROM lease LEFT JOIN extended ON extended.id = lease.run_id`,
        [
          leases.map((lease) => lease.runId),
          leases.map((lease) => lease.owner),
          leases.map((lease) => lease.fence),
          leaseMs,
        ],
      );
      const byRun = new Map(result.rows.map((row) => [row.run_id, row]));
      return leases.map((lease) => ({
        runId: lease.runId,
        held: byRun.get(lease.runId)?.held === true,
        cancelRequested: byRun.get(lease.runId)?.cancel_requested === true,
      }));
    },

    async releaseRun(lease, { delayMs = 0 } = {}) {
      // Steps left started are marked: the execution that replaces them was released, not crashed.
      const released = await client.query(
        `WITH released AS (
           UPDATE ${runs} SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
             available_at = ${leaseInterval('$4')}, updated_at = now()
           WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'running'
           RETURNING id
         ), marked AS (
           UPDATE ${steps} SET meta = COALESCE(meta, '{}'::jsonb) || '{"released": true}'
           WHERE run_id = (SELECT id FROM released) AND status = 'started'
         )
         SELECT pg_notify($5, '') FROM released`,
        [lease.runId, lease.owner, lease.fence, delayMs, channel],
      );
      if (released.rowCount > 0) return;
      // A retry of a release that did commit finds the run queued under the same fence.
      const retried = await client.query(
        `SELECT 1 FROM ${runs} WHERE id = $1 AND fence = $2 AND status = 'queued' AND lease_owner IS NULL`,
        [lease.runId, lease.fence],
      );
      if (retried.rowCount === 0) throw new LeaseLostError(lease.runId, lease.fence);
    },

    async waitForRetry(lease, { step, delayMs, reason, message }) {
      const waiting = await client.transaction(async (tx) => {
        const locked = await tx.query<{ cancel_requested: boolean }>(
          `SELECT cancel_requested FROM ${runs}
           WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'running'
           FOR UPDATE`,
          [lease.runId, lease.owner, lease.fence],
        );
        const run = locked.rows[0];
        if (!run) return undefined;
        if (run.cancel_requested) throw new RunCancelledError(lease.runId);
        // The step keeps its first start time: its duration in the trace spans the whole wait.
        await tx.query(
          `INSERT INTO ${steps} AS step (run_id, seq, parent_seq, kind, name, input_hash, status, attempt, started_at, meta)
           VALUES ($1, $2, $3, $4, $5, $6, 'started', $7, $8::timestamptz, $9::jsonb)
           ON CONFLICT (run_id, seq) DO UPDATE SET attempt = excluded.attempt, meta = excluded.meta
           WHERE step.status = 'started'`,
          [lease.runId, ...stepRowParams({ ...step, meta: { ...step.meta, waited: true } })],
        );
        const updated = await tx.query<RunRow>(
          `UPDATE ${runs} SET status = 'waiting', lease_owner = NULL, lease_expires_at = NULL,
             available_at = ${leaseInterval('$2')}, wait_reason = $3, wait_detail = $4::jsonb,
             updated_at = now()
           WHERE id = $1
           RETURNING *`,
          [
            lease.runId,
            Math.max(0, delayMs),
            reason,
            // The provider's error text: escaped like every other text the journal keeps.
            toJson({ message, seq: step.seq, attempts: step.attempt }),
          ],
        );
        return updated.rows[0];
      });
      if (waiting) return toRunRecord(waiting);
      // A retry of a release that did commit: the fence moves only on a claim.
      const retried = await client.query<RunRow>(
        `SELECT * FROM ${runs} WHERE id = $1 AND fence = $2 AND status = 'waiting' AND lease_owner IS NULL`,
        [lease.runId, lease.fence],
      );
      const retriedRow = retried.rows[0];
      if (!retriedRow) throw new LeaseLostError(lease.runId, lease.fence);
      return toRunRecord(retriedRow);
    },

    async loadSteps(runId, { withOutputs = false, seq = null } = {}) {
      // Steps are numbered from 0: -1 takes every output.
      const fromSeq = withOutputs === false ? undefined : withOutputs === true ? -1 : withOutputs.fromSeq;
      // An output is in its step row (migration 31: small ones) or in payloads, never both.
      const result = await client.query<StepRow>(
        fromSeq !== undefined
          ? `SELECT ${STEP_COLUMNS.map((column) => `step.${column}`).join(', ')},
               CASE WHEN step.seq >= $2::int THEN coalesce(step.output, payload.body) END AS output
             FROM ${steps} AS step
             LEFT JOIN ${payloads} AS payload
               ON payload.run_id = step.run_id AND payload.id = step.output_ref AND step.seq >= $2::int
                 AND step.output IS NULL
             WHERE step.run_id = $1 AND ($3::int IS NULL OR step.seq = $3::int) ORDER BY step.seq`
          : `SELECT ${STEP_COLUMNS.join(', ')} FROM ${steps}
             WHERE run_id = $1 AND ($2::int IS NULL OR seq = $2::int) ORDER BY seq`,
        fromSeq !== undefined ? [runId, fromSeq, seq] : [runId, seq],
      );
      return result.rows.map((row) => toStepRecord(row, fromSeq !== undefined && row.seq >= fromSeq));
    },

    async appendTextDelta(lease, { seq, attempt, name, text }) {
      // One writer per run at a time (the lease holder; FOR SHARE on the run row holds a claim
      // off until this commits), so max(idx) + 1 cannot collide.
      const result = await client.query<{ held: boolean }>(
        `WITH ${heldLease}, written AS (
           INSERT INTO ${textDeltas} (run_id, seq, idx, fence, attempt, name, text)
           SELECT lease.id, $4::int, coalesce(last.idx + 1, 0), $3::bigint, $7::int,
             CASE WHEN last.idx IS NULL THEN $5::text END, $6::text
           FROM lease LEFT JOIN LATERAL (
             SELECT max(idx) AS idx FROM ${textDeltas} WHERE run_id = $1 AND seq = $4::int
           ) AS last ON true
           RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM lease) AS held`,
        [lease.runId, lease.owner, lease.fence, seq, toStorableText(name), toStorableText(text), attempt],
      );
      if (result.rows[0]?.held !== true) throw new LeaseLostError(lease.runId, lease.fence);
    },

    async listTextDeltas(runId, from, { limit = 1_000 } = {}) {
      const result = await client.query<TextDeltaRow>(
        `SELECT run_id, seq, idx, fence, attempt, name, text, created_at FROM ${textDeltas}
         WHERE run_id = $1 AND (seq > $2 OR (seq = $2 AND idx >= $3))
         ORDER BY seq, idx LIMIT $4`,
        [runId, from.seq, from.idx, limit],
      );
      return result.rows.map((row) => ({
        runId: row.run_id,
        seq: row.seq,
        idx: row.idx,
        fence: Number(row.fence),
        attempt: row.attempt,
        name: row.name === null ? null : fromStorableText(row.name),
        text: fromStorableText(row.text),
        createdAt: toDate(row.created_at),
      }));
    },

    async startStep(lease, step) {
      const result = await client.query<{ held: boolean }>(
        `WITH ${heldLease}, written AS (
           INSERT INTO ${steps} AS step (run_id, seq, parent_seq, kind, name, input_hash, status, attempt, started_at, meta)
           SELECT id, $4::int, $5::int, $6::text, $7::text, $8::text, 'started', $9::int, $10::timestamptz, $11::jsonb FROM lease
           ON CONFLICT (run_id, seq) DO UPDATE SET attempt = excluded.attempt, started_at = excluded.started_at,
             -- What the replaced execution noted (a model step's retries) stays, under the new start's meta.
             meta = COALESCE(step.meta - 'waited' - 'released', '{}'::jsonb) || COALESCE(excluded.meta, '{}'::jsonb),
             prior_executions = ${priorExecutionsAppended}
           WHERE step.status = 'started'
             -- A retried start whose first try committed (its answer lost) is not a re-execution.
             AND (step.attempt, step.started_at) IS DISTINCT FROM (excluded.attempt, excluded.started_at)
           RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM lease) AS held`,
        [...stepIdentityParams(lease, step)],
      );
      if (result.rows[0]?.held !== true) throw new LeaseLostError(lease.runId, lease.fence);
    },

    async completeStep(lease, step) {
      // The payload's key within its run (the row has run_id): the step's seq alone, not
      // `<run id>:<seq>` as before migration 27; reads give `outputRef` its full form (sql-rows.ts).
      const payloadId = step.output === undefined ? null : String(step.seq);
      const body = step.output === undefined ? null : toJson(step.output);
      const bytes = body === null ? null : Buffer.byteLength(body);
      // A small output stays in the step row (migration 31); a larger one goes to payloads.
      const inline = bytes !== null && bytes <= INLINE_OUTPUT_MAX_BYTES;
      const usage = step.usage ?? null;
      const result = await client.query<{ held: boolean }>(
        `WITH ${heldLease}, recorded AS (
           SELECT 1 FROM ${steps} WHERE run_id = $1 AND seq = $4::int AND status <> 'started'
         ), payload AS (
           INSERT INTO ${payloads} (run_id, id, body, bytes)
           SELECT id, $12::text, $13::jsonb, $14::int FROM lease
           WHERE $12::text IS NOT NULL AND NOT $23::boolean AND NOT EXISTS (SELECT 1 FROM recorded)
           ON CONFLICT (run_id, id) DO NOTHING
         ), written AS (
           INSERT INTO ${steps} AS step (run_id, seq, parent_seq, kind, name, input_hash, status, attempt, started_at,
             meta, ended_at, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, output_ref, error,
             output)
           SELECT id, $4::int, $5::int, $6::text, $7::text, $8::text, $15::text, $9::int, $10::timestamptz,
             $11::jsonb, $16::timestamptz, $17::int, $18::int, $19::int, $20::int, $21::numeric, $12::text, $22::jsonb,
             CASE WHEN $23::boolean THEN $13::jsonb END
           FROM lease
           ON CONFLICT (run_id, seq) DO UPDATE SET
             status = excluded.status, attempt = excluded.attempt, meta = excluded.meta, ended_at = excluded.ended_at,
             input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
             cached_input_tokens = excluded.cached_input_tokens, reasoning_tokens = excluded.reasoning_tokens,
             cost_usd = excluded.cost_usd, output_ref = excluded.output_ref, error = excluded.error,
             output = excluded.output
           WHERE step.status = 'started'
           RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM lease) AS held`,
        [
          // A completion replaces the step's meta whole: stored packed (step-meta-codec.ts).
          ...stepIdentityParams(lease, step, { packMeta: true }),
          payloadId,
          body,
          bytes,
          step.status,
          step.endedAt.toISOString(),
          usage?.inputTokens ?? null,
          usage?.outputTokens ?? null,
          usage?.cachedInputTokens ?? null,
          usage?.reasoningTokens ?? null,
          step.costUsd ?? null,
          step.error == null ? null : toJson(step.error),
          inline,
        ],
      );
      if (result.rows[0]?.held !== true) throw new LeaseLostError(lease.runId, lease.fence);
    },

    async recordAgentVersion(lease, { version, change }) {
      const recorded = await client.query<{ id: string }>(
        `UPDATE ${runs} SET agent_version = $4::jsonb,
           version_changes = version_changes || $5::jsonb, updated_at = now()
         WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'running'
         RETURNING id`,
        [lease.runId, lease.owner, lease.fence, toJson(version), toJson(change ? [change] : [])],
      );
      if (recorded.rows.length === 0) throw new LeaseLostError(lease.runId, lease.fence);
    },

    async finishRun(lease, end) {
      const status = statusForStopReason(end.stopReason);
      const finished = await client.query<RunRow>(
        // The run's step facts (analytics) are aggregated from its steps in the same statement.
        `UPDATE ${runs} AS run SET status = $4, stop_reason = $5, output = $6::jsonb, error = $7::jsonb,
           input_tokens = $8, output_tokens = $9, cached_input_tokens = $10, reasoning_tokens = $11,
           cost_usd = $12, step_count = $13, ended_at = now(), updated_at = now(),
           lease_owner = NULL, lease_expires_at = NULL,
           ${setStepFactsSql('facts')}
         FROM ${stepFactsOfRunFromSql(schema, '$1')}
         WHERE run.id = $1 AND run.lease_owner = $2 AND run.fence = $3 AND run.status = 'running'
         RETURNING run.*, CASE WHEN run.session_id IS NULL THEN NULL ELSE pg_notify($14, '') END AS notified,
           pg_notify($15, run.id) AS ended_notified`,
        [
          lease.runId,
          lease.owner,
          lease.fence,
          status,
          end.stopReason,
          end.output === undefined ? null : toJson(end.output),
          end.error == null ? null : toJson(end.error),
          end.usage.inputTokens,
          end.usage.outputTokens,
          end.usage.cachedInputTokens ?? null,
          end.usage.reasoningTokens ?? null,
          end.costUsd,
          end.stepCount,
          // The next message of the session (queued behind this run) just became claimable.
          channel,
          endedChannel,
        ],
      );
      const row = finished.rows[0];
      if (row) return toRunRecord(row);
      // A retry of a finish that did commit: the fence only moves on a claim, and a finished run
      // is never claimed, so "finished with this stop reason under this fence" means by us.
      const retried = await client.query<RunRow>(
        `SELECT * FROM ${runs} WHERE id = $1 AND fence = $2 AND status = $3 AND stop_reason = $4 AND lease_owner IS NULL`,
        [lease.runId, lease.fence, status, end.stopReason],
      );
      const retriedRow = retried.rows[0];
      if (!retriedRow) throw new LeaseLostError(lease.runId, lease.fence);
      return toRunRecord(retriedRow);
    },

    async findRunByIdempotencyKey(idempotencyKey, { tenantId }) {
      const found = await client.query<RunRow>(
        `SELECT * FROM ${runs} WHERE tenant_id = $1 AND idempotency_key = $2`,
        [tenantId, idempotencyKey],
      );
      const row = found.rows[0];
      return row === undefined ? undefined : toRunRecord(row);
    },

    async requestCancel(runId, { tenantId } = {}) {
      // A transaction because a run awaiting approval takes its pending approvals along; the run
      // row is locked first, in the same order as decisions take it (no deadlock between them).
      const row = await client.transaction(async (tx) => {
        // SET expressions read the row as it was, so one CASE decides per current status. A
        // queued, waiting or suspended run holds no worker: it ends here.
        const cancelled = await tx.query<RunRow>(
          `UPDATE ${runs} SET
             status = CASE WHEN status IN ('queued', 'waiting', 'awaiting_approval') THEN 'cancelled' ELSE status END,
             stop_reason = CASE WHEN status IN ('queued', 'waiting', 'awaiting_approval') THEN 'cancelled' ELSE stop_reason END,
             ended_at = CASE WHEN status IN ('queued', 'waiting', 'awaiting_approval') THEN now() ELSE ended_at END,
             ${waitedMsUpdate('waiting_since')},
             waiting_since = NULL,
             cancel_requested = true,
             updated_at = now()
           WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text)
             AND status IN ('queued', 'running', 'waiting', 'awaiting_approval')
           RETURNING *, CASE WHEN status = 'cancelled' THEN pg_notify($3, id) END AS ended_notified`,
          [runId, tenantId ?? null, endedChannel],
        );
        const updated = cancelled.rows[0];
        if (updated?.status === 'cancelled') {
          // It ended here (a running run ends in finishRun): its step facts, in the same transaction.
          await tx.query(writeStepFactsSql(schema), [runId]);
          await tx.query(
            `UPDATE ${approvals} SET status = 'cancelled', reason = 'run cancelled', decided_at = now()
             WHERE run_id = $1 AND status = 'pending'`,
            [runId],
          );
        }
        return updated;
      });
      if (row) return toRunRecord(row);
      return store.getRun(runId, tenantId === undefined ? {} : { tenantId });
    },

    async suspendForApproval(lease, { approvals: requested }) {
      const seqs = requested.map((approval) => approval.stepSeq);
      const suspended = await client.transaction(async (tx) => {
        const locked = await tx.query<{ tenant_id: string; cancel_requested: boolean }>(
          `SELECT tenant_id, cancel_requested FROM ${runs}
           WHERE id = $1 AND lease_owner = $2 AND fence = $3 AND status = 'running'
           FOR UPDATE`,
          [lease.runId, lease.owner, lease.fence],
        );
        const run = locked.rows[0];
        if (!run) return false;
        if (run.cancel_requested) throw new RunCancelledError(lease.runId);
        for (const approval of requested) {
          await tx.query(
            `INSERT INTO ${approvals} (id, tenant_id, run_id, step_seq, tool, arguments, status, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending',
               CASE WHEN $7::float8 IS NULL THEN NULL ELSE ${leaseInterval('$7')} END)
             ON CONFLICT (run_id, step_seq) DO NOTHING`,
            [
              generateId('apr'),
              run.tenant_id,
              lease.runId,
              approval.stepSeq,
              toStorableText(approval.tool),
              toJson(approval.arguments),
              approval.ttlMs ?? null,
            ],
          );
          const step = approval.step;
          await tx.query(
            `INSERT INTO ${steps} (run_id, seq, parent_seq, kind, name, input_hash, status, attempt, started_at, meta)
             VALUES ($1, $2, $3, $4, $5, $6, 'started', $7, $8::timestamptz, $9::jsonb)
             ON CONFLICT (run_id, seq) DO NOTHING`,
            [lease.runId, ...stepRowParams(step)],
          );
        }
        // Waits only while something is pending; otherwise straight back to the queue.
        await tx.query(
          `WITH waiting AS (
             SELECT EXISTS (SELECT 1 FROM ${approvals} WHERE run_id = $1 AND status = 'pending') AS pending
           )
           UPDATE ${runs} SET
             status = CASE WHEN waiting.pending THEN 'awaiting_approval' ELSE 'queued' END,
             waiting_since = CASE WHEN waiting.pending THEN now() ELSE NULL END,
             lease_owner = NULL, lease_expires_at = NULL, available_at = now(), updated_at = now()
           FROM waiting
           WHERE id = $1
           RETURNING CASE WHEN waiting.pending THEN NULL ELSE pg_notify($2, '') END`,
          [lease.runId, channel],
        );
        return true;
      });
      if (!suspended) {
        // A retry of a suspension that did commit: the fence moves only on a claim.
        const retried = await client.query(
          `SELECT 1 FROM ${runs} WHERE id = $1 AND fence = $2 AND lease_owner IS NULL
             AND status IN ('awaiting_approval', 'queued')`,
          [lease.runId, lease.fence],
        );
        if (retried.rowCount === 0) throw new LeaseLostError(lease.runId, lease.fence);
      }
      const result = await client.query<ApprovalRow>(
        `SELECT * FROM ${approvals} WHERE run_id = $1 AND step_seq = ANY($2::int[]) ORDER BY step_seq`,
        [lease.runId, seqs],
      );
      return result.rows.map(toApprovalRecord);
    },

    async decideApproval({ approvalId, tenantId, decision, reason = null, decidedBy, onApprove }) {
      const status = decision === 'approve' ? 'approved' : 'rejected';
      type Outcome = { notFound: true } | { notPending: ApprovalStatus } | { approval: ApprovalRow };
      const outcome = await client.transaction(async (tx): Promise<Outcome> => {
        const found = await tx.query<{ run_id: string }>(
          `SELECT run_id FROM ${approvals} WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text)`,
          [approvalId, tenantId ?? null],
        );
        const runId = found.rows[0]?.run_id;
        if (runId === undefined) return { notFound: true };
        // The run row first: decisions on one run are serialized, so the last one always sees
        // that nothing is pending any more and wakes the run.
        await tx.query(`SELECT 1 FROM ${runs} WHERE id = $1 FOR UPDATE`, [runId]);
        const current = await tx.query<ApprovalRow & { expired: boolean }>(
          `SELECT *, (expires_at IS NOT NULL AND expires_at <= now()) AS expired FROM ${approvals}
           WHERE id = $1 FOR UPDATE`,
          [approvalId],
        );
        const row = current.rows[0]!;
        if (row.status !== 'pending') {
          const repeated = row.status === status && row.decided_by === decidedBy;
          return repeated ? { approval: row } : { notPending: row.status };
        }
        if (row.expired) {
          await tx.query(
            `UPDATE ${approvals} SET status = 'expired', reason = 'expired', decided_at = now() WHERE id = $1`,
            [approvalId],
          );
          await wakeRuns(tx, [runId]);
          return { notPending: 'expired' };
        }
        const decided = await tx.query<ApprovalRow>(
          `UPDATE ${approvals} SET status = $2, reason = $3, decided_by = $4, decided_at = now()
           WHERE id = $1 RETURNING *`,
          [approvalId, status, reason === null ? null : toStorableText(reason), decidedBy],
        );
        // The decision and its audit row commit together (the reason stays in the approval).
        await appendAudit(
          tx,
          {
            tenantId: row.tenant_id,
            actor: decidedBy,
            action: 'approval.decide',
            target: `approval:${approvalId}`,
            before: { status: 'pending' },
            after: { status },
            details: { run_id: runId, step_seq: row.step_seq, tool: row.tool },
          },
          { schema },
        );
        if (status === 'approved' && onApprove) await onApprove(tx, toApprovalRecord(decided.rows[0]!));
        await wakeRuns(tx, [runId]);
        return { approval: decided.rows[0]! };
      });
      if ('notFound' in outcome) throw new ApprovalNotFoundError(approvalId);
      if ('notPending' in outcome) throw new ApprovalNotPendingError(approvalId, outcome.notPending);
      return toApprovalRecord(outcome.approval);
    },

    async getApproval(approvalId, { tenantId } = {}) {
      const result = await client.query<ApprovalRow>(
        `SELECT * FROM ${approvals} WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text)`,
        [approvalId, tenantId ?? null],
      );
      const row = result.rows[0];
      return row ? toApprovalRecord(row) : undefined;
    },

    async listApprovals(filter = {}) {
      return (await store.listApprovalsPage(filter)).approvals;
    },

    async listApprovalsPage(filter = {}) {
      const limit = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(filter.limit ?? 100)));
      const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      // The text keeps the microseconds a JS Date would drop, so the cursor is exact.
      const result = await client.query<ApprovalRow & { cursor_at: string }>(
        `SELECT *, ${cursorTime('requested_at')} AS cursor_at FROM ${approvals}
         WHERE ($1::text IS NULL OR tenant_id = $1::text) AND ($2::text IS NULL OR run_id = $2::text)
           AND ($3::text IS NULL OR status = $3::text)
           AND ($5::timestamptz IS NULL OR (requested_at, id) < ($5::timestamptz, $6::text))
         ORDER BY requested_at DESC, id DESC
         LIMIT $4`,
        [
          filter.tenantId ?? null,
          filter.runId ?? null,
          filter.status ?? null,
          limit + 1,
          cursor?.createdAt ?? null,
          cursor?.id ?? null,
        ],
      );
      const page = result.rows.slice(0, limit);
      const last = page.at(-1);
      const nextCursor =
        result.rows.length > limit && last
          ? encodeCursor({ createdAt: last.cursor_at, id: last.id })
          : undefined;
      return { approvals: page.map(toApprovalRecord), ...(nextCursor === undefined ? {} : { nextCursor }) };
    },

    async expireApprovals({ limit = 100 } = {}) {
      // Every worker sweeps each second and there is almost never anything to expire: one
      // plain read (served by the partial index approvals_pending) decides whether the locking
      // transaction (three round trips) is needed. One expiring after the read waits a sweep.
      const due = await client.query(
        `SELECT 1 FROM ${approvals} WHERE status = 'pending' AND expires_at <= now() LIMIT 1`,
      );
      if (due.rowCount === 0) return [];
      const expired = await client.transaction(async (tx) => {
        // SKIP LOCKED: a run being decided or swept by someone else is left to them.
        const locked = await tx.query<{ id: string }>(
          `SELECT id FROM ${runs}
           WHERE id IN (SELECT run_id FROM ${approvals} WHERE status = 'pending' AND expires_at <= now())
           ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [limit],
        );
        const runIds = locked.rows.map((row) => row.id);
        if (runIds.length === 0) return [];
        const updated = await tx.query<ApprovalRow>(
          `UPDATE ${approvals} SET status = 'expired', reason = 'expired', decided_at = now()
           WHERE run_id = ANY($1::text[]) AND status = 'pending' AND expires_at <= now()
           RETURNING *`,
          [runIds],
        );
        await wakeRuns(tx, runIds);
        return updated.rows;
      });
      return expired.map(toApprovalRecord);
    },

    onRunnable: (listener) => subscribe(channel, () => listener()),

    onRunEnded: (listener) => subscribe(endedChannel, listener),

    withSessionLock: (session, section) =>
      withSessionLock(client, session, (locked) =>
        // On Postgres `locked` is bound to the lock's transaction: the same store over it.
        section(
          locked === client ? store : createSqlJournalStore({ client: locked, schema, clock, generateId }),
        ),
      ),

    async close() {
      for (const unsubscribe of [...unsubscribers]) await unsubscribe().catch(() => {});
      for (const hold of [...liveness.values()]) await hold.release().catch(() => {});
      liveness.clear();
      if (closeClient) await client.close();
    },
  };
  return store;
}

/** Adds the time since `since` (if set) to `waited_ms`: waiting does not count against the deadline. */
function waitedMsUpdate(since: string): string {
  return `waited_ms = waited_ms + coalesce(greatest(0, floor(extract(epoch FROM now() - ${since}) * 1000))::bigint, 0)`;
}

/** A run row as Postgres returns it (int8 as number, numeric as string, timestamps as Date). */
function byCreation(left: RunRecord, right: RunRecord): number {
  return (
    left.createdAt.getTime() - right.createdAt.getTime() ||
    (left.id < right.id ? -1 : left.id > right.id ? 1 : 0)
  );
}

/**
 * The `prior_executions` of a started step that is being executed again: its earlier value with
 * the execution being replaced appended (see migration 14). An execution that released the run to
 * wait for a provider marked its row's meta `waited`; any other one stopped without a word.
 */
const priorExecutionsAppended = `COALESCE(step.prior_executions, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
  'attempt', step.attempt,
  'started_at', ${cursorTime('step.started_at')},
  'end', CASE WHEN step.meta @> '{"waited": true}' THEN 'waited'
    WHEN step.meta @> '{"released": true}' THEN 'released' ELSE 'abandoned' END))`;

/**
 * The columns of a step row as `loadSteps` returns them: all but the inline output (migration
 * 31), which it reads only when outputs are asked for.
 */
const STEP_COLUMNS = [
  'run_id',
  'seq',
  'parent_seq',
  'kind',
  'name',
  'input_hash',
  'status',
  'attempt',
  'started_at',
  'ended_at',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'reasoning_tokens',
  'cost_usd',
  'output_ref',
  'error',
  'meta',
  'prior_executions',
] as const;

/** Parameters $1..$11 of the step writes: the fenced lease, then the step's identity and meta. */
function stepIdentityParams(lease: Lease, step: StepStart, options?: { packMeta: boolean }): unknown[] {
  return [lease.runId, lease.owner, lease.fence, ...stepRowParams(step, options)];
}

/**
 * A step row's columns seq, parent_seq, kind, name, input_hash, attempt, started_at and meta, as
 * parameters: every write of a step's identity goes through here, so its text is always escaped.
 * `packMeta` (completions only, see step-meta-codec.ts) leaves out of the meta what reads restore.
 */
function stepRowParams(step: StepStart, { packMeta = false }: { packMeta?: boolean } = {}): unknown[] {
  return [
    step.seq,
    step.parentSeq,
    step.kind,
    toStorableText(step.name),
    step.inputHash,
    step.attempt,
    step.startedAt.toISOString(),
    step.meta == null ? null : packMeta ? packStepMeta(step.name, step.meta) : toJson(step.meta),
  ];
}

/**
 * A page cursor's time as text with its microseconds, in UTC and one fixed format whatever the
 * server's `DateStyle` (`::text` follows it, and page-cursor.ts reads the ISO form).
 */
function cursorTime(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
