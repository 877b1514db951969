/**
 * Sessions: the tenant's conversations (runs sharing a session id), latest activity first, with
 * their first message, agent, number of runs and how many are still going, in server pages.
 */
import { useInfiniteQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, query } from '../api/client';
import { ErrorView } from '../components/ErrorView';
import { ago, count, time } from '../components/format';
import { Loading, Page } from '../components/Page';
import type { Page as ListPage, SessionSummary } from './chat-api';
import './chat.css';

const PAGE_SIZE = 25;

export default function Sessions() {
  const sessions = useInfiniteQuery({
    queryKey: ['chat', 'sessions'],
    queryFn: ({ pageParam, signal }) =>
      api<ListPage<SessionSummary>>(`/v1/sessions${query({ limit: PAGE_SIZE, cursor: pageParam })}`, {
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: 10_000,
  });
  const items = sessions.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <Page
      title="Sessions"
      actions={
        <Link className="button-link" to="/playground">
          New conversation
        </Link>
      }
    >
      {sessions.isPending && <Loading what="Loading sessions" />}
      {sessions.isError && <ErrorView error={sessions.error} title="Could not load sessions" />}
      {sessions.isSuccess && items.length === 0 && (
        <p className="muted">
          No sessions yet. A run submitted with a <code>session_id</code> starts one; so does a chat in the{' '}
          <Link to="/playground">playground</Link>.
        </p>
      )}
      {items.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Sessions, latest activity first</caption>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">First message</th>
                <th scope="col">Agent</th>
                <th scope="col" className="num">
                  Runs
                </th>
                <th scope="col">Last activity</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {items.map((session) => (
                <tr key={session.id}>
                  <td>
                    <Link to={`/sessions/${encodeURIComponent(session.id)}`}>{session.id}</Link>
                  </td>
                  <td className="session-preview">{session.first_message}</td>
                  <td>{session.agent}</td>
                  <td className="num">
                    {count(session.run_count)}
                    {session.active_run_count > 0 && (
                      <>
                        {' '}
                        <span className="badge warn">{session.active_run_count} active</span>
                      </>
                    )}
                  </td>
                  <td title={time(session.last_run_at)}>{ago(session.last_run_at)}</td>
                  <td>{time(session.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {sessions.hasNextPage && (
        <p>
          <button
            type="button"
            onClick={() => void sessions.fetchNextPage()}
            disabled={sessions.isFetchingNextPage}
          >
            {sessions.isFetchingNextPage ? 'Loading…' : 'Older sessions'}
          </button>
        </p>
      )}
    </Page>
  );
}
