/**
 * One eval (`GET /v1/evals/{id}`): its figures (pass rate, counts, pass@k and pass^k, cost with
 * the judge's apart, latency) and its cases in suite order, each trial with its verdict, score,
 * every scorer's reason, and a link to the run it executed. Read again while the eval runs.
 */
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, query } from '../api/client';
import { evalTone, type Eval, type EvalCase } from '../api/types';
import { ErrorView } from '../components/ErrorView';
import { count, ms, percent, time, usd } from '../components/format';
import { Loading, Page } from '../components/Page';
import './run-detail.css';
import './evals.css';

export default function EvalDetail() {
  const { id = '' } = useParams();
  const found = useQuery({
    queryKey: ['evals', 'detail', id],
    queryFn: ({ signal }) => api<Eval>(`/v1/evals/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: (current) => (current.state.data?.status === 'running' ? 2_000 : false),
  });
  if (found.isPending) return <Loading what="Loading the eval" />;
  if (found.isError)
    return (
      <Page title={`Eval ${id}`}>
        <ErrorView error={found.error} title="Could not load the eval" />
        <p>
          <Link to="/evals">All evals</Link>
        </p>
      </Page>
    );
  const view = found.data;
  const minPassRate = typeof view.options.min_pass_rate === 'number' ? view.options.min_pass_rate : undefined;
  return (
    <Page title={`Eval ${view.suite}`}>
      <p>
        <Link to="/evals">All evals</Link> · <code>{view.id}</code>
      </p>
      <dl className="run-header">
        <div>
          <dt>Status</dt>
          <dd>
            <span className={`badge ${evalTone(view.status)}`}>{view.status}</span>
          </dd>
        </div>
        <div>
          <dt>Pass rate</dt>
          <dd>
            {view.total === 0 ? '–' : percent(view.pass_rate)}
            {minPassRate !== undefined && <span className="muted"> (gate {percent(minPassRate, 0)})</span>}
          </dd>
        </div>
        <div>
          <dt>Passed / failed / errored</dt>
          <dd>
            {view.passed} / {view.failed} / {view.errored}{' '}
            <span className="muted">
              of {count(view.case_count)} {view.case_count === 1 ? 'case' : 'cases'}
              {view.trials > 1 && `, ${view.trials} trials each`}
            </span>
          </dd>
        </div>
        {view.k > 1 && (
          <div>
            <dt>
              pass@{view.k} / pass^{view.k}
            </dt>
            <dd>
              {percent(view.pass_at_k)} / {percent(view.pass_hat_k)}
            </dd>
          </div>
        )}
        <div>
          <dt>Agent</dt>
          <dd>{view.agent}</dd>
        </div>
        <div>
          <dt>Prompt version</dt>
          <dd>
            {view.prompt_version === null ? (
              '–'
            ) : (
              <Link to={`/evals${query({ agent: view.agent, prompt_version: view.prompt_version })}`}>
                {view.prompt_version}
              </Link>
            )}
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>
            {usd(view.cost_usd)}
            {view.judge_cost_usd > 0 && <span className="muted"> + judge {usd(view.judge_cost_usd)}</span>}
          </dd>
        </div>
        <div>
          <dt>Latency mean / p95</dt>
          <dd>
            {ms(view.latency_ms.mean)} / {ms(view.latency_ms.p95)}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{time(view.created_at)}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{time(view.ended_at)}</dd>
        </div>
        <div>
          <dt>By</dt>
          <dd>{view.created_by === null ? '–' : <code>{view.created_by}</code>}</dd>
        </div>
      </dl>
      <h2>Cases</h2>
      {view.cases.length === 0 ? (
        <p className="muted">
          {view.status === 'running' ? 'No case has ended yet.' : 'No case result was recorded.'}
        </p>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table className="eval-cases">
            <caption className="visually-hidden">Cases of the eval, in suite order</caption>
            <thead>
              <tr>
                <th scope="col">Case</th>
                <th scope="col" className="num">
                  Trial
                </th>
                <th scope="col">Verdict</th>
                <th scope="col" className="num">
                  Score
                </th>
                <th scope="col">Scorers</th>
                <th scope="col">Run</th>
                <th scope="col" className="num">
                  Cost
                </th>
                <th scope="col" className="num">
                  Latency
                </th>
              </tr>
            </thead>
            <tbody>
              {view.cases.map((each) => (
                <CaseRow key={`${each.id}#${each.trial}`} result={each} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}

function CaseRow({ result }: { result: EvalCase }) {
  return (
    <tr>
      <th scope="row">
        {result.id}
        {result.tags.length > 0 && <div className="muted">{result.tags.join(', ')}</div>}
      </th>
      <td className="num">{result.trial}</td>
      <td>
        <span className={`badge ${evalTone(result.verdict)}`}>{result.verdict}</span>
      </td>
      <td className="num">{result.score.toFixed(2)}</td>
      <td>
        {result.error !== undefined && (
          <div>
            <code>{result.error.code}</code> {result.error.message}
          </div>
        )}
        {result.scores.length > 0 && (
          <ul className="scorer-reasons">
            {result.scores.map((score, index) => (
              <li key={index}>
                <span className={`badge ${score.pass ? 'ok' : 'bad'}`}>{score.pass ? 'pass' : 'fail'}</span>{' '}
                <strong>{score.scorer}</strong>: {score.reason}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td>
        {result.run_id === null ? (
          <span className="muted">no run</span>
        ) : (
          <Link to={`/runs/${encodeURIComponent(result.run_id)}`}>{result.run_id}</Link>
        )}
        {result.stop_reason !== null && <div className="muted">{result.stop_reason}</div>}
      </td>
      <td className="num">
        {usd(result.cost_usd)}
        {result.judge_cost_usd > 0 && <div className="muted">judge {usd(result.judge_cost_usd)}</div>}
      </td>
      <td className="num">{ms(result.latency_ms)}</td>
    </tr>
  );
}
