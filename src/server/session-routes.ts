/**
 * `/v1/sessions`: a conversation carried across runs (the runs that share a `session_id`).
 * `GET /v1/sessions/{id}` summarizes it; `GET /v1/sessions/{id}/messages` returns it as
 * messages, each run's input as a `user` message and, once it completed, its output as an
 * `assistant` one: what a later run of the session sees as its history (failed and cancelled
 * runs show their input but give the model nothing). Scope `runs:read`; another tenant's
 * session answers 404, as one that does not exist. Stateless: everything comes from the store.
 */
import { SessionNotFoundError } from '../errors/session-errors.js';
import type { RunRecord, SessionRecord } from '../journal/types.js';
import { sessionMessageText } from '../runtime/session-history.js';
import { READ_SCOPES } from './authenticate.js';
import { defineRoute, errorResponses } from './route-table.js';
import { sessionMessageListResponse, sessionMessagesQuery, sessionResponse } from './session-schemas.js';
import { decodeId, invalidRequest, sendJson } from './http-io.js';

/** A session as the API returns it. */
export function sessionView(session: SessionRecord) {
  return {
    id: session.id,
    run_count: session.runCount,
    created_at: session.createdAt.toISOString(),
    last_run_at: session.lastRunAt.toISOString(),
    active_run_id: session.activeRunIds[0] ?? null,
  };
}

/** A run as the messages it adds to its session's conversation. */
export function sessionMessagesOf(run: RunRecord) {
  const user = {
    role: 'user' as const,
    content: sessionMessageText(run.input),
    run_id: run.id,
    created_at: run.createdAt.toISOString(),
  };
  if (run.status !== 'completed') return [user];
  const assistant = {
    role: 'assistant' as const,
    content: sessionMessageText(run.output),
    run_id: run.id,
    created_at: (run.endedAt ?? run.createdAt).toISOString(),
  };
  return [user, assistant];
}

/** The `/v1/sessions` routes (scope `runs:read`). */
export const sessionRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/sessions/:id',
    scopes: READ_SCOPES,
    summary: 'A session (the runs sharing a session_id) of the key’s tenant',
    responses: {
      200: { description: 'The session', schema: sessionResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies: { store } }) {
      const sessionId = sessionIdOf(params.id);
      const session = await store.getSession(sessionId, { tenantId: key.tenantId });
      if (!session) throw new SessionNotFoundError(sessionId);
      return sendJson(response, 200, sessionView(session));
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/sessions/:id/messages',
    scopes: READ_SCOPES,
    summary: "A session's conversation: each run's input, then its answer once completed",
    description: 'Pages of runs, newest page first; messages oldest first within a page.',
    query: sessionMessagesQuery,
    responses: {
      200: { description: 'Messages', schema: sessionMessageListResponse },
      ...errorResponses(400, 401, 403, 404),
    },
    async handle({ response, url, key, params, dependencies: { store } }) {
      const sessionId = sessionIdOf(params.id);
      const parsed = sessionMessagesQuery.safeParse(Object.fromEntries(url.searchParams));
      if (!parsed.success) throw invalidRequest(`Invalid request: ${parsed.error.issues[0]?.message ?? ''}`);
      const page = await store.listRuns({
        tenantId: key.tenantId,
        sessionId,
        limit: parsed.data.limit,
        cursor: parsed.data.cursor,
      });
      if (page.runs.length === 0 && parsed.data.cursor === undefined)
        throw new SessionNotFoundError(sessionId);
      // listRuns pages newest first; a page of a conversation reads oldest first.
      return sendJson(response, 200, {
        data: [...page.runs].reverse().flatMap(sessionMessagesOf),
        next_cursor: page.nextCursor ?? null,
      });
    },
  }),
];

/** The session a path names; an id that cannot exist is answered like one that does not. */
function sessionIdOf(segment: string | undefined): string {
  const sessionId = decodeId(segment);
  if (sessionId === undefined) throw new SessionNotFoundError(segment ?? '');
  return sessionId;
}
