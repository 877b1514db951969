/**
 * Run detail: who ran what and how it ended (header), the steps as a tree with tokens, cost and
 * latency per step, the selected step's decision envelope and payload, the run's feedback, and
 * the actions the key may take. While the run is live the page follows its events
 * (`GET /v1/runs/{id}/events`): streamed text shows as it comes, and the trace is read again on
 * each step and at the end.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import { streamEvents } from '../api/event-stream';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import { count, ms, time, usd } from '../components/format';
import { FeedbackForm, RunActions } from './run-actions';
import { RunTree } from './run-tree';
import { preview, StatusBadge, TERMINAL, type Run, type Trace } from './runs-api';
import { StepDetail } from './step-detail';
import './run-detail.css';

interface Feedback {
  id: string;
  thumbs: 'up' | 'down' | null;
  score: number | null;
  comment: string | null;
  created_by: string;
  created_at: string;
}

export default function RunDetail() {
  const { id = '' } = useParams();
  const path = `/v1/runs/${encodeURIComponent(id)}`;
  const queries = useQueryClient();
  const [selected, setSelected] = useState<number>();
  const [streamed, setStreamed] = useState<ReadonlyMap<number, string>>(new Map());
  const [live, setLive] = useState<'off' | 'following' | 'lost'>('off');
  const [pending, setPending] = useState<string>();

  const run = useQuery({ queryKey: ['run', id], queryFn: ({ signal }) => api<Run>(path, { signal }) });
  const trace = useQuery({
    queryKey: ['run', id, 'trace'],
    queryFn: ({ signal }) => api<Trace>(`${path}/trace`, { signal }),
  });
  const feedback = useQuery({
    queryKey: ['run', id, 'feedback'],
    queryFn: ({ signal }) => api<{ data: Feedback[] }>(`${path}/feedback`, { signal }),
  });
  const refresh = () => void queries.invalidateQueries({ queryKey: ['run', id] });

  // Follow the run while it is live. Trace reads are coalesced: at most one per 250 ms.
  const status = run.data?.status;
  const isLive = status !== undefined && !TERMINAL.has(status);
  const refetchTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => {
    if (!isLive) return;
    const controller = new AbortController();
    const executions = new Map<number, number>();
    const scheduleTrace = () => {
      if (refetchTimer.current !== undefined) return;
      refetchTimer.current = setTimeout(() => {
        refetchTimer.current = undefined;
        void queries.invalidateQueries({ queryKey: ['run', id, 'trace'] });
      }, 250);
    };
    setLive('following');
    streamEvents(`${path}/events`, {
      signal: controller.signal,
      onEvent({ event, data }) {
        const body = JSON.parse(data) as {
          seq?: number;
          execution?: number;
          text?: string;
          tool?: string;
        };
        if (event === 'text-delta' && body.seq !== undefined && body.text !== undefined) {
          const { seq, text } = body;
          const execution = body.execution ?? 0;
          const fresh = executions.get(seq) !== execution;
          executions.set(seq, execution);
          setStreamed((before) => new Map(before).set(seq, (fresh ? '' : (before.get(seq) ?? '')) + text));
        } else if (event === 'approval-request') {
          setPending(body.tool ?? 'a tool');
          scheduleTrace();
          void queries.invalidateQueries({ queryKey: ['run', id], exact: true });
        } else if (event === 'run-end') {
          setPending(undefined);
          refresh();
        } else if (event.startsWith('step-') || event === 'approval-decision') {
          if (event === 'approval-decision') setPending(undefined);
          scheduleTrace();
        }
      },
    })
      .then(() => {
        if (!controller.signal.aborted) {
          setLive('off');
          refresh();
        }
      })
      .catch(() => {
        if (!controller.signal.aborted) setLive('lost');
      });
    return () => {
      controller.abort();
      clearTimeout(refetchTimer.current);
      refetchTimer.current = undefined;
      setLive('off');
    };
    // `refresh` and `queries` are stable for a given id.
  }, [isLive, id, path]);

  if (run.error !== null) {
    return (
      <Page title={`Run ${id}`}>
        <ErrorView error={run.error} title="Could not read the run" />
        <p>
          <Link to="/runs">Back to runs</Link>
        </p>
      </Page>
    );
  }
  if (run.data === undefined) return <Loading what="Loading the run" />;
  const current = run.data;
  const waitingFor = pending ?? (current.status === 'awaiting_approval' ? 'a tool call' : undefined);
  const totals = trace.data;
  const duration =
    totals?.duration_ms ??
    (current.started_at !== null && current.ended_at !== null
      ? new Date(current.ended_at).getTime() - new Date(current.started_at).getTime()
      : null);

  return (
    <Page title={`Run ${current.id}`} actions={<RunActions run={current} onChanged={refresh} />}>
      <p className="breadcrumb">
        <Link to="/runs">← Runs</Link>
        {live === 'following' && (
          <span className="badge warn live" role="status">
            live
          </span>
        )}
        {live === 'lost' && (
          <span className="badge bad" role="status">
            live updates lost: reload to resume
          </span>
        )}
      </p>
      <dl className="run-header">
        <div>
          <dt>Agent</dt>
          <dd>{current.agent}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={current.status} />
          </dd>
        </div>
        <div>
          <dt>Stop reason</dt>
          <dd>{current.stop_reason ?? '–'}</dd>
        </div>
        <div>
          <dt>Outcome</dt>
          <dd>{current.outcome?.status ?? 'speculative'}</dd>
        </div>
        <div>
          <dt>User</dt>
          <dd>{current.user_id ?? '–'}</dd>
        </div>
        <div>
          <dt>Session</dt>
          <dd>
            {current.session_id === null ? (
              '–'
            ) : (
              <Link to={`/sessions/${encodeURIComponent(current.session_id)}`}>
                Open session {current.session_id}
              </Link>
            )}
          </dd>
        </div>
        <div>
          <dt>Prompt version</dt>
          <dd>
            <code>{current.prompt_version ?? '–'}</code>
          </dd>
        </div>
        <div>
          <dt>Tokens in / out</dt>
          <dd>
            {count(totals?.total_tokens_in ?? current.usage.input_tokens)} /{' '}
            {count(totals?.total_tokens_out ?? current.usage.output_tokens)}
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{usd(totals?.total_cost_usd ?? current.cost_usd)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{ms(duration)}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <time dateTime={current.created_at}>{time(current.created_at)}</time>
          </dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd>{current.trigger ?? '–'}</dd>
        </div>
      </dl>
      {waitingFor !== undefined && (
        <p className="notice" role="status">
          Waiting for an approval of <code>{waitingFor}</code>: decide it in{' '}
          <Link to="/approvals">Approvals</Link>.
        </p>
      )}
      {current.error !== null && (
        <ErrorView
          error={new Error(current.error.message ?? '')}
          title={`Run error ${current.error.code ?? ''}`}
        />
      )}

      <section aria-labelledby="io-heading" className="run-io">
        <h2 id="io-heading">Input and output</h2>
        <div className="io-grid">
          <div>
            <h3>Input</h3>
            <pre tabIndex={0}>
              {typeof current.input === 'string' ? current.input : JSON.stringify(current.input, null, 2)}
            </pre>
          </div>
          <div>
            <h3>Output</h3>
            {current.output === null || current.output === undefined ? (
              <p className="muted">{isLive ? 'Not yet.' : 'None.'}</p>
            ) : (
              <pre tabIndex={0} title={preview(current.output, 200)}>
                {typeof current.output === 'string'
                  ? current.output
                  : JSON.stringify(current.output, null, 2)}
              </pre>
            )}
          </div>
        </div>
      </section>

      <div className="run-body">
        <section aria-labelledby="steps-heading" className="run-steps">
          <h2 id="steps-heading">Steps</h2>
          {trace.error !== null && <ErrorView error={trace.error} title="Could not read the trace" />}
          {trace.data === undefined ? (
            trace.error === null && <Loading what="Loading the trace" />
          ) : (
            <RunTree
              steps={trace.data.steps}
              selected={selected}
              onSelect={setSelected}
              streamed={streamed}
            />
          )}
        </section>
        <section aria-labelledby="detail-heading" className="run-step-detail">
          <h2 id="detail-heading">Selected step</h2>
          {selected === undefined ? (
            <p className="muted">Select a step to see its decision and payload.</p>
          ) : (
            <StepDetail
              runId={current.id}
              seq={selected}
              refreshKey={String(trace.data?.steps.find((step) => step.seq === selected)?.ok ?? 'open')}
            />
          )}
        </section>
      </div>

      <section aria-labelledby="feedback-heading" className="run-feedback">
        <h2 id="feedback-heading">Feedback</h2>
        {feedback.error !== null && <ErrorView error={feedback.error} title="Could not read feedback" />}
        {feedback.data !== undefined &&
          (feedback.data.data.length === 0 ? (
            <p className="muted">None yet.</p>
          ) : (
            <ul className="feedback-list">
              {feedback.data.data.map((item) => (
                <li key={item.id}>
                  {item.thumbs !== null && (
                    <span className={`badge ${item.thumbs === 'up' ? 'ok' : 'bad'}`}>
                      thumbs {item.thumbs}
                    </span>
                  )}{' '}
                  {item.score !== null && <span>score {item.score} </span>}
                  {item.comment !== null && <q>{item.comment}</q>}{' '}
                  <span className="muted">
                    {item.created_by}, {time(item.created_at)}
                  </span>
                </li>
              ))}
            </ul>
          ))}
        <FeedbackForm runId={current.id} onSent={refresh} />
      </section>
    </Page>
  );
}
