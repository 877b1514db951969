/**
 * The playground: chat with any agent. A message starts a run (`POST /v1/runs`) in a session of
 * the playground's own, so follow-ups continue the conversation; the answer streams in from the
 * run's events (`text-delta`), and its trace grows beside it (steps as they start and end, then
 * the full trace from `GET /v1/runs/{id}/trace`). An approval the run asks for is shown inline
 * with Approve and Reject. `?agent=` and `?session=` open an existing session.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, ApiError, query } from '../api/client';
import { streamEvents } from '../api/event-stream';
import { useAuth } from '../auth';
import { ApprovalDecision } from '../components/ApprovalDecision';
import { ChatMarkdown } from '../components/ChatMarkdown';
import { ChatTurn } from '../components/ChatTurn';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import { TERMINAL, type AgentSummary, type Page as ListPage, type Run } from './chat-api';
import { TracePanel, type LiveStep } from './PlaygroundTrace';
import './chat.css';

/** An approval the run asked for while streaming. */
interface InlineApproval {
  id: string;
  tool: string;
  seq: number;
  decision: string | null;
}

/** One exchange of the conversation, as it streams. */
interface Exchange {
  run: Run;
  /** Text per model step (latest execution only), in step order. */
  texts: Map<number, { execution: number; text: string }>;
  steps: Map<number, LiveStep>;
  approvals: InlineApproval[];
  error?: unknown;
}

