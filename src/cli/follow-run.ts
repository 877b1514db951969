/**
 * Following a run on a server over its event stream (`GET /v1/runs/{id}/events`, see
 * src/server/run-events.ts): text as it streams, steps, the approvals the run waits on, until
 * `run-end`. A dropped connection (or a stream that ends before `run-end`, or a 5xx) is
 * reconnected with `Last-Event-ID`, so nothing is lost or shown twice; after `maxFailures`
 * attempts in a row that bring no event, the server is taken for gone (`database_unavailable`).
 */
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { KeelError, isKeelError } from '../errors/keel-error.js';
import type { ServerSentEvent } from '../model/sse.js';
import type { RunView } from '../server/run-views.js';
import { sleep } from '../util/sleep.js';
import type { RemoteApi } from './backend.js';
import type { LiveRun } from './live-run.js';
import { renderApprovalRequest } from './render.js';

export interface FollowRunOptions {
  api: Pick<RemoteApi, 'runEvents' | 'getRun' | 'listApprovals'>;
  runId: string;
  live: LiveRun;
  signal: AbortSignal;
  /** First pause before reconnecting (doubles per failure, up to 2 s). Default 200 ms. */
  retryMs?: number;
  /** Connection attempts in a row without an event before giving up. Default 20. */
  maxFailures?: number;
}

/** Follows the run to its end and returns it as the API shows it then. */
export async function followRun({
  api,
  runId,
  live,
  signal,
  retryMs = 200,
  maxFailures = 20,
}: FollowRunOptions): Promise<RunView> {
  let lastEventId: string | undefined;
  let failures = 0;
  let lastError: unknown;
  const shownApprovals = new Set<string>();
  const handle = async (event: ServerSentEvent): Promise<boolean> => {
    const data = parseData(event.data);
    switch (event.event) {
      case 'step-start':
        live.event({ type: 'step-start', seq: num(data.seq), kind: str(data.kind), name: str(data.name) });
        return false;
      case 'text-delta':
        live.event({
          type: 'text',
          seq: num(data.seq),
          execution: num(data.execution),
          text: str(data.text),
        });
        return false;
      case 'step-end': {
        const usage = data.usage as { input_tokens?: number; output_tokens?: number } | null | undefined;
        const started = Date.parse(str(data.started_at));
        const ended = Date.parse(str(data.ended_at));
        live.event({
          type: 'step-end',
          seq: num(data.seq),
          kind: str(data.kind),
          name: str(data.name),
          status: str(data.status),
          durationMs: Number.isFinite(started) && Number.isFinite(ended) ? ended - started : null,
          costUsd: typeof data.cost_usd === 'number' ? data.cost_usd : null,
          ...(usage ? { tokens: { input: usage.input_tokens ?? 0, output: usage.output_tokens ?? 0 } } : {}),
          error: typeof data.error_code === 'string' ? { code: data.error_code } : null,
        });
        return false;
      }
      case 'approval-request': {
        const id = str(data.approval_id);
        if (id === '' || shownApprovals.has(id)) return false;
        const approval = (await api.listApprovals({ run_id: runId, status: 'pending' })).find(
          (candidate) => candidate.id === id,
        );
        // Marked shown only once shown: if the listing failed, the redelivered event shows it.
        shownApprovals.add(id);
        // Decided (or expired) before we looked: the decision event follows.
        if (approval !== undefined)
          live.note(renderApprovalRequest(approval) + '  waiting for the decision…\n');
        return false;
      }
      case 'approval-decision': {
        const decision = str(data.decision) || 'decided';
        const by = typeof data.decided_by === 'string' ? ` by ${data.decided_by}` : '';
        live.progress(
          `${decision === 'approved' ? '✓' : '✗'} approval ${str(data.approval_id)} ${decision}${by}\n`,
        );
        return false;
      }
      case 'run-end':
        return true;
      case 'error':
        // The stream's key stopped working: reconnecting would not help.
        throw new KeelError({
          code: str(data.code) || 'unauthorized',
          message: str(data.message) || 'The server ended the event stream.',
          fault: 'caller',
        });
      default:
        return false;
    }
  };

  for (;;) {
    let progressed = false;
    try {
      for await (const event of api.runEvents(runId, lastEventId, signal)) {
        progressed = true;
        const ended = await handle(event);
        if (event.id !== undefined) lastEventId = event.id;
        if (ended) {
          const run = await api.getRun(runId);
          if (run === undefined)
            throw new KeelError({
              code: 'run_not_found',
              message: `Run ${runId} not found.`,
              fault: 'caller',
            });
          return run;
        }
      }
    } catch (error) {
      // A refusal (an unknown run, a revoked key) is final; a dropped connection or a 5xx is not.
      if (signal.aborted || (isKeelError(error) && error.fault !== 'system')) throw error;
      lastError = error;
    }
    failures = progressed ? 0 : failures + 1;
    if (failures >= maxFailures)
      throw new DatabaseUnavailableError(
        `Lost the event stream of run ${runId}: ${failures} reconnections brought nothing.`,
        lastError,
      );
    await sleep(Math.min(retryMs * 2 ** Math.max(0, failures - 1), 2_000), signal);
  }
}

function parseData(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');
