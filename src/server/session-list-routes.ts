/**
 * `GET /v1/sessions`: the tenant's sessions (runs sharing a `session_id`), latest activity
 * first, with their run counts and first message, in cursor pages. Scope `runs:read`.
 */
import { sessionMessageText } from '../runtime/session-history.js';
import { READ_SCOPES } from './authenticate.js';
import { configured, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import type { SessionSummary } from './session-list.js';
import { listSessionsQuery, sessionListResponse } from './session-schemas.js';

/** How much of a session's first message the list shows. */
const PREVIEW_CHARACTERS = 200;

/** A session of the list as the API returns it. */
export function sessionSummaryView(session: SessionSummary) {
  const text = sessionMessageText(session.firstInput);
  return {
    id: session.id,
    run_count: session.runCount,
    active_run_count: session.activeRunCount,
    created_at: session.createdAt.toISOString(),
    last_run_at: session.lastRunAt.toISOString(),
    agent: session.agent,
    first_message: text.length > PREVIEW_CHARACTERS ? `${text.slice(0, PREVIEW_CHARACTERS - 1)}…` : text,
  };
}

export const sessionListRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/sessions',
    scopes: READ_SCOPES,
    summary: "List the tenant's sessions, latest activity first",
    query: listSessionsQuery,
    responses: {
      200: { description: 'A page', schema: sessionListResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies }) {
      const sessions = configured(dependencies.sessions, 'session list');
      const filter = query();
      const page = await sessions.list({
        tenantId: key.tenantId,
        ...(filter.limit === undefined ? {} : { limit: filter.limit }),
        ...(filter.cursor === undefined ? {} : { cursor: filter.cursor }),
      });
      return sendJson(response, 200, {
        data: page.sessions.map(sessionSummaryView),
        next_cursor: page.nextCursor ?? null,
      });
    },
  }),
];
