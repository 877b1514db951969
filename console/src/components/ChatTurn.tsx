/**
 * One run of a conversation as two messages: the user's (the run's input), then the agent's
 * answer (its output, or the text streamed so far), or why it has none (failed, cancelled,
 * waiting for an approval, still running), with a link to the run.
 */
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { TERMINAL, messageText, statusTone, type Run } from '../pages/chat-api';
import { ChatMarkdown } from './ChatMarkdown';
import { usd } from './format';

export function ChatTurn({
  run,
  streamed,
  children,
}: {
  run: Run;
  streamed?: ReactNode;
  children?: ReactNode;
}) {
  const ended = TERMINAL.has(run.status);
  const answer: ReactNode =
    run.status === 'completed' ? <ChatMarkdown text={messageText(run.output)} /> : (streamed ?? '');
  return (
    <>
      <li className="message user">
        <span className="speaker">You</span>
        <div className="bubble">{messageText(run.input)}</div>
      </li>
      <li className="message agent">
        <span className="speaker">
          {run.agent}{' '}
          <Link to={`/runs/${encodeURIComponent(run.id)}`} aria-label={`Run ${run.id}`}>
            run
          </Link>{' '}
          <span className={`badge ${statusTone(run.status)}`}>{run.status}</span>
          {ended && <span className="muted"> {usd(run.cost_usd)}</span>}
        </span>
        <div className="bubble">
          {answer !== '' ? (
            answer
          ) : run.status === 'failed' ? (
            <span className="error-inline">
              Failed{run.error ? `: ${run.error.code} — ${run.error.message}` : ''}
            </span>
          ) : run.status === 'cancelled' ? (
            <span className="muted">
              Cancelled{run.stop_reason ? ` (${run.stop_reason})` : ''}: no answer.
            </span>
          ) : run.status === 'awaiting_approval' ? (
            <span className="muted">
              Waiting for an approval: see <Link to="/approvals">Approvals</Link>.
            </span>
          ) : (
            <span className="muted">Answering…</span>
          )}
        </div>
        {children}
      </li>
    </>
  );
}
