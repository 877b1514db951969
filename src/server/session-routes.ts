/**
 * `/v1/sessions`: a conversation carried across runs (the runs that share a `session_id`).
 * `GET /v1/sessions/{id}` summarizes it; `GET /v1/sessions/{id}/messages` returns it as
 * messages, each run's input as a `user` message and, once it completed, its output as an
 * `assistant` one: what a later run of the session sees as its history (failed and cancelled
 * runs show their input but give the model nothing). Scope `runs:read`; another tenant's
 * session answers 404, as one that does not exist. Stateless: everything comes from the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionNotFoundError } from '../errors/session-errors.js';
import type { ApiKeys } from '../gateway/api-keys.js';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord, SessionRecord } from '../journal/types.js';
import { sessionMessageText } from '../runtime/session-history.js';
import { authenticate, READ_SCOPES } from './authenticate.js';
import { sessionMessagesQuery } from './session-schemas.js';
import { decodeId, invalidRequest, methodNotAllowed, notFound, sendJson } from './http-io.js';

/** Options of {@link handleSessionRoute}. */
export interface SessionRouteOptions {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  store: JournalStore;
  apiKeys: Pick<ApiKeys, 'verify'>;
}

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

/** Answers a request whose path starts with `/v1/sessions`; errors are thrown for the server to map. */
export async function handleSessionRoute({
  request,
  response,
  url,
  store,
  apiKeys,
}: SessionRouteOptions): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean);
  const method = request.method ?? 'GET';
  const route = `${method} ${url.pathname}`;
  const action = parts.length === 3 ? '' : parts.length === 4 ? parts[3] : undefined;
  if (action !== '' && action !== 'messages') throw notFound(`No route for ${route}.`);
  if (method !== 'GET') throw methodNotAllowed(route);
  const key = await authenticate({ request, apiKeys, scopes: READ_SCOPES });
  const tenantId = key.tenantId;
  const sessionId = decodeId(parts[2]);
  // An id that cannot exist is answered like one that does not.
  if (sessionId === undefined) throw new SessionNotFoundError(parts[2] ?? '');

  if (action === '') {
    const session = await store.getSession(sessionId, { tenantId });
    if (!session) throw new SessionNotFoundError(sessionId);
    return sendJson(response, 200, sessionView(session));
  }
  const parsed = sessionMessagesQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) throw invalidRequest(`Invalid request: ${parsed.error.issues[0]?.message ?? ''}`);
  const page = await store.listRuns({
    tenantId,
    sessionId,
    limit: parsed.data.limit,
    cursor: parsed.data.cursor,
  });
  if (page.runs.length === 0 && parsed.data.cursor === undefined) throw new SessionNotFoundError(sessionId);
  // listRuns pages newest first; a page of a conversation reads oldest first.
  return sendJson(response, 200, {
    data: [...page.runs].reverse().flatMap(sessionMessagesOf),
    next_cursor: page.nextCursor ?? null,
  });
}
