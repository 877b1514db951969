/**
 * The approvals inbox: tool calls waiting for a person, with the tool, its arguments and the
 * run they belong to (agent, input, user), newest first, refreshed every few seconds. Keys that
 * may decide approvals approve or reject each with a comment; the run then resumes. A filter
 * shows the decided ones (approved, rejected, expired, cancelled).
 */
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useId } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, ApiError, query } from '../api/client';
import { useAuth } from '../auth';
import { ApprovalDecision } from '../components/ApprovalDecision';
import { ErrorView } from '../components/ErrorView';
import { ago, time } from '../components/format';
import { Loading, Page } from '../components/Page';
import {
  TERMINAL,
  messageText,
  statusTone,
  type Approval,
  type Page as ListPage,
  type Run,
} from './chat-api';
import './chat.css';

const FILTERS = ['pending', 'approved', 'rejected', 'expired', 'cancelled', 'all'] as const;
type Filter = (typeof FILTERS)[number];
const PAGE_SIZE = 20;
const REFRESH_MS = 3_000;

export default function Approvals() {
  const [search, setSearch] = useSearchParams();
  const filterId = useId();
  const requested = search.get('status') ?? 'pending';
  const filter: Filter = (FILTERS as readonly string[]).includes(requested)
    ? (requested as Filter)
    : 'pending';
  const approvals = useInfiniteQuery({
    queryKey: ['approvals', filter],
    queryFn: ({ pageParam, signal }) =>
      api<ListPage<Approval>>(
        `/v1/approvals${query({ status: filter === 'all' ? undefined : filter, limit: PAGE_SIZE, cursor: pageParam })}`,
        { signal },
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: REFRESH_MS,
  });
  const items = approvals.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <Page title="Approvals">
      <div className="toolbar">
        <label htmlFor={filterId}>Show</label>
        <select
          id={filterId}
          value={filter}
          onChange={(event) => {
            const next = new URLSearchParams(search);
            next.set('status', event.target.value);
            setSearch(next, { replace: true });
          }}
        >
          {FILTERS.map((value) => (
            <option key={value} value={value}>
              {value === 'all' ? 'All approvals' : value[0]!.toUpperCase() + value.slice(1)}
            </option>
          ))}
        </select>
        <span className="muted" role="status" aria-live="polite">
          {approvals.isSuccess &&
            `${items.length}${approvals.hasNextPage ? '+' : ''} ${filter === 'all' ? '' : `${filter} `}approval${items.length === 1 ? '' : 's'} · refreshed every ${REFRESH_MS / 1000} s`}
        </span>
      </div>
      {approvals.isPending && <Loading what="Loading approvals" />}
      {approvals.isError && <ErrorView error={approvals.error} title="Could not load approvals" />}
      {approvals.isSuccess && items.length === 0 && (
        <p className="muted">
          {filter === 'pending'
            ? 'Nothing waits for a decision.'
            : `No ${filter === 'all' ? '' : `${filter} `}approvals.`}
        </p>
      )}
      <ul className="approval-list">
        {items.map((approval) => (
          <li key={approval.id}>
            <ApprovalCard approval={approval} />
          </li>
        ))}
      </ul>
      {approvals.hasNextPage && (
        <button
          type="button"
          onClick={() => void approvals.fetchNextPage()}
          disabled={approvals.isFetchingNextPage}
        >
          {approvals.isFetchingNextPage ? 'Loading…' : 'Older approvals'}
        </button>
      )}
    </Page>
  );
}

function ApprovalCard({ approval }: { approval: Approval }) {
  const { can } = useAuth();
  return (
    <article className="card approval" aria-labelledby={`approval-${approval.id}`}>
      <header className="approval-head">
        <h2 id={`approval-${approval.id}`}>
          {approval.kind === 'budget_extension' && 'Budget extension: '}
          <code>{approval.tool}</code>
        </h2>
        <span className={`badge ${statusTone(approval.status)}`}>{approval.status}</span>
        <span className="muted" title={time(approval.requested_at)}>
          requested {ago(approval.requested_at)}
        </span>
        {approval.expires_at !== null && approval.status === 'pending' && (
          <span className="muted">expires {time(approval.expires_at)}</span>
        )}
      </header>
      <div className="approval-body">
        <section aria-label="Arguments">
          <h3>Arguments</h3>
          {approval.kind === 'budget_extension' && (
            <p className="muted">
              Approving raises the budget's limit by what the held call needs (or by <code>extend_usd</code> /{' '}
              <code>extend_tokens</code> through the API) and the run goes on; rejecting ends it with stop
              reason <code>budget</code>.
            </p>
          )}
          <pre>{JSON.stringify(approval.arguments, null, 2)}</pre>
        </section>
        <section aria-label="Run">
          <h3>
            Run <Link to={`/runs/${encodeURIComponent(approval.run_id)}`}>{approval.run_id}</Link>
          </h3>
          {can('readRuns') ? (
            <RunContext runId={approval.run_id} />
          ) : (
            <p className="muted">The run's context needs a key with runs:read.</p>
          )}
        </section>
      </div>
      {approval.status === 'pending' ? (
        <ApprovalDecision approvalId={approval.id} kind={approval.kind} tool={approval.tool} />
      ) : (
        <p className="approval-decided">
          {approval.status === 'approved' || approval.status === 'rejected' ? (
            <>
              <strong>{approval.status === 'approved' ? 'Approved' : 'Rejected'}</strong> by{' '}
              <code>{approval.decided_by ?? 'unknown'}</code> {ago(approval.decided_at)}
            </>
          ) : (
            <strong>{approval.status === 'expired' ? 'Expired' : 'Cancelled'}</strong>
          )}
          {approval.reason !== null && <> · “{approval.reason}”</>}
        </p>
      )}
    </article>
  );
}

function RunContext({ runId }: { runId: string }) {
  const run = useQuery({
    queryKey: ['chat', 'run', runId],
    queryFn: ({ signal }) => api<Run>(`/v1/runs/${encodeURIComponent(runId)}`, { signal }),
    // Followed until it ends: an approved run resumes, and the card shows how it finished.
    refetchInterval: (current) =>
      current.state.data === undefined || TERMINAL.has(current.state.data.status) ? false : REFRESH_MS,
  });
  if (run.isPending) return <Loading what="Loading the run" />;
  if (run.isError)
    return run.error instanceof ApiError && run.error.status === 404 ? (
      <p className="muted">The run is gone.</p>
    ) : (
      <ErrorView error={run.error} title="Could not load the run" />
    );
  const input = messageText(run.data.input);
  return (
    <dl className="facts">
      <dt>Agent</dt>
      <dd>{run.data.agent}</dd>
      <dt>Status</dt>
      <dd>
        <span className={`badge ${statusTone(run.data.status)}`}>{run.data.status}</span>
      </dd>
      <dt>User</dt>
      <dd>{run.data.user_id ?? <span className="muted">none</span>}</dd>
      {run.data.session_id !== null && (
        <>
          <dt>Session</dt>
          <dd>
            <Link to={`/sessions/${encodeURIComponent(run.data.session_id)}`}>{run.data.session_id}</Link>
          </dd>
        </>
      )}
      <dt>Input</dt>
      <dd className="run-input">{input.length > 600 ? `${input.slice(0, 599)}…` : input}</dd>
    </dl>
  );
}
