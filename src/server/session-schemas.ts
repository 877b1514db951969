/**
 * The session API's bodies as zod schemas (see schemas.ts for the run API's): the server
 * parses queries with them, tests check answers against them, `/openapi.json` documents them.
 */
import { z } from 'zod';

/** `GET /v1/sessions/{id}`. */
export const sessionResponse = z
  .object({
    id: z.string(),
    run_count: z.number(),
    created_at: z.string(),
    last_run_at: z.string(),
    active_run_id: z
      .string()
      .nullable()
      .describe("The session's oldest run not yet ended (the one being answered), or null."),
  })
  .meta({ id: 'Session' });

/** `GET /v1/sessions/{id}/messages` query parameters: pages of runs, newest page first. */
export const sessionMessagesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional().describe('Runs per page (default 50).'),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

export const sessionMessageResponse = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    run_id: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'SessionMessage' });

export const sessionMessageListResponse = z
  .object({
    data: z.array(sessionMessageResponse).describe('Oldest first within the page.'),
    next_cursor: z.string().nullable().describe('Older messages; null on the first page of the session.'),
  })
  .meta({ id: 'SessionMessageList' });

/** `GET /v1/sessions` query parameters. */
export const listSessionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).optional().describe('Sessions per page (default 50).'),
  cursor: z
    .string()
    .optional()
    .describe('A `next_cursor` of an earlier page; anything else answers 400 `invalid_cursor`.'),
});

export const sessionSummaryResponse = z
  .object({
    id: z.string(),
    run_count: z.number(),
    active_run_count: z.number().describe('Runs of the session not yet ended.'),
    created_at: z.string().describe("The session's first run's creation."),
    last_run_at: z.string().describe("The session's latest run's creation (its last activity)."),
    agent: z.string().describe("The agent of the session's latest run."),
    first_message: z
      .string()
      .describe("The session's first run's input as message text, cut at 200 characters."),
  })
  .meta({ id: 'SessionSummary' });

export const sessionListResponse = z
  .object({ data: z.array(sessionSummaryResponse), next_cursor: z.string().nullable() })
  .meta({ id: 'SessionList' });
