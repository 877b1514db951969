/**
 * Runs: the tenant's runs, newest first, filtered and paged on the server (`GET /v1/runs`). The
 * filters, the search and the page live in the URL, so a filtered view can be shared and the
 * browser's back button works; pages are a stack of cursors (`pages=`), so "Previous" goes back
 * without the API having to page backwards.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { useId, useMemo, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, query } from '../api/client';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import { ago, count, time, usd } from '../components/format';
import { preview, RUN_STATUSES, StatusBadge, STOP_REASONS, type Run, type RunPage } from './runs-api';
import './runs.css';

/** The filters `GET /v1/runs` takes, as the URL keeps them. */
const FILTERS = [
  'agent',
  'status',
  'stop_reason',
  'user_id',
  'session_id',
  'trigger',
  'prompt_version',
  'created_after',
  'created_before',
  'q',
] as const;
type FilterName = (typeof FILTERS)[number];

const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;

const features = tableFeatures({});
const column = createColumnHelper<typeof features, Run>();
const columns = column.columns([
  column.accessor('id', {
    header: 'Run',
    cell: (info) => (
      <Link to={`/runs/${encodeURIComponent(info.getValue())}`} className="run-id">
        {info.getValue()}
      </Link>
    ),
  }),
  column.accessor('agent', { header: 'Agent' }),
  column.accessor('status', {
    header: 'Status',
    cell: (info) => {
      const reason = info.row.original.stop_reason;
      return (
        <>
          <StatusBadge status={info.getValue()} />
          {reason !== null && reason !== info.getValue() && <span className="stop-reason">{reason}</span>}
        </>
      );
    },
  }),
  column.accessor('input', {
    header: 'Input',
    cell: (info) => (
      <span className="run-input" title={preview(info.getValue(), 400)}>
        {preview(info.getValue(), 60)}
      </span>
    ),
  }),
  column.accessor('user_id', { header: 'User', cell: (info) => info.getValue() ?? '–' }),
  column.accessor('session_id', {
    header: 'Session',
    cell: (info) => {
      const session = info.getValue();
      return session === null ? '–' : <Link to={`/sessions/${encodeURIComponent(session)}`}>{session}</Link>;
    },
  }),
  column.accessor('trigger', { header: 'Trigger', cell: (info) => info.getValue() ?? '–' }),
  column.accessor('prompt_version', {
    header: 'Prompt',
    cell: (info) => <code>{info.getValue() ?? '–'}</code>,
  }),
  column.accessor((run) => run.usage.input_tokens + run.usage.output_tokens, {
    id: 'tokens',
    header: 'Tokens',
    meta: { numeric: true },
    cell: (info) => count(info.getValue()),
  }),
  column.accessor('cost_usd', {
    header: 'Cost',
    meta: { numeric: true },
    cell: (info) => usd(info.getValue()),
  }),
  column.accessor('created_at', {
    header: 'Created',
    cell: (info) => (
      <time dateTime={info.getValue()} title={time(info.getValue())}>
        {ago(info.getValue())}
      </time>
    ),
  }),
]);

/** `datetime-local` text (the reader's zone) to the ISO instant the API takes, and back. */
function toInstant(local: string): string {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}
function toLocal(instant: string | null): string {
  if (instant === null || instant === '') return '';
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) return '';
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

