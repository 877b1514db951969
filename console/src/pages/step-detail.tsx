/**
 * One step of a run (`GET /v1/runs/{id}/steps/{seq}`): a model step's decision envelope (prompt
 * version, model, deployment, tools offered, the calls it chose with their arguments, finish
 * reason, stated reason, guard verdicts) and the step's payload for keys that may read payloads.
 */
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useAuth } from '../auth';
import { ErrorView } from '../components/ErrorView';
import { Loading } from '../components/Page';
import type { StepDetail as Step } from './runs-api';

export function StepDetail({ runId, seq, refreshKey }: { runId: string; seq: number; refreshKey: string }) {
  const { can } = useAuth();
  const step = useQuery({
    queryKey: ['run', runId, 'step', seq, refreshKey],
    queryFn: ({ signal }) => api<Step>(`/v1/runs/${encodeURIComponent(runId)}/steps/${seq}`, { signal }),
  });
  if (step.error !== null) return <ErrorView error={step.error} title={`Could not read step ${seq}`} />;
  if (step.data === undefined) return <Loading what={`Loading step ${seq}`} />;
  const { envelope } = step.data;
  return (
    <div className="step-detail">
      <h3>
        Step {step.data.seq}: {step.data.kind} <code>{step.data.name}</code> ({step.data.status})
      </h3>
      {step.data.error !== null && (
        <p className="error">
          <code className="error-code">{step.data.error.code}</code> {step.data.error.message}
        </p>
      )}
      {envelope !== null && (
        <section aria-label="Decision envelope">
          <h3>Decision envelope</h3>
          <dl className="facts">
            <dt>Prompt version</dt>
            <dd>
              <code>{envelope.prompt_version ?? '–'}</code>
            </dd>
            <dt>Model</dt>
            <dd>
              {envelope.provider ?? '–'} / {envelope.model ?? '–'}
            </dd>
            <dt>Deployment</dt>
            <dd>{envelope.deployment ?? (envelope.cached ? 'response cache' : 'direct (no gateway)')}</dd>
            <dt>Finish reason</dt>
            <dd>{envelope.finish_reason ?? '–'}</dd>
            <dt>Tools offered</dt>
            <dd>{envelope.tools_offered.length === 0 ? 'none' : envelope.tools_offered.join(', ')}</dd>
          </dl>
          <h4>Tool calls chosen</h4>
          {envelope.tool_calls.length === 0 ? (
            <p className="muted">None: the model answered.</p>
          ) : (
            <ul className="tool-calls">
              {envelope.tool_calls.map((call) => (
                <li key={call.id}>
                  <code>{call.name}</code>{' '}
                  {call.arguments === null ? (
                    <span className="muted">(arguments are payload)</span>
                  ) : (
                    <code className="arguments">{JSON.stringify(call.arguments)}</code>
                  )}
                </li>
              ))}
            </ul>
          )}
          {envelope.stated_reason !== null && (
            <>
              <h4>Stated reason</h4>
              <p>{envelope.stated_reason}</p>
            </>
          )}
          {envelope.guards.length > 0 && (
            <>
              <h4>Guard verdicts</h4>
              <ul>
                {envelope.guards.map((guard) => (
                  <li key={guard.seq}>
                    <code>{guard.guard}</code> on step {guard.guarded_seq ?? '–'} ({guard.stage}):{' '}
                    <strong>{guard.action}</strong>
                    {guard.reason !== null && ` – ${guard.reason}`}
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
      <h4>Payload</h4>
      {'payload' in step.data ? (
        <pre className="payload" tabIndex={0} aria-label={`Payload of step ${step.data.seq}`}>
          {JSON.stringify(step.data.payload, null, 2)}
        </pre>
      ) : (
        <p className="muted payload-hidden">
          {can('readPayloads')
            ? 'No payload.'
            : 'Hidden: reading payloads (model answers, tool results) needs the runs:read_payloads scope.'}
        </p>
      )}
    </div>
  );
}
