/**
 * The comparison view (`GET /v1/analytics/compare`): this window against the one before it, or
 * two prompt versions of one agent in this window, with the API's significance tests (alpha 0.05)
 * flagged per figure. The choice is kept in the URL (`compare`, `a`, `b`).
 */
import { useQuery } from '@tanstack/react-query';
import { useId } from 'react';
import { useSearchParams } from 'react-router';
import { api, query } from '../../api/client';
import { ErrorView } from '../../components/ErrorView';
import { Loading } from '../../components/Page';
import { count, ms, percent, usd } from '../../components/format';
import type { Comparison as ComparisonAnswer, FigureChange, GroupedSummary } from './overview-types';
import { previousWindow, type ResolvedWindow } from './overview-window';

const FIGURES: {
  key: Exclude<keyof ComparisonAnswer['changes'], 'tool_error_rate_by_tool'>;
  label: string;
  format(value: number): string;
}[] = [
  { key: 'success_rate', label: 'Success rate', format: (value) => percent(value) },
  { key: 'tool_error_rate', label: 'Tool error rate', format: (value) => percent(value) },
  { key: 'cost_per_run_usd', label: 'Cost per run (mean)', format: (value) => usd(value) },
  { key: 'steps_per_run', label: 'Steps per run (mean)', format: (value) => value.toFixed(2) },
  { key: 'model_calls_per_run', label: 'Model calls per run (mean)', format: (value) => value.toFixed(2) },
  { key: 'duration_ms', label: 'Duration (mean)', format: (value) => ms(value) },
];

/** A registry version's group key names its agent (`travel-planner@v2`); compare takes `v2`. */
function versionOf(key: string, agent: string): string {
  return key.startsWith(`${agent}@`) ? key.slice(agent.length + 1) : key;
}

function ChangeRow({
  label,
  change,
  format,
}: {
  label: string;
  change: FigureChange;
  format(value: number): string;
}) {
  const show = (value: number | null) => (value === null ? '–' : format(value));
  const significant = change.test?.significant === true;
  return (
    <tr className={significant ? 'significant' : undefined}>
      <th scope="row">{label}</th>
      <td className="num">{show(change.a)}</td>
      <td className="num">{show(change.b)}</td>
      <td className="num">
        {change.difference === null ? '–' : `${change.difference > 0 ? '+' : ''}${format(change.difference)}`}
      </td>
      <td>
        {change.test === null ? (
          <span className="muted">not tested</span>
        ) : significant ? (
          <span className="badge warn">significant, p = {change.test.p_value.toPrecision(2)}</span>
        ) : (
          <span className="muted">no, p = {change.test.p_value.toPrecision(2)}</span>
        )}
      </td>
    </tr>
  );
}