export default function Runs() {
  const [params, setParams] = useSearchParams();
  const formId = useId();
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ''])) as Record<
    FilterName,
    string
  >;
  const limit = Number(params.get('limit')) || DEFAULT_LIMIT;
  const cursors = (params.get('pages') ?? '').split(',').filter(Boolean);
  const cursor = cursors[cursors.length - 1];
  const [filtersOpen, setFiltersOpen] = useState(() =>
    FILTERS.some((name) => name !== 'q' && params.get(name) !== null),
  );

  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: ({ signal }) =>
      api<{ data: { name: string; prompt: { current_version: string; code_version: string } }[] }>(
        '/v1/agents',
        { signal },
      ),
    staleTime: 60_000,
  });
  const runs = useQuery({
    queryKey: ['runs', filters, limit, cursor],
    queryFn: ({ signal }) => api<RunPage>(`/v1/runs${query({ ...filters, limit, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
  });

  const data = useMemo(() => runs.data?.data ?? [], [runs.data]);
  const table = useTable({ features, columns, data, getRowId: (run) => run.id });

  /** A new URL from these changes; any filter change starts again at the first page. */
  const update = (changes: Partial<Record<FilterName | 'limit' | 'pages', string>>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined || value === '') next.delete(name);
      else next.set(name, value);
    }
    if (!('pages' in changes)) next.delete('pages');
    setParams(next);
  };

  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim();
    update({
      agent: text('agent'),
      status: text('status'),
      stop_reason: text('stop_reason'),
      user_id: text('user_id'),
      session_id: text('session_id'),
      trigger: text('trigger'),
      prompt_version: text('prompt_version'),
      created_after: text('created_after') && toInstant(text('created_after')),
      created_before: text('created_before') && toInstant(text('created_before')),
      limit: text('limit') === String(DEFAULT_LIMIT) ? '' : text('limit'),
    });
  };
  const search = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    update({ q: String(new FormData(event.currentTarget).get('q') ?? '').trim() });
  };
  const active = FILTERS.filter((name) => filters[name] !== '');
  const promptVersions = [
    ...new Set(
      (agents.data?.data ?? []).flatMap((agent) => [agent.prompt.current_version, agent.prompt.code_version]),
    ),
  ];
  const field = (name: string) => `${formId}-${name}`;

  return (
    <Page
      title="Runs"
      actions={
        <button type="button" onClick={() => void runs.refetch()} disabled={runs.isFetching}>
          Refresh
        </button>
      }
    >
      <form className="runs-search" role="search" onSubmit={search} key={`q-${filters.q}`}>
        <label htmlFor={field('q')}>Search</label>
        <input
          id={field('q')}
          name="q"
          type="search"
          defaultValue={filters.q}
          placeholder="run id, trace id or user id"
          aria-describedby={field('q-help')}
        />
        <button type="submit" className="primary">
          Search
        </button>
        <span id={field('q-help')} className="muted">
          Exact match on a run id, a trace id (32 hex digits) or a user id.
        </span>
      </form>

      <details
        className="runs-filters"
        open={filtersOpen}
        onToggle={(event) => setFiltersOpen(event.currentTarget.open)}
      >
        <summary>Filters{active.length > 0 ? ` (${active.length} active)` : ''}</summary>
        <form onSubmit={applyFilters} key={params.toString()} aria-label="Filters">
          <div className="filter-grid">
            <p>
              <label htmlFor={field('agent')}>Agent</label>
              <select id={field('agent')} name="agent" defaultValue={filters.agent}>
                <option value="">Any</option>
                {(agents.data?.data ?? []).map((agent) => (
                  <option key={agent.name}>{agent.name}</option>
                ))}
                {filters.agent !== '' && !agents.data?.data.some((agent) => agent.name === filters.agent) && (
                  <option>{filters.agent}</option>
                )}
              </select>
            </p>
            <p>
              <label htmlFor={field('status')}>Status</label>
              <select id={field('status')} name="status" defaultValue={filters.status}>
                <option value="">Any</option>
                {RUN_STATUSES.map((status) => (
                  <option key={status} value={status}>
                    {status.replace('_', ' ')}
                  </option>
                ))}
              </select>
            </p>
            <p>
              <label htmlFor={field('stop_reason')}>Stop reason</label>
              <select id={field('stop_reason')} name="stop_reason" defaultValue={filters.stop_reason}>
                <option value="">Any</option>
                {STOP_REASONS.map((reason) => (
                  <option key={reason}>{reason}</option>
                ))}
              </select>
            </p>
            <p>
              <label htmlFor={field('user_id')}>User</label>
              <input id={field('user_id')} name="user_id" defaultValue={filters.user_id} />
            </p>
            <p>
              <label htmlFor={field('session_id')}>Session</label>
              <input id={field('session_id')} name="session_id" defaultValue={filters.session_id} />
            </p>
            <p>
              <label htmlFor={field('trigger')}>Trigger</label>
              <input
                id={field('trigger')}
                name="trigger"
                defaultValue={filters.trigger}
                list={field('triggers')}
              />
              <datalist id={field('triggers')}>
                {['user_explicit', 'api', 'cli', 'eval', 'schedule'].map((trigger) => (
                  <option key={trigger} value={trigger} />
                ))}
              </datalist>
            </p>
            <p>
              <label htmlFor={field('prompt_version')}>Prompt version</label>
              <input
                id={field('prompt_version')}
                name="prompt_version"
                defaultValue={filters.prompt_version}
                list={field('versions')}
              />
              <datalist id={field('versions')}>
                {promptVersions.map((version) => (
                  <option key={version} value={version} />
                ))}
              </datalist>
            </p>
            <p>
              <label htmlFor={field('created_after')}>Created after</label>
              <input
                id={field('created_after')}
                name="created_after"
                type="datetime-local"
                defaultValue={toLocal(filters.created_after)}
              />
            </p>
            <p>
              <label htmlFor={field('created_before')}>Created before</label>
              <input
                id={field('created_before')}
                name="created_before"
                type="datetime-local"
                defaultValue={toLocal(filters.created_before)}
              />
            </p>
            <p>
              <label htmlFor={field('limit')}>Per page</label>
              <select id={field('limit')} name="limit" defaultValue={String(limit)}>
                {[...new Set([...PAGE_SIZES, limit])].map((size) => (
                  <option key={size}>{size}</option>
                ))}
              </select>
            </p>
          </div>
          <div className="toolbar">
            <button type="submit" className="primary">
              Apply filters
            </button>
            <button type="button" onClick={() => setParams(new URLSearchParams())}>
              Clear all
            </button>
          </div>
        </form>
      </details>

      {runs.error !== null && <ErrorView error={runs.error} title="Could not list runs" />}
      {runs.isPending && <Loading what="Loading runs" />}
      {runs.data !== undefined && (
        <>
          <div className="table-wrap">
            <table className="runs-table" aria-busy={runs.isFetching}>
              <caption className="muted">
                {data.length === 0
                  ? 'No runs match.'
                  : `Page ${cursors.length + 1}: ${data.length} run${data.length === 1 ? '' : 's'}, newest first`}
              </caption>
              <thead>
                {table.getHeaderGroups().map((group) => (
                  <tr key={group.id}>
                    {group.headers.map((header) => (
                      <th
                        key={header.id}
                        scope="col"
                        className={isNumeric(header.column.columnDef.meta) ? 'num' : undefined}
                      >
                        <table.FlexRender header={header} />
                      </th>
                    ))}
                  </tr>
                ))}
              </thead>
              <tbody>
                {table.getRowModel().rows.map((row) => (
                  <tr key={row.id}>
                    {row.getAllCells().map((cell) => (
                      <td key={cell.id} className={isNumeric(cell.column.columnDef.meta) ? 'num' : undefined}>
                        <table.FlexRender cell={cell} />
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="toolbar pager" aria-label="Pages">
            <button
              type="button"
              disabled={cursors.length === 0}
              onClick={() => update({ pages: cursors.slice(0, -1).join(',') })}
            >
              ← Previous
            </button>
            <span className="muted">Page {cursors.length + 1}</span>
            <button
              type="button"
              disabled={runs.data.next_cursor === null}
              onClick={() => update({ pages: [...cursors, runs.data.next_cursor ?? ''].join(',') })}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </Page>
  );
}

function isNumeric(meta: unknown): boolean {
  return typeof meta === 'object' && meta !== null && (meta as { numeric?: boolean }).numeric === true;
}
