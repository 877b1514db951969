/**
 * The trace beside the playground's conversation, growing as the run goes: steps as the run's
 * events start and end them, merged with the run's trace (`GET /v1/runs/{id}/trace`, read again
 * while the run is live and once more when it ends), which adds what the events do not carry:
 * which model step asked for each tool call, latency and tokens.
 */
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import { ErrorView } from '../components/ErrorView';
import { count, ms, usd } from '../components/format';
import type { Trace, TraceStep } from './chat-api';

/** A step as the run's events describe it. */
export interface LiveStep {
  seq: number;
  kind: string;
  name: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  cost_usd: number | null;
  error_code: string | null;
}

interface Row {
  seq: number;
  parent: number | null;
  type: string;
  name: string;
  state: 'running' | 'ok' | 'failed';
  latency: number | null;
  tokens: string | null;
  cost: number | null;
  error: string | null;
}

const TYPE_OF_KIND: Record<string, string> = { model: 'llm' };

function rowOfTrace(step: TraceStep): Row {
  return {
    seq: step.seq,
    parent: step.parent_seq,
    type: step.type,
    name: step.model !== null && step.type === 'llm' ? `${step.name} · ${step.model}` : step.name,
    state: step.ok === null ? 'running' : step.ok ? 'ok' : 'failed',
    latency: step.latency_ms,
    tokens:
      step.tokens_in === null && step.tokens_out === null
        ? null
        : `${count(step.tokens_in ?? 0)} → ${count(step.tokens_out ?? 0)}`,
    cost: step.cost_usd,
    error: step.error_code,
  };
}

function rowOfLive(step: LiveStep): Row {
  return {
    seq: step.seq,
    parent: null,
    type: TYPE_OF_KIND[step.kind] ?? step.kind,
    name: step.name,
    state: step.status === 'started' ? 'running' : step.status === 'failed' ? 'failed' : 'ok',
    latency:
      step.ended_at !== null && step.started_at !== ''
        ? Date.parse(step.ended_at) - Date.parse(step.started_at)
        : null,
    tokens: null,
    cost: step.cost_usd,
    error: step.error_code,
  };
}

export function TracePanel({
  runId,
  live,
  ended,
}: {
  runId: string | undefined;
  live: ReadonlyMap<number, LiveStep> | undefined;
  ended: boolean;
}) {
  const trace = useQuery({
    queryKey: ['chat', 'trace', runId, ended],
    queryFn: ({ signal }) => api<Trace>(`/v1/runs/${encodeURIComponent(runId ?? '')}/trace`, { signal }),
    enabled: runId !== undefined,
    refetchInterval: ended ? false : 1_000,
    placeholderData: (previous) => previous,
  });
  const fromTrace = trace.data?.trace_id === runId ? (trace.data?.steps ?? []) : [];
  const rows = new Map<number, Row>(fromTrace.map((step) => [step.seq, rowOfTrace(step)]));
  // The events run ahead of the trace: a step they started or ended is shown at once.
  for (const step of live?.values() ?? []) {
    const known = rows.get(step.seq);
    const fresh = rowOfLive(step);
    if (known === undefined) rows.set(step.seq, fresh);
    else if (known.state === 'running' && fresh.state !== 'running')
      rows.set(step.seq, { ...known, state: fresh.state, cost: fresh.cost, error: fresh.error });
  }
  const ordered = [...rows.values()].sort((left, right) => left.seq - right.seq);
  return (
    <section className="trace-column" aria-labelledby="trace-heading">
      <h2 id="trace-heading">Trace</h2>
      {runId === undefined ? (
        <p className="muted">The run's steps show here as they happen.</p>
      ) : (
        <>
          <p className="trace-summary">
            <Link to={`/runs/${encodeURIComponent(runId)}`}>Open run {runId}</Link>
            {trace.data !== undefined && trace.data.trace_id === runId && (
              <span className="muted">
                {' '}
                · {trace.data.status}
                {trace.data.stop_reason !== null &&
                  trace.data.stop_reason !== trace.data.status &&
                  ` (${trace.data.stop_reason})`}{' '}
                · {ms(trace.data.duration_ms)} · {usd(trace.data.total_cost_usd)}
              </span>
            )}
          </p>
          {trace.isError && <ErrorView error={trace.error} title="Could not load the trace" />}
          {ordered.length === 0 ? (
            <p className="muted" role="status">
              Waiting for the first step…
            </p>
          ) : (
            <ol className="trace-steps" aria-label={`Steps of run ${runId}`}>
              {ordered.map((row) => (
                <li key={row.seq} className={`trace-step ${row.parent === null ? '' : 'child'} ${row.state}`}>
                  <span className={`badge step-type ${row.type}`}>{row.type}</span>{' '}
                  <span className="step-name">{row.name}</span>{' '}
                  <span
                    className={`badge ${row.state === 'ok' ? 'ok' : row.state === 'failed' ? 'bad' : 'warn'}`}
                  >
                    {row.state}
                  </span>
                  <span className="step-facts muted">
                    #{row.seq}
                    {row.latency !== null && ` · ${ms(row.latency)}`}
                    {row.tokens !== null && ` · ${row.tokens} tokens`}
                    {row.cost !== null && row.cost > 0 && ` · ${usd(row.cost)}`}
                    {row.error !== null && ` · ${row.error}`}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