export function Comparison({
  span,
  agent,
  currentVersion,
}: {
  span: ResolvedWindow;
  agent: string | undefined;
  /** The version the agent's new runs get: B by default, against another version seen. */
  currentVersion: string | undefined;
}) {
  const [params, setParams] = useSearchParams();
  const mode = params.get('compare') === 'versions' ? 'versions' : 'windows';
  const modeId = useId();
  const aId = useId();
  const bId = useId();
  const setParam = (name: string, value: string | undefined) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === undefined || value === '') next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );

  const versions = useQuery({
    queryKey: ['analytics', 'versions', span.from, span.to, agent],
    enabled: mode === 'versions' && agent !== undefined,
    queryFn: ({ signal }) =>
      api<GroupedSummary>(
        `/v1/analytics/summary${query({ from: span.from, to: span.to, agent, group_by: 'prompt_version' })}`,
        { signal },
      ),
  });
  const seen =
    agent === undefined
      ? []
      : (versions.data?.groups ?? [])
          .filter((group) => group.key !== null)
          .map((group) => ({ version: versionOf(group.key!, agent), runs: group.runs }));
  const b =
    params.get('b') ??
    (seen.some((option) => option.version === currentVersion) ? currentVersion : seen[0]?.version);
  const a = params.get('a') ?? seen.find((option) => option.version !== b)?.version;

  const previous = previousWindow(span);
  const request =
    mode === 'windows'
      ? query({ a_from: previous.from, a_to: previous.to, b_from: span.from, b_to: span.to, agent })
      : agent !== undefined && a !== undefined && b !== undefined && a !== b
        ? query({ from: span.from, to: span.to, agent, a_version: a, b_version: b })
        : undefined;
  const comparison = useQuery({
    queryKey: ['analytics', 'compare', request],
    enabled: request !== undefined,
    queryFn: ({ signal }) => api<ComparisonAnswer>(`/v1/analytics/compare${request ?? ''}`, { signal }),
  });

  const sideLabel = (side: 'a' | 'b') =>
    mode === 'windows' ? (side === 'a' ? 'Window before' : 'This window') : `Version ${side === 'a' ? a : b}`;

  return (
    <section aria-labelledby="compare-heading" className="overview-section" data-testid="comparison">
      <h2 id="compare-heading">Comparison</h2>
      <div className="toolbar">
        <label htmlFor={modeId}>Compare</label>
        <select
          id={modeId}
          value={mode}
          onChange={(event) =>
            setParam('compare', event.target.value === 'windows' ? undefined : event.target.value)
          }
        >
          <option value="windows">this window with the one before</option>
          <option value="versions">two prompt versions</option>
        </select>
        {mode === 'versions' && agent !== undefined && seen.length > 0 && (
          <>
            <label htmlFor={aId}>A</label>
            <select id={aId} value={a ?? ''} onChange={(event) => setParam('a', event.target.value)}>
              {seen.map((option) => (
                <option key={option.version} value={option.version}>
                  {option.version} ({count(option.runs)} runs)
                </option>
              ))}
            </select>
            <label htmlFor={bId}>B</label>
            <select id={bId} value={b ?? ''} onChange={(event) => setParam('b', event.target.value)}>
              {seen.map((option) => (
                <option key={option.version} value={option.version}>
                  {option.version} ({count(option.runs)} runs)
                </option>
              ))}
            </select>
          </>
        )}
      </div>
      {mode === 'versions' && agent === undefined && (
        <p className="muted">Choose an agent above to compare its prompt versions.</p>
      )}
      {mode === 'versions' && agent !== undefined && versions.isSuccess && seen.length < 2 && (
        <p className="muted">
          {agent} ran {seen.length === 1 ? 'one prompt version' : 'no prompt version'} in this window; pin
          another version (Controls) and run it to compare.
        </p>
      )}
      {versions.error !== null && <ErrorView error={versions.error} title="Prompt versions not loaded" />}
      {comparison.error !== null && <ErrorView error={comparison.error} title="Comparison not loaded" />}
      {request !== undefined && comparison.isPending && <Loading what="Comparing" />}
      {comparison.data !== undefined && (
        <>
          <p className="muted">
            {sideLabel('a')}: {count(comparison.data.a.runs)} runs; {sideLabel('b')}:{' '}
            {count(comparison.data.b.runs)} runs. Significant changes (p &lt; {comparison.data.alpha}) are
            flagged; below about 8 runs a side the tests are rough.
          </p>
          <div className="table-wrap">
            <table className="comparison">
              <caption className="visually-hidden">
                {sideLabel('a')} (A) against {sideLabel('b')} (B)
              </caption>
              <thead>
                <tr>
                  <th scope="col">Figure</th>
                  <th scope="col" className="num">
                    A: {sideLabel('a')}
                  </th>
                  <th scope="col" className="num">
                    B: {sideLabel('b')}
                  </th>
                  <th scope="col" className="num">
                    B − A
                  </th>
                  <th scope="col">Significant?</th>
                </tr>
              </thead>
              <tbody>
                {FIGURES.map((figure) => (
                  <ChangeRow
                    key={figure.key}
                    label={figure.label}
                    change={comparison.data.changes[figure.key]}
                    format={figure.format}
                  />
                ))}
                {Object.entries(comparison.data.changes.tool_error_rate_by_tool).map(([tool, change]) => (
                  <ChangeRow
                    key={tool}
                    label={`Error rate of ${tool}`}
                    change={change}
                    format={(value) => percent(value)}
                  />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
