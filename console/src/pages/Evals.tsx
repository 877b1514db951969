/**
 * Evals: the eval runs `keel eval` stored (`GET /v1/evals`), newest first, with their suite,
 * agent, prompt version, status, pass rate, counts and cost, in server pages. The agent and prompt
 * version filters are in the URL (`/evals?agent=…&prompt_version=…`), so the Controls page's
 * prompt versions can link to a version's evals.
 */
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useId } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, query } from '../api/client';
import { evalTone, type EvalPage } from '../api/types';
import { ErrorView } from '../components/ErrorView';
import { ago, percent, time, usd } from '../components/format';
import { Loading, Page } from '../components/Page';

const PAGE_SIZE = 25;

export default function Evals() {
  const [search, setSearch] = useSearchParams();
  const agentId = useId();
  const agent = search.get('agent') ?? '';
  const promptVersion = search.get('prompt_version') ?? '';
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: ({ signal }) => api<{ data: { name: string }[] }>('/v1/agents', { signal }),
  });
  const evals = useInfiniteQuery({
    queryKey: ['evals', agent, promptVersion],
    queryFn: ({ pageParam, signal }) =>
      api<EvalPage>(
        `/v1/evals${query({ agent, prompt_version: promptVersion, limit: PAGE_SIZE, cursor: pageParam })}`,
        { signal },
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // An eval still running fills in as its cases end.
    refetchInterval: (current) =>
      current.state.data?.pages.some((page) => page.data.some((each) => each.status === 'running'))
        ? 3_000
        : false,
  });
  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value === '') next.delete(name);
    else next.set(name, value);
    // A version belongs to an agent: choosing another agent drops it.
    if (name === 'agent') next.delete('prompt_version');
    setSearch(next, { replace: true });
  };
  const items = evals.data?.pages.flatMap((page) => page.data) ?? [];
  const agentNames = [...new Set([...(agents.data?.data.map((each) => each.name) ?? []), agent])].filter(
    (name) => name !== '',
  );
  return (
    <Page title="Evals">
      <div className="toolbar">
        <label htmlFor={agentId}>Agent</label>
        <select id={agentId} value={agent} onChange={(event) => setFilter('agent', event.target.value)}>
          <option value="">all agents</option>
          {agentNames.map((name) => (
            <option key={name}>{name}</option>
          ))}
        </select>
        {promptVersion !== '' && (
          <span>
            prompt version <strong>{promptVersion}</strong>{' '}
            <button type="button" onClick={() => setFilter('prompt_version', '')}>
              Show every version
            </button>
          </span>
        )}
      </div>
      {evals.isPending && <Loading what="Loading evals" />}
      {evals.isError && <ErrorView error={evals.error} title="Could not load evals" />}
      {evals.isSuccess && items.length === 0 && (
        <p className="muted">
          No eval {agent === '' ? 'yet' : `of ${agent}${promptVersion === '' ? '' : ` at ${promptVersion}`}`}.
          Run a suite with <code>keel eval &lt;suite&gt;</code> (see docs/evals.md); its results are stored
          and listed here.
        </p>
      )}
      {items.length > 0 && (
        <div className="table-wrap" tabIndex={0}>
          <table className="evals-table">
            <caption className="visually-hidden">Evals, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Eval</th>
                <th scope="col">Suite</th>
                <th scope="col">Agent</th>
                <th scope="col">Prompt version</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Pass rate
                </th>
                <th scope="col" className="num">
                  Passed / failed / errored
                </th>
                <th scope="col" className="num">
                  Cost
                </th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {items.map((each) => (
                <tr key={each.id}>
                  <td>
                    <Link to={`/evals/${encodeURIComponent(each.id)}`}>{each.id}</Link>
                  </td>
                  <td>{each.suite}</td>
                  <td>{each.agent}</td>
                  <td>
                    {each.prompt_version === null ? (
                      <span className="muted">–</span>
                    ) : (
                      <code>{each.prompt_version}</code>
                    )}
                  </td>
                  <td>
                    <span className={`badge ${evalTone(each.status)}`}>{each.status}</span>
                  </td>
                  <td className="num">{each.total === 0 ? '–' : percent(each.pass_rate)}</td>
                  <td className="num">
                    {each.passed} / {each.failed} / {each.errored}
                  </td>
                  <td className="num">
                    {usd(each.cost_usd)}
                    {each.judge_cost_usd > 0 && <div className="muted">judge {usd(each.judge_cost_usd)}</div>}
                  </td>
                  <td title={time(each.created_at)}>{ago(each.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {evals.hasNextPage && (
        <p>
          <button
            type="button"
            onClick={() => void evals.fetchNextPage()}
            disabled={evals.isFetchingNextPage}
          >
            {evals.isFetchingNextPage ? 'Loading…' : 'Older evals'}
          </button>
        </p>
      )}
    </Page>
  );
}
