import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import { fromStorableText, toStorableText } from '../journal/storable-json.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createId, type IdGenerator } from '../util/ids.js';

/** One piece of feedback on a run: a thumb, a 0-1 score and/or a comment, with who and when. */
export interface RunFeedbackRecord {
  id: string;
  runId: string;
  tenantId: string;
  thumbs: 'up' | 'down' | null;
  score: number | null;
  /** Any text (stored through the text codec). */
  comment: string | null;
  /** The end user the feedback is from, as the caller names them. */
  userId: string | null;
  /** Who recorded it: `key:<id>` of the API key. */
  createdBy: string;
  createdAt: Date;
}

/** What {@link RunFeedback.add} takes: at least one of thumbs, score and comment. */
export type NewRunFeedback = Pick<RunFeedbackRecord, 'runId' | 'tenantId' | 'createdBy'> &
  Partial<Pick<RunFeedbackRecord, 'thumbs' | 'score' | 'comment' | 'userId'>>;

/** Feedback on runs, per tenant; a run may have any number of rows. */
export interface RunFeedback {
  /** Records feedback. The caller checks that the run exists and is the tenant's. */
  add(feedback: NewRunFeedback): Promise<RunFeedbackRecord>;
  /** A run's feedback, newest first (at most `limit`, default 100). */
  list(runId: string, options: { tenantId: string; limit?: number }): Promise<RunFeedbackRecord[]>;
}

/** Options of {@link createRunFeedback}. */
export interface RunFeedbackOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  clock?: Clock;
  generateId?: IdGenerator;
}

interface FeedbackRow {
  id: string;
  run_id: string;
  tenant_id: string;
  thumbs: 'up' | 'down' | null;
  score: number | string | null;
  comment: string | null;
  user_id: string | null;
  created_by: string;
  created_at: Date | string;
}

/** Run feedback over SQL, in the `run_feedback` table (migration 13). Rows go with their run. */
export function createRunFeedback({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
  generateId = createId,
}: RunFeedbackOptions): RunFeedback {
  assertSchemaName(schema);
  const table = `${schema}.run_feedback`;
  return {
    async add({ runId, tenantId, thumbs, score, comment, userId, createdBy }) {
      const result = await client.query<FeedbackRow>(
        `INSERT INTO ${table} (id, run_id, tenant_id, thumbs, score, comment, user_id, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz)
         RETURNING *`,
        [
          generateId('fb'),
          runId,
          tenantId,
          thumbs ?? null,
          score ?? null,
          comment == null ? null : toStorableText(comment),
          userId ?? null,
          createdBy,
          new Date(clock.now()).toISOString(),
        ],
      );
      return toFeedback(result.rows[0]!);
    },

    async list(runId, { tenantId, limit = 100 }) {
      const result = await client.query<FeedbackRow>(
        `SELECT * FROM ${table} WHERE run_id = $1 AND tenant_id = $2
         ORDER BY created_at DESC, id DESC LIMIT $3`,
        [runId, tenantId, Math.max(1, Math.floor(limit))],
      );
      return result.rows.map(toFeedback);
    },
  };
}

function toFeedback(row: FeedbackRow): RunFeedbackRecord {
  return {
    id: row.id,
    runId: row.run_id,
    tenantId: row.tenant_id,
    thumbs: row.thumbs,
    score: row.score === null ? null : Number(row.score),
    comment: row.comment === null ? null : fromStorableText(row.comment),
    userId: row.user_id,
    createdBy: row.created_by,
    createdAt: toDate(row.created_at),
  };
}
