/**
 * The audit log (`GET /v1/audit`), newest first, in server-side pages (cursor), filtered by action
 * (`prompt.pin`, or `prompt.*`) and actor. Every change made on this page shows up here.
 */
import { useInfiniteQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { api, query } from '../../api/client';
import { ErrorView } from '../ErrorView';
import { Loading } from '../Page';
import { time } from '../format';
import type { AuditEntry } from './types';

const PAGE_SIZE = 25;
const ACTIONS = [
  'control.*',
  'agent.*',
  'budget.*',
  'prompt.*',
  'breaker.trip',
  'api_key.*',
  'approval.decide',
  'tool.*',
  'user.erase',
];

/** A short account of what changed (before → after, details), for the table. */
function summary(entry: AuditEntry): string {
  const parts: string[] = [];
  const show = (value: unknown) => (value === null || value === undefined ? '' : JSON.stringify(value));
  if (entry.before !== null && entry.before !== undefined) parts.push(`before ${show(entry.before)}`);
  if (entry.after !== null && entry.after !== undefined) parts.push(`after ${show(entry.after)}`);
  if (entry.details !== null && entry.details !== undefined) parts.push(show(entry.details));
  const text = parts.join(' · ');
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

export function AuditLog() {
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [filter, setFilter] = useState({ action: '', actor: '' });
  const id = useId();
  const pages = useInfiniteQuery({
    queryKey: ['audit', filter],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam, signal }) =>
      api<{ data: AuditEntry[]; next_cursor: string | null }>(
        `/v1/audit${query({ action: filter.action, actor: filter.actor, limit: PAGE_SIZE, cursor: pageParam })}`,
        { signal },
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const entries = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const failure: unknown = pages.error;
  return (
    <section aria-labelledby="audit">
      <h2 id="audit">Audit log</h2>
      <form
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ action: action.trim(), actor: actor.trim() });
        }}
      >
        <label htmlFor={`${id}-action`}>Action</label>
        <input
          id={`${id}-action`}
          list={`${id}-actions`}
          value={action}
          placeholder="e.g. prompt.*"
          onChange={(event) => setAction(event.target.value)}
        />
        <datalist id={`${id}-actions`}>
          {ACTIONS.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
        <label htmlFor={`${id}-actor`}>Actor</label>
        <input
          id={`${id}-actor`}
          value={actor}
          placeholder="e.g. key:…"
          onChange={(event) => setActor(event.target.value)}
        />
        <button type="submit">Filter</button>
      </form>
      {pages.isPending ? (
        <Loading what="Loading the audit log" />
      ) : pages.isError ? (
        <ErrorView error={pages.error} title="The audit log could not be read" />
      ) : entries.length === 0 ? (
        <p className="muted">No entry{filter.action || filter.actor ? ' matches the filter' : ''}.</p>
      ) : (
        <>
          <div className="table-wrap" tabIndex={0}>
            <table className="audit-table">
              <caption className="visually-hidden">Audit log, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">At</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Change</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((entry) => (
                  <tr key={entry.id}>
                    <td>{time(entry.at)}</td>
                    <td>
                      <code>{entry.action}</code>
                    </td>
                    <td>
                      <code>{entry.target}</code>
                    </td>
                    <td>
                      <code>{entry.actor}</code>
                    </td>
                    <td className="audit-change">{summary(entry)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {pages.hasNextPage && (
            <button
              type="button"
              disabled={pages.isFetchingNextPage}
              onClick={() => void pages.fetchNextPage()}
            >
              {pages.isFetchingNextPage ? 'Loading…' : 'Older entries'}
            </button>
          )}
          {pages.isFetchNextPageError && (
            <ErrorView error={failure} title="The next page could not be read" />
          )}
        </>
      )}
    </section>
  );
}
