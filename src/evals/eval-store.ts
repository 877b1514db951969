import { KeelError, type SerializedError } from '../errors/keel-error.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import { decodeCursor, encodeCursor } from '../journal/page-cursor.js';
import type { SqlClient } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import { createId, type IdGenerator } from '../util/ids.js';
import type { CaseVerdict, ScorerOutcome } from './score-case.js';

/** How an eval ended: `interrupted` (Ctrl-C) keeps the results that finished. */
export type EvalStatus = 'running' | 'completed' | 'interrupted' | 'failed';

/** One case's trial: its run, verdict and the scorers' results. */
export interface EvalCaseResult {
  caseId: string;
  /** 1-based. */
  trial: number;
  /** The run the case executed (absent when the case could not start a run). */
  runId: string | null;
  verdict: CaseVerdict;
  score: number;
  /** The run's own cost. */
  costUsd: number;
  /** What `llm_judge` scorers spent judging the run, kept apart from the run's cost. */
  judgeCostUsd: number;
  latencyMs: number;
  stopReason: string | null;
  tags: string[];
  scores: ScorerOutcome[];
  /** Why the case is `error` when the run itself could not be judged (a timeout, a failed start). */
  error: SerializedError | null;
}

/** Latency of the cases' runs, in milliseconds. */
export interface LatencySummary {
  mean: number;
  p50: number;
  p95: number;
}

/** The eval's figures, computed from its results when it ends. */
export interface EvalSummary {
  /** passed / (passed + failed + errored): an error is not a pass. 0 for an eval with no results. */
  passRate: number;
  passed: number;
  failed: number;
  errored: number;
  /** Case trials that ended (passed + failed + errored). */
  total: number;
  costUsd: number;
  judgeCostUsd: number;
  latencyMs: LatencySummary;
  /** The trials per case (k) and the mean over cases of pass@k and pass^k (tau-bench). */
  k: number;
  passAtK: number;
  passHatK: number;
}

export interface EvalRecord {
  id: string;
  tenantId: string;
  /** The suite's name, or its path when it has none. */
  suite: string;
  agent: string;
  promptVersion: string | null;
  status: EvalStatus;
  trials: number;
  concurrency: number;
  caseCount: number;
  createdBy: string | null;
  /** What the eval was asked: `min_pass_rate`, `baseline`, `suite_path`, tags... */
  options: Record<string, unknown>;
  summary: EvalSummary | null;
  createdAt: Date;
  endedAt: Date | null;
}

export interface NewEval {
  tenantId: string;
  suite: string;
  agent: string;
  promptVersion: string | null;
  trials: number;
  concurrency: number;
  caseCount: number;
  createdBy?: string | null;
  options?: Record<string, unknown>;
}

/** Where evals and their results are kept (migration 24). */
export interface EvalStore {
  create(input: NewEval): Promise<EvalRecord>;
  /**
   * Records one case trial as it ends; recording the same case and trial again replaces it.
   * `position` is the case's index in the suite (results read back in suite order).
   */
  recordResult(evalId: string, result: EvalCaseResult, position: number): Promise<void>;
  /** Ends the eval with its summary. */
  finish(
    evalId: string,
    input: { status: Exclude<EvalStatus, 'running'>; summary: EvalSummary },
  ): Promise<EvalRecord>;
  /** Newest first; `agent` and `promptVersion` narrow it. `nextCursor` is absent on the last page. */
  list(input: {
    tenantId: string;
    agent?: string;
    promptVersion?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ evals: EvalRecord[]; nextCursor?: string }>;
  /** One eval with its results (case order, then trial); undefined when the tenant has none of that id. */
  get(input: {
    tenantId: string;
    id: string;
  }): Promise<{ eval: EvalRecord; results: EvalCaseResult[] } | undefined>;
}

/** Thrown for an eval id that does not exist (for the tenant). */
export class EvalNotFoundError extends KeelError {
  constructor(id: string) {
    super({ code: 'eval_not_found', message: `No eval ${id}.`, fault: 'caller', details: { id } });
  }
}

interface EvalRow {
  id: string;
  tenant_id: string;
  suite: string;
  agent: string;
  prompt_version: string | null;
  status: EvalStatus;
  trials: number;
  concurrency: number;
  case_count: number;
  created_by: string | null;
  options: Record<string, unknown>;
  summary: EvalSummary | null;
  created_at: Date | string;
  ended_at: Date | string | null;
  cursor_at: string;
}

interface ResultRow {
  case_id: string;
  trial: number;
  run_id: string | null;
  verdict: CaseVerdict;
  score: number;
  cost_usd: number;
  judge_cost_usd: number;
  latency_ms: number;
  stop_reason: string | null;
  tags: string[];
  scores: ScorerOutcome[];
  error: SerializedError | null;
}

const MAX_LIMIT = 200;

function toRecord(row: EvalRow): EvalRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    suite: row.suite,
    agent: row.agent,
    promptVersion: row.prompt_version,
    status: row.status,
    trials: Number(row.trials),
    concurrency: Number(row.concurrency),
    caseCount: Number(row.case_count),
    createdBy: row.created_by,
    options: row.options ?? {},
    summary: row.summary,
    createdAt: toDate(row.created_at),
    endedAt: row.ended_at === null ? null : toDate(row.ended_at),
  };
}