const newSessionId = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `playground-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
};

export default function Playground() {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [search, setSearch] = useSearchParams();
  const agentId = useId();
  const messageId = useId();
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: ({ signal }) => api<{ data: AgentSummary[] }>('/v1/agents', { signal }),
  });
  const sessionId = search.get('session');
  const agentName = search.get('agent') ?? agents.data?.data[0]?.name ?? '';
  const [exchanges, setExchanges] = useState<Exchange[]>([]);
  const [selected, setSelected] = useState<string>();
  const [text, setText] = useState('');
  const [sendError, setSendError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const streams = useRef(new Set<AbortController>());
  const endRef = useRef<HTMLDivElement>(null);

  // The earlier turns of a session opened by link (`?session=`), read once.
  const history = useQuery({
    queryKey: ['chat', 'session-runs-flat', sessionId],
    queryFn: ({ signal }) =>
      api<ListPage<Run>>(`/v1/runs${query({ session_id: sessionId, limit: 50 })}`, { signal }),
    enabled: sessionId !== null,
    staleTime: Infinity,
  });
  // Turns of this page are shown as they stream; the history shows only those before them.
  const streaming = new Set(exchanges.map((exchange) => exchange.run.id));
  const earlier = [...(history.data?.data ?? [])].filter((run) => !streaming.has(run.id)).reverse();

  useEffect(() => {
    const open = streams.current;
    return () => {
      for (const controller of open) controller.abort();
    };
  }, []);

  const update = useCallback((runId: string, change: (exchange: Exchange) => Exchange) => {
    setExchanges((current) =>
      current.map((exchange) => (exchange.run.id === runId ? change(exchange) : exchange)),
    );
  }, []);

  const follow = useCallback(
    async (runId: string) => {
      const controller = new AbortController();
      streams.current.add(controller);
      let lastEventId: string | undefined;
      try {
        for (let attempt = 0; attempt < 4 && !controller.signal.aborted; attempt++) {
          try {
            await streamEvents(`/v1/runs/${encodeURIComponent(runId)}/events`, {
              signal: controller.signal,
              ...(lastEventId === undefined ? {} : { lastEventId }),
              onEvent: (event) => {
                if (event.id !== undefined) lastEventId = event.id;
                let data: Record<string, unknown>;
                try {
                  data = JSON.parse(event.data) as Record<string, unknown>;
                } catch {
                  return;
                }
                update(runId, (exchange) => applyEvent(exchange, event.event, data));
              },
            });
            break;
          } catch (error) {
            if (controller.signal.aborted) return;
            // A refusal (4xx) will not get better; a dropped connection resumes where it left off.
            if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
          }
        }
        const ended = await api<Run>(`/v1/runs/${encodeURIComponent(runId)}`, { signal: controller.signal });
        update(runId, (exchange) => ({ ...exchange, run: ended }));
      } catch (error) {
        if (!controller.signal.aborted) update(runId, (exchange) => ({ ...exchange, error }));
      } finally {
        streams.current.delete(controller);
        await queryClient.invalidateQueries({ queryKey: ['chat'] });
      }
    },
    [queryClient, update],
  );

  const send = async () => {
    const message = text.trim();
    if (message === '' || agentName === '') return;
    setBusy(true);
    setSendError(undefined);
    const session = sessionId ?? newSessionId();
    try {
      const accepted = await api<{ id: string; status: Run['status'] }>('/v1/runs', {
        method: 'POST',
        body: { agent: agentName, input: message, session_id: session, trigger: 'playground' },
      });
      if (sessionId === null) {
        const next = new URLSearchParams(search);
        next.set('session', session);
        next.set('agent', agentName);
        setSearch(next, { replace: true });
      }
      const run: Run = {
        id: accepted.id,
        agent: agentName,
        status: accepted.status,
        stop_reason: null,
        input: message,
        output: null,
        error: null,
        session_id: session,
        user_id: null,
        trigger: 'playground',
        prompt_version: null,
        attempts: 0,
        usage: { input_tokens: 0, output_tokens: 0 },
        cost_usd: 0,
        step_count: 0,
        created_at: new Date().toISOString(),
        started_at: null,
        ended_at: null,
      };
      setExchanges((current) => [...current, { run, texts: new Map(), steps: new Map(), approvals: [] }]);
      setSelected(accepted.id);
      setText('');
      void follow(accepted.id);
    } catch (error) {
      setSendError(error);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    endRef.current?.scrollIntoView({ block: 'nearest' });
  }, [exchanges]);

  const current =
    exchanges.find((exchange) => exchange.run.id === selected) ?? exchanges[exchanges.length - 1];
  const traceRunId = current?.run.id ?? earlier[earlier.length - 1]?.id;
  const answering = exchanges.some((exchange) => !TERMINAL.has(exchange.run.status));

  return (
    <Page title="Playground">
      {agents.isError && <ErrorView error={agents.error} title="Could not load the agents" />}
      {agents.isPending && <Loading what="Loading agents" />}
      <div className="toolbar">
        <label htmlFor={agentId}>Agent</label>
        <select
          id={agentId}
          value={agentName}
          disabled={sessionId !== null}
          onChange={(event) => {
            const next = new URLSearchParams(search);
            next.set('agent', event.target.value);
            setSearch(next, { replace: true });
          }}
        >
          {agents.data?.data.map((agent) => (
            <option key={agent.name} value={agent.name}>
              {agent.name}
            </option>
          ))}
        </select>
        {sessionId !== null && (
          <>
            <span className="muted">
              Session <Link to={`/sessions/${encodeURIComponent(sessionId)}`}>{sessionId}</Link>
            </span>
            <button
              type="button"
              onClick={() => {
                setExchanges([]);
                setSelected(undefined);
                setSearch(new URLSearchParams({ agent: agentName }), { replace: true });
              }}
            >
              New conversation
            </button>
          </>
        )}
      </div>
      <div className="playground">
        <section className="chat-column" aria-labelledby="chat-heading">
          <h2 id="chat-heading">Conversation</h2>
          {history.isError && <ErrorView error={history.error} title="Could not load the session" />}
          {earlier.length === 0 && exchanges.length === 0 && (
            <p className="muted">
              Ask the agent something, for example “3 days in Lisbon in May”. Follow-ups continue the same
              session.
            </p>
          )}
          <ol className="conversation" aria-busy={answering}>
            {earlier.map((run) => (
              <ChatTurn key={run.id} run={run} />
            ))}
            {exchanges.map((exchange) => (
              <ChatTurn key={exchange.run.id} run={exchange.run} streamed={streamedAnswer(exchange)}>
                {exchange.approvals.map((approval) => (
                  <InlineApprovalBox key={approval.id} approval={approval} />
                ))}
                {exchange.error !== undefined && (
                  <ErrorView error={exchange.error} title="Lost the run's events" />
                )}
                {exchanges.length > 1 && exchange !== current && (
                  <button type="button" className="link-button" onClick={() => setSelected(exchange.run.id)}>
                    Show this run's trace
                  </button>
                )}
              </ChatTurn>
            ))}
          </ol>
          <div ref={endRef} />
          {/* Announced once per change, not the streamed text itself (a long answer would be read again and again). */}
          <p className="visually-hidden" role="status" aria-live="polite">
            {exchanges.length === 0 ? '' : answering ? 'The agent is answering.' : 'The answer is complete.'}
          </p>
          {can('writeRuns') ? (
            <form
              className="composer"
              onSubmit={(event) => {
                event.preventDefault();
                void send();
              }}
            >
              <label htmlFor={messageId}>Message</label>
              <textarea
                id={messageId}
                rows={3}
                value={text}
                placeholder="3 days in Lisbon in May"
                onChange={(event) => setText(event.target.value)}
                onKeyDown={(event) => {
                  if (event.key === 'Enter' && !event.shiftKey) {
                    event.preventDefault();
                    event.currentTarget.form?.requestSubmit();
                  }
                }}
              />
              <button
                type="submit"
                className="primary"
                disabled={busy || text.trim() === '' || agentName === ''}
              >
                {sessionId === null ? 'Send' : 'Send follow-up'}
              </button>
              {sendError !== undefined && <ErrorView error={sendError} title="Not sent" />}
            </form>
          ) : (
            <p className="muted">Chatting needs a key with runs:write.</p>
          )}
        </section>
        <TracePanel
          runId={traceRunId}
          live={current?.steps}
          ended={current === undefined || TERMINAL.has(current.run.status)}
        />
      </div>
    </Page>
  );
}

/** The streamed text: earlier model steps (what the agent said it would do) muted, the last as the answer. */
function streamedAnswer(exchange: Exchange) {
  const texts = [...exchange.texts.entries()]
    .sort(([left], [right]) => left - right)
    .map(([, value]) => value.text);
  if (texts.length === 0) return undefined;
  const last = texts[texts.length - 1]!;
  return (
    <>
      {texts.slice(0, -1).map((text, index) => (
        <span key={index} className="interim">
          {text}
        </span>
      ))}
      <ChatMarkdown text={last} />
    </>
  );
}

/** Folds one server-sent event into an exchange. */
function applyEvent(exchange: Exchange, event: string, data: Record<string, unknown>): Exchange {
  const seq = typeof data.seq === 'number' ? data.seq : -1;
  if (event === 'text-delta' && typeof data.text === 'string') {
    const execution = typeof data.execution === 'number' ? data.execution : 0;
    const texts = new Map(exchange.texts);
    const known = texts.get(seq);
    // A new execution of the step (a retry, a resume) starts its text over.
    if (known === undefined || (execution !== 0 && execution > known.execution))
      texts.set(seq, { execution, text: data.text });
    else if (execution === known.execution) texts.set(seq, { execution, text: known.text + data.text });
    else if (execution === 0) texts.set(seq, { execution: known.execution, text: data.text });
    return { ...exchange, texts, run: { ...exchange.run, status: 'running' } };
  }
  if (event === 'step-start' || event === 'step-end') {
    const steps = new Map(exchange.steps);
    steps.set(seq, {
      seq,
      kind: String(data.kind ?? ''),
      name: String(data.name ?? ''),
      status: String(data.status ?? ''),
      started_at: String(data.started_at ?? ''),
      ended_at: typeof data.ended_at === 'string' ? data.ended_at : null,
      cost_usd: typeof data.cost_usd === 'number' ? data.cost_usd : null,
      error_code: typeof data.error_code === 'string' ? data.error_code : null,
    });
    const run: Run = exchange.run.status === 'queued' ? { ...exchange.run, status: 'running' } : exchange.run;
    return { ...exchange, steps, run };
  }
  if (event === 'approval-request') {
    const steps = new Map(exchange.steps);
    steps.set(seq, {
      seq,
      kind: 'approval',
      name: String(data.tool ?? ''),
      status: 'started',
      started_at: String(data.requested_at ?? ''),
      ended_at: null,
      cost_usd: null,
      error_code: null,
    });
    const approvals =
      typeof data.approval_id === 'string' &&
      !exchange.approvals.some((known) => known.id === data.approval_id)
        ? [
            ...exchange.approvals,
            { id: data.approval_id, tool: String(data.tool ?? ''), seq, decision: null },
          ]
        : exchange.approvals;
    return { ...exchange, steps, approvals, run: { ...exchange.run, status: 'awaiting_approval' } };
  }
  if (event === 'approval-decision') {
    const steps = new Map(exchange.steps);
    const known = steps.get(seq);
    if (known !== undefined)
      steps.set(seq, { ...known, status: 'completed', ended_at: String(data.decided_at ?? '') });
    const decision = typeof data.decision === 'string' ? data.decision : 'decided';
    return {
      ...exchange,
      steps,
      approvals: exchange.approvals.map((approval) =>
        approval.seq === seq ? { ...approval, decision } : approval,
      ),
      run: { ...exchange.run, status: 'running' },
    };
  }
  if (event === 'run-end') {
    const status = String(data.status ?? '') as Run['status'];
    return {
      ...exchange,
      run: {
        ...exchange.run,
        status: TERMINAL.has(status) ? status : exchange.run.status,
        stop_reason: typeof data.stop_reason === 'string' ? data.stop_reason : null,
        cost_usd: typeof data.cost_usd === 'number' ? data.cost_usd : exchange.run.cost_usd,
      },
    };
  }
  return exchange;
}

/** An approval asked for mid-run: its arguments (for keys that may read approvals) and the decision buttons. */
function InlineApprovalBox({ approval }: { approval: InlineApproval }) {
  const { can } = useAuth();
  const details = useQuery({
    queryKey: ['approvals', 'one', approval.id],
    queryFn: ({ signal }) =>
      api<{ arguments: unknown; status: string }>(`/v1/approvals/${encodeURIComponent(approval.id)}`, {
        signal,
      }),
    enabled: can('decideApprovals'),
  });
  const decided =
    approval.decision ?? (details.data?.status === 'pending' ? null : (details.data?.status ?? null));
  return (
    <div className="inline-approval" role="group" aria-label={`Approval for ${approval.tool}`}>
      <p>
        <strong>
          {approval.tool.startsWith('budget:') ? (
            <>
              The run is out of budget <code>{approval.tool.slice('budget:'.length)}</code>
            </>
          ) : (
            <>
              The agent wants to call <code>{approval.tool}</code>
            </>
          )}
        </strong>
        {decided === null ? ' and waits for a decision.' : `: ${decided}.`}
      </p>
      {details.data !== undefined && <pre>{JSON.stringify(details.data.arguments, null, 2)}</pre>}
      {decided === null &&
        (can('decideApprovals') ? (
          <ApprovalDecision
            approvalId={approval.id}
            kind={approval.tool.startsWith('budget:') ? 'budget_extension' : 'tool'}
            tool={approval.tool}
            onDecided={() => void details.refetch()}
          />
        ) : (
          <p className="muted">
            A key with the approvals scope decides it in <Link to="/approvals">Approvals</Link>.
          </p>
        ))}
    </div>
  );
}
