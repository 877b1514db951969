import { z } from 'zod';
import { parseCassette } from '../cassettes/cassette.js';
import { RunNotFoundError } from '../errors/storage-errors.js';
import type { CaptureCandidate, CaptureSource } from '../evals/capture.js';
import { RUN_STATUSES } from '../journal/types.js';
import type { RemoteApi } from './backend.js';

const runPage = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      status: z.enum(RUN_STATUSES),
      trigger: z.string().nullable().optional(),
    }),
  ),
  next_cursor: z.string().nullable().optional(),
});

const runWithOutcome = z.object({
  outcome: z
    .object({ status: z.enum(['committed', 'rejected']) })
    .nullable()
    .optional(),
});

const feedbackList = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      run_id: z.string(),
      thumbs: z.enum(['up', 'down']).nullable(),
      score: z.number().nullable(),
      comment: z.string().nullable(),
      user_id: z.string().nullable(),
      created_by: z.string(),
      created_at: z.string(),
    }),
  ),
});

/**
 * A server's API as a capture source, for when a `keel serve` owns the embedded database: runs
 * from `GET /v1/runs?agent=`, outcomes from `GET /v1/runs/{id}`, feedback from
 * `GET /v1/runs/{id}/feedback` and steps with session history from `GET /v1/runs/{id}/cassette`
 * (which needs `runs:read_payloads`, as the local admin key has). The key's tenant is the only one.
 */
export function createApiCaptureSource(api: RemoteApi, tenantId: string): CaptureSource {
  const runPath = (id: string, rest = '') => `/v1/runs/${encodeURIComponent(id)}${rest}`;
  const required = async (path: string, id: string): Promise<unknown> => {
    const body = await api.call<unknown>(path);
    if (body === undefined) throw new RunNotFoundError(id);
    return body;
  };
  return {
    async listRuns({ agent, limit, cursor }) {
      const query = new URLSearchParams({ agent, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const page = runPage.parse(await api.call<unknown>(`/v1/runs?${query.toString()}`));
      return {
        runs: page.data.map((run): CaptureCandidate => ({
          id: run.id,
          tenantId,
          status: run.status,
          trigger: run.trigger ?? null,
        })),
        ...(page.next_cursor ? { nextCursor: page.next_cursor } : {}),
      };
    },
    async judgement(run) {
      const [shown, notes] = await Promise.all([
        required(runPath(run.id), run.id),
        required(runPath(run.id, '/feedback'), run.id),
      ]);
      const outcome = runWithOutcome.parse(shown).outcome ?? undefined;
      return {
        outcome,
        feedback: feedbackList.parse(notes).data.map((each) => ({
          id: each.id,
          runId: each.run_id,
          tenantId,
          thumbs: each.thumbs,
          score: each.score,
          comment: each.comment,
          userId: each.user_id,
          createdBy: each.created_by,
          createdAt: new Date(each.created_at),
        })),
      };
    },
    async cassette(run) {
      return parseCassette(JSON.stringify(await required(runPath(run.id, '/cassette'), run.id)));
    },
  };
}
