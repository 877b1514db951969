/**
 * The sessions of a tenant, newest activity first: a session is its runs (no row of its own),
 * so a page is an aggregate of the `runs` table grouped by `session_id` (served by the
 * `runs_tenant_session_created` index), each with its first message and the agent of its
 * latest run. Paged with a cursor on (last activity, session id).
 */
import { decodeCursor, encodeCursor } from '../journal/page-cursor.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { toDate, TERMINAL_SQL } from '../journal/sql-rows.js';
import { fromStorableJson } from '../journal/storable-json.js';

/** One session of a page. */
export interface SessionSummary {
  id: string;
  runCount: number;
  createdAt: Date;
  lastRunAt: Date;
  /** Runs of the session not yet ended. */
  activeRunCount: number;
  /** The agent of the session's latest run. */
  agent: string;
  /** The input of the session's first run (as stored, redaction applied). */
  firstInput: unknown;
}

/** Lists a tenant's sessions. */
export interface SessionList {
  /** Newest activity first; `nextCursor` is absent on the last page. */
  list(options: {
    tenantId: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ sessions: SessionSummary[]; nextCursor?: string }>;
}

/** Options of {@link createSessionList}. */
export interface SessionListOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
}

const DEFAULT_LIMIT = 50;

interface SessionRow {
  session_id: string;
  run_count: number | string;
  active_run_count: number | string;
  created_at: Date | string;
  last_run_at: Date | string;
  cursor_at: string;
  agent: string;
  first_input: unknown;
}

/** The session list over SQL (the journal's `runs` table). */
export function createSessionList({ client, schema = DEFAULT_SCHEMA }: SessionListOptions): SessionList {
  assertSchemaName(schema);
  const runs = `${schema}.runs`;
  return {
    async list({ tenantId, limit = DEFAULT_LIMIT, cursor }) {
      const params: unknown[] = [tenantId];
      let having = '';
      if (cursor !== undefined) {
        const position = decodeCursor(cursor);
        params.push(position.createdAt, position.id);
        having = `HAVING (max(created_at), session_id) < ($2::timestamptz, $3::text)`;
      }
      params.push(limit + 1);
      const result = await client.query<SessionRow>(
        `WITH page AS (
           SELECT session_id, count(*)::int AS run_count,
             (count(*) FILTER (WHERE status NOT IN ${TERMINAL_SQL}))::int AS active_run_count,
             min(created_at) AS created_at, max(created_at) AS last_run_at,
             to_char(max(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
           FROM ${runs}
           WHERE tenant_id = $1 AND session_id IS NOT NULL
           GROUP BY session_id
           ${having}
           ORDER BY max(created_at) DESC, session_id DESC
           LIMIT $${params.length}
         )
         SELECT page.*, latest.agent, first.input AS first_input
         FROM page
         CROSS JOIN LATERAL (
           SELECT agent FROM ${runs} AS run
           WHERE run.tenant_id = $1 AND run.session_id = page.session_id
           ORDER BY created_at DESC, id DESC LIMIT 1
         ) AS latest
         CROSS JOIN LATERAL (
           SELECT input FROM ${runs} AS run
           WHERE run.tenant_id = $1 AND run.session_id = page.session_id
           ORDER BY created_at, id LIMIT 1
         ) AS first
         ORDER BY page.last_run_at DESC, page.session_id DESC`,
        params,
      );
      const rows = result.rows.slice(0, limit);
      const last = rows[rows.length - 1];
      const nextCursor =
        result.rows.length > limit && last
          ? encodeCursor({ createdAt: last.cursor_at, id: last.session_id })
          : undefined;
      return {
        sessions: rows.map((row) => ({
          id: row.session_id,
          runCount: Number(row.run_count),
          activeRunCount: Number(row.active_run_count),
          createdAt: toDate(row.created_at),
          lastRunAt: toDate(row.last_run_at),
          agent: row.agent,
          firstInput: fromStorableJson(row.first_input),
        })),
        ...(nextCursor === undefined ? {} : { nextCursor }),
      };
    },
  };
}
