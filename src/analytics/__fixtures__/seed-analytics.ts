import { migrations } from '../../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../../journal/sql-client.js';

/**
 * A small journal whose analytics figures are computed by hand in analytics.contract.test.ts:
 * tenant `t1` has seven runs in the window 2026-11-01 to 2026-11-08 (successes, a failure, a
 * cancellation, one still running; committed, rejected and speculative outcomes; a model step
 * re-executed after a crash, retried model calls, a failed tool), one run before the window,
 * feedback, and gateway calls made outside runs; tenant `t2` has one run and one gateway call.
 */
export const SEED_WINDOW = { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-08T00:00:00Z') };
/** The clock of the seeded tests: runs that ended before 2026-11-13 without an outcome are abandoned (7 days). */
export const SEED_NOW = Date.parse('2026-11-20T00:00:00Z');

interface SeedRun {
  id: string;
  tenant?: string;
  agent: string;
  promptVersion: string | null;
  userId: string | null;
  status: string;
  stopReason: string | null;
  createdAt: string;
  startedAt: string | null;
  durationMs: number | null;
  costUsd: number;
  stepCount: number;
  outcome?: 'committed' | 'rejected';
}

const runs: SeedRun[] = [
  { id: 'r1', agent: 'support', promptVersion: 'code:aaa', userId: 'u1', status: 'completed', stopReason: 'completed', createdAt: '2026-11-01T10:00:00Z', startedAt: '2026-11-01T10:00:00Z', durationMs: 1000, costUsd: 0.1, stepCount: 3, outcome: 'committed' },
  { id: 'r2', agent: 'support', promptVersion: 'code:aaa', userId: 'u2', status: 'completed', stopReason: 'completed', createdAt: '2026-11-02T10:00:00Z', startedAt: '2026-11-02T10:00:00Z', durationMs: 2000, costUsd: 0.2, stepCount: 4, outcome: 'committed' },
  { id: 'r3', agent: 'support', promptVersion: 'code:bbb', userId: 'u1', status: 'failed', stopReason: 'error', createdAt: '2026-11-03T10:00:00Z', startedAt: '2026-11-03T10:00:00Z', durationMs: 4000, costUsd: 0.3, stepCount: 2, outcome: 'rejected' },
  { id: 'r4', agent: 'triage', promptVersion: null, userId: null, status: 'completed', stopReason: 'completed', createdAt: '2026-11-02T12:00:00Z', startedAt: '2026-11-02T12:00:00Z', durationMs: 3000, costUsd: 0.4, stepCount: 1 },
  { id: 'r5', agent: 'triage', promptVersion: null, userId: null, status: 'cancelled', stopReason: 'cancelled', createdAt: '2026-11-05T10:00:00Z', startedAt: '2026-11-05T10:00:00Z', durationMs: 500, costUsd: 0, stepCount: 0 },
  { id: 'r6', agent: 'support', promptVersion: null, userId: null, status: 'running', stopReason: null, createdAt: '2026-11-06T10:00:00Z', startedAt: '2026-11-06T10:00:00Z', durationMs: null, costUsd: 0, stepCount: 0 },
  // Queued for a week, then run: it ended after the abandonment cutoff, so it is only speculative.
  { id: 'r7', agent: 'support', promptVersion: null, userId: null, status: 'completed', stopReason: 'completed', createdAt: '2026-11-07T10:00:00Z', startedAt: '2026-11-15T00:00:00Z', durationMs: 1500, costUsd: 0.05, stepCount: 1 },
  { id: 'r8', agent: 'support', promptVersion: 'code:aaa', userId: 'u1', status: 'completed', stopReason: 'completed', createdAt: '2026-10-25T10:00:00Z', startedAt: '2026-10-25T10:00:00Z', durationMs: 100, costUsd: 1, stepCount: 1, outcome: 'committed' },
  { id: 'r9', tenant: 't2', agent: 'support', promptVersion: 'code:aaa', userId: 'u9', status: 'completed', stopReason: 'completed', createdAt: '2026-11-04T10:00:00Z', startedAt: '2026-11-04T10:00:00Z', durationMs: 700, costUsd: 5, stepCount: 1, outcome: 'committed' },
];

interface SeedStep {
  runId: string;
  seq: number;
  kind: 'model' | 'tool';
  name: string;
  status: 'started' | 'completed' | 'failed';
  attempt?: number;
  costUsd?: number;
  priorExecutions?: Array<{ attempt: number; started_at: string; end: 'abandoned' | 'waited' | 'released' }>;
}

const GPT = 'openai:gpt-x';
const steps: SeedStep[] = [
  { runId: 'r1', seq: 1, kind: 'model', name: GPT, status: 'completed', costUsd: 0.04 },
  { runId: 'r1', seq: 2, kind: 'tool', name: 'search', status: 'completed' },
  // Two failed calls retried in place, then the one that answered.
  { runId: 'r1', seq: 3, kind: 'model', name: GPT, status: 'completed', attempt: 3, costUsd: 0.06 },
  // Crashed mid-call once, re-executed by the resumed run.
  { runId: 'r2', seq: 1, kind: 'model', name: GPT, status: 'completed', attempt: 2, costUsd: 0.05, priorExecutions: [{ attempt: 1, started_at: '2026-11-02T10:00:00Z', end: 'abandoned' }] },
  { runId: 'r2', seq: 2, kind: 'tool', name: 'search', status: 'failed' },
  { runId: 'r2', seq: 3, kind: 'tool', name: 'lookup', status: 'completed' },
  { runId: 'r2', seq: 4, kind: 'model', name: GPT, status: 'completed', costUsd: 0.15 },
  // Released to wait for the provider once, then crashed once, then answered.
  { runId: 'r3', seq: 1, kind: 'model', name: 'anthropic:claude-y', status: 'completed', attempt: 3, costUsd: 0.3, priorExecutions: [{ attempt: 1, started_at: '2026-11-03T10:00:00Z', end: 'waited' }, { attempt: 2, started_at: '2026-11-03T10:00:01Z', end: 'abandoned' }] },
  { runId: 'r3', seq: 2, kind: 'tool', name: 'search', status: 'failed' },
  { runId: 'r4', seq: 1, kind: 'model', name: GPT, status: 'completed', costUsd: 0.4 },
  { runId: 'r6', seq: 1, kind: 'model', name: GPT, status: 'started' },
  { runId: 'r7', seq: 1, kind: 'model', name: GPT, status: 'completed', costUsd: 0.05 },
  { runId: 'r8', seq: 1, kind: 'model', name: GPT, status: 'completed', costUsd: 1 },
  { runId: 'r9', seq: 1, kind: 'model', name: GPT, status: 'completed', costUsd: 5 },
];

/** Inserts the seeded journal into `schema` (migrated). */
export async function seedAnalytics(client: SqlExecutor, schema: string): Promise<void> {
  for (const run of runs) {
    const endedAt =
      run.startedAt === null || run.durationMs === null
        ? null
        : new Date(Date.parse(run.startedAt) + run.durationMs).toISOString();
    await client.query(
      `INSERT INTO ${schema}.runs (id, tenant_id, agent, status, stop_reason, prompt_version, user_id,
         created_at, started_at, ended_at, cost_usd, step_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [run.id, run.tenant ?? 't1', run.agent, run.status, run.stopReason, run.promptVersion, run.userId,
        run.createdAt, run.startedAt, endedAt, run.costUsd, run.stepCount],
    );
    if (run.outcome !== undefined)
      await client.query(
        `INSERT INTO ${schema}.run_outcomes (run_id, tenant_id, status, decided_at, decided_by_key)
         VALUES ($1, $2, $3, $4, 'key_1')`,
        [run.id, run.tenant ?? 't1', run.outcome, endedAt],
      );
  }
  for (const step of steps) {
    const run = runs.find((candidate) => candidate.id === step.runId)!;
    await client.query(
      `INSERT INTO ${schema}.steps (run_id, seq, kind, name, input_hash, status, attempt, started_at, ended_at,
         cost_usd, error, prior_executions)
       VALUES ($1, $2, $3, $4, 'h', $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb)`,
      [
        step.runId,
        step.seq,
        step.kind,
        step.name,
        step.status,
        step.attempt ?? 1,
        run.startedAt,
        step.status === 'started' ? null : run.startedAt,
        step.costUsd ?? null,
        step.status === 'failed' ? JSON.stringify({ code: 'tool_error', message: 'failed' }) : null,
        step.priorExecutions === undefined ? null : JSON.stringify(step.priorExecutions),
      ],
    );
  }
  const feedback: Array<[string, string, string | null, number | null, string | null]> = [
    ['f1', 'r1', 'up', 0.9, null],
    ['f2', 'r1', null, null, 'Fine.'],
    ['f3', 'r3', 'down', 0.2, null],
    ['f4', 'r9', 'up', null, null],
  ];
  for (const [id, runId, thumbs, score, comment] of feedback)
    await client.query(
      `INSERT INTO ${schema}.run_feedback (id, run_id, tenant_id, thumbs, score, comment, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'key:k', '2026-11-06T00:00:00Z')`,
      [id, runId, runId === 'r9' ? 't2' : 't1', thumbs, score, comment],
    );
  const calls: Array<[string, string, string, string | null, number, 'ok' | 'error', string]> = [
    ['g1', 't1', 'key_a', null, 0.01, 'ok', '2026-11-02T00:00:00Z'],
    ['g2', 't1', 'key_a', null, 0.02, 'error', '2026-11-03T00:00:00Z'],
    ['g3', 't1', 'key_b', null, 0.5, 'ok', '2026-11-04T00:00:00Z'],
    // Inside a run (a journal step's call): not gateway traffic outside runs.
    ['g4', 't1', 'key_a', 'r1', 0.04, 'ok', '2026-11-01T10:00:00Z'],
    // Outside the window.
    ['g5', 't1', 'key_a', null, 9, 'ok', '2026-10-20T00:00:00Z'],
    ['g6', 't2', 'key_c', null, 0.3, 'ok', '2026-11-05T00:00:00Z'],
  ];
  for (const [id, tenant, key, runId, cost, outcome, startedAt] of calls)
    await client.query(
      `INSERT INTO ${schema}.gateway_calls (id, tenant_id, key_id, run_id, endpoint, route, deployment, provider,
         model, attempts, cached, input_tokens, output_tokens, cost_usd, latency_ms, overhead_ms, outcome, started_at)
       VALUES ($1, $2, $3, $4, 'chat', 'default', 'd1', 'openai', 'gpt-x', 1, false, 100, 10, $5, 50, 1, $6, $7)`,
      [id, tenant, key, runId, cost, outcome, startedAt],
    );
}

/**
 * Attributes the seeded gateway calls to developers and sessions (migration 30's columns, so
 * after `migrate`): g1 and g2 to ada in two sessions, g3 to no one, g6 to bo; g4 (in a run) and
 * g5 (outside the window) to ada, which the figures must not count.
 */
export async function attributeSeedCalls(client: SqlClient, schema: string): Promise<void> {
  const attributed: Array<[string, string, string]> = [
    ['g1', 'ada', 's1'],
    ['g2', 'ada', 's2'],
    ['g4', 'ada', 's1'],
    ['g5', 'ada', 's0'],
    ['g6', 'bo', 's3'],
  ];
  for (const [id, userId, sessionId] of attributed)
    await client.query(`UPDATE ${schema}.gateway_calls SET user_id = $2, session_id = $3 WHERE id = $1`, [
      id,
      userId,
      sessionId,
    ]);
}

/**
 * Migrates `schema` as code older than migration `version` did (every migration before it), so a
 * test can write rows the way an older Keel did and then watch `migrate` bring them forward.
 */
export async function migrateBefore(client: SqlClient, schema: string, version: number): Promise<void> {
  await client.exec(`
    CREATE SCHEMA IF NOT EXISTS ${schema};
    CREATE TABLE ${schema}.migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
    );`);
  for (const migration of migrations.filter((candidate) => candidate.version < version))
    await client.transaction(async (tx) => {
      await tx.exec(migration.up(schema));
      await tx.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    });
}