function toResult(row: ResultRow): EvalCaseResult {
  return {
    caseId: row.case_id,
    trial: Number(row.trial),
    runId: row.run_id,
    verdict: row.verdict,
    score: Number(row.score),
    costUsd: Number(row.cost_usd),
    judgeCostUsd: Number(row.judge_cost_usd),
    latencyMs: Number(row.latency_ms),
    stopReason: row.stop_reason,
    tags: row.tags ?? [],
    scores: row.scores ?? [],
    error: row.error,
  };
}

const EVAL_COLUMNS = `id, tenant_id, suite, agent, prompt_version, status, trials, concurrency, case_count,
  created_by, options, summary, created_at, ended_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;

/** The eval store over SQL (PGlite or Postgres), in Keel's schema. */
export function createEvalStore({
  client,
  schema = DEFAULT_SCHEMA,
  generateId = createId,
}: {
  client: SqlClient;
  schema?: string;
  generateId?: IdGenerator;
}): EvalStore {
  assertSchemaName(schema);
  const evals = `${schema}.evals`;
  const results = `${schema}.eval_results`;
  return {
    async create(input) {
      const { rows } = await client.query<EvalRow>(
        `INSERT INTO ${evals}
           (id, tenant_id, suite, agent, prompt_version, status, trials, concurrency, case_count, created_by, options)
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10::jsonb)
         RETURNING ${EVAL_COLUMNS}`,
        [
          generateId('eval'),
          input.tenantId,
          input.suite,
          input.agent,
          input.promptVersion,
          input.trials,
          input.concurrency,
          input.caseCount,
          input.createdBy ?? null,
          JSON.stringify(input.options ?? {}),
        ],
      );
      return toRecord(rows[0]!);
    },

    async recordResult(evalId, result, position) {
      await client.query(
        `INSERT INTO ${results}
           (eval_id, case_id, position, trial, run_id, verdict, score, cost_usd, judge_cost_usd, latency_ms,
            stop_reason, tags, scores, error)
         VALUES ($1, $2, $14, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13::jsonb)
         ON CONFLICT (eval_id, case_id, trial) DO UPDATE SET
           run_id = EXCLUDED.run_id, verdict = EXCLUDED.verdict, score = EXCLUDED.score,
           cost_usd = EXCLUDED.cost_usd, judge_cost_usd = EXCLUDED.judge_cost_usd,
           latency_ms = EXCLUDED.latency_ms, stop_reason = EXCLUDED.stop_reason, tags = EXCLUDED.tags,
           scores = EXCLUDED.scores, error = EXCLUDED.error, ended_at = now()`,
        [
          evalId,
          result.caseId,
          result.trial,
          result.runId,
          result.verdict,
          result.score,
          result.costUsd,
          result.judgeCostUsd,
          result.latencyMs,
          result.stopReason,
          JSON.stringify(result.tags),
          JSON.stringify(result.scores),
          result.error === null ? null : JSON.stringify(result.error),
          position,
        ],
      );
    },

    async finish(evalId, { status, summary }) {
      const { rows } = await client.query<EvalRow>(
        `UPDATE ${evals} SET status = $2, summary = $3::jsonb, ended_at = now()
         WHERE id = $1 RETURNING ${EVAL_COLUMNS}`,
        [evalId, status, JSON.stringify(summary)],
      );
      if (!rows[0]) throw new EvalNotFoundError(evalId);
      return toRecord(rows[0]);
    },

    async list({ tenantId, agent, promptVersion, limit = 50, cursor }) {
      const bounded = Math.min(Math.max(1, Math.trunc(limit)), MAX_LIMIT);
      const params: unknown[] = [tenantId];
      const where = ['tenant_id = $1'];
      if (agent !== undefined) {
        params.push(agent);
        where.push(`agent = $${params.length}`);
      }
      if (promptVersion !== undefined) {
        params.push(promptVersion);
        where.push(`prompt_version = $${params.length}`);
      }
      if (cursor !== undefined) {
        const position = decodeCursor(cursor);
        params.push(position.createdAt, position.id);
        where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::text)`);
      }
      params.push(bounded + 1);
      const { rows } = await client.query<EvalRow>(
        `SELECT ${EVAL_COLUMNS} FROM ${evals} WHERE ${where.join(' AND ')}
         ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
        params,
      );
      const page = rows.slice(0, bounded);
      const last = page.at(-1);
      return {
        evals: page.map(toRecord),
        ...(rows.length > bounded && last
          ? { nextCursor: encodeCursor({ createdAt: last.cursor_at, id: last.id }) }
          : {}),
      };
    },

    async get({ tenantId, id }) {
      const { rows } = await client.query<EvalRow>(
        `SELECT ${EVAL_COLUMNS} FROM ${evals} WHERE tenant_id = $1 AND id = $2`,
        [tenantId, id],
      );
      if (!rows[0]) return undefined;
      const found = await client.query<ResultRow>(
        `SELECT case_id, trial, run_id, verdict, score, cost_usd, judge_cost_usd, latency_ms, stop_reason,
           tags, scores, error
         FROM ${results} WHERE eval_id = $1 ORDER BY position, trial`,
        [id],
      );
      return { eval: toRecord(rows[0]), results: found.rows.map(toResult) };
    },
  };
}
