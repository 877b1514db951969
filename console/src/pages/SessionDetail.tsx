/**
 * One session as a conversation: each run's input as the user's message and its answer as the
 * agent's (or why it has none: failed, cancelled, still running), oldest first, each with a link
 * to its run. Older turns load on demand (server pages). A key that may submit runs continues
 * the conversation from here, or in the playground where the answer streams in.
 */
import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, query } from '../api/client';
import { useAuth } from '../auth';
import { ErrorView } from '../components/ErrorView';
import { ChatTurn } from '../components/ChatTurn';
import { ago, time } from '../components/format';
import { Loading, Page } from '../components/Page';
import type { Page as ListPage, Run } from './chat-api';
import './chat.css';

const PAGE_SIZE = 20;

interface Session {
  id: string;
  run_count: number;
  created_at: string;
  last_run_at: string;
  active_run_id: string | null;
}

export default function SessionDetail() {
  const { id = '' } = useParams();
  const session = useQuery({
    queryKey: ['chat', 'session', id],
    queryFn: ({ signal }) => api<Session>(`/v1/sessions/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: (current) => (current.state.data?.active_run_id ? 2_000 : false),
  });
  const active = session.data?.active_run_id != null;
  const runs = useInfiniteQuery({
    queryKey: ['chat', 'session-runs', id],
    queryFn: ({ pageParam, signal }) =>
      api<ListPage<Run>>(`/v1/runs${query({ session_id: id, limit: PAGE_SIZE, cursor: pageParam })}`, {
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: session.isSuccess,
    refetchInterval: active ? 2_000 : false,
  });
  // Pages come newest first: the conversation reads oldest first.
  const turns = [...(runs.data?.pages.flatMap((page) => page.data) ?? [])].reverse();
  const latest = turns[turns.length - 1];
  return (
    <Page
      title={`Session ${id}`}
      actions={
        latest !== undefined && (
          <Link className="button-link" to={`/playground${query({ session: id, agent: latest.agent })}`}>
            Continue in the playground
          </Link>
        )
      }
    >
      {session.isPending && <Loading what="Loading the session" />}
      {session.isError && <ErrorView error={session.error} title="Could not load the session" />}
      {session.isSuccess && (
        <p className="muted">
          {session.data.run_count} run{session.data.run_count === 1 ? '' : 's'} · started{' '}
          {time(session.data.created_at)} · last message {ago(session.data.last_run_at)}
          {active && ' · answering now'}
        </p>
      )}
      {runs.isError && <ErrorView error={runs.error} title="Could not load the conversation" />}
      {runs.hasNextPage && (
        <button type="button" onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>
          {runs.isFetchingNextPage ? 'Loading…' : 'Earlier messages'}
        </button>
      )}
      {turns.length > 0 && (
        <section aria-labelledby="conversation-heading">
          <h2 id="conversation-heading" className="visually-hidden">
            Conversation
          </h2>
          <ol className="conversation">
            {turns.map((run) => (
              <ChatTurn key={run.id} run={run} />
            ))}
          </ol>
        </section>
      )}
      {latest !== undefined && (
        <FollowUp sessionId={id} agent={latest.agent} onSent={() => void session.refetch()} />
      )}
    </Page>
  );
}

/** Sends a follow-up message to the session (a new run of the same agent and session id). */
function FollowUp({ sessionId, agent, onSent }: { sessionId: string; agent: string; onSent(): void }) {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const inputId = useId();
  if (!can('writeRuns')) return null;
  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        if (text.trim() === '') return;
        setBusy(true);
        setError(undefined);
        api('/v1/runs', { method: 'POST', body: { agent, input: text.trim(), session_id: sessionId } })
          .then(async () => {
            setText('');
            await queryClient.invalidateQueries({ queryKey: ['chat', 'session-runs', sessionId] });
            onSent();
          }, setError)
          .finally(() => setBusy(false));
      }}
    >
      <label htmlFor={inputId}>Message {agent}</label>
      <textarea
        id={inputId}
        rows={2}
        value={text}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault();
            event.currentTarget.form?.requestSubmit();
          }
        }}
      />
      <button type="submit" className="primary" disabled={busy || text.trim() === ''}>
        Send
      </button>
      {error !== undefined && <ErrorView error={error} title="Not sent" />}
    </form>
  );
}
