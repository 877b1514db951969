/**
 * The overview: for a window (`?window=1h|24h|7d|30d`) and an agent (`?agent=`, all by default),
 * the figures operators watch, all aggregated by the API (`GET /v1/analytics/summary`, over the
 * window and per hour or day): success rate and p95 latency over time, cost per successful run
 * and per committed outcome, hidden recompute, tool error rate by tool, the loop-count histogram,
 * stop reasons; spend against each budget (admin keys); and the comparison view.
 */
import { useQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, query } from '../api/client';
import { useAuth } from '../auth';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import { count, ms, percent, usd } from '../components/format';
import { BudgetBars } from './overview/BudgetBars';
import { CategoryBarChart, ChartFigure, TimeLineChart } from './overview/charts';
import { Comparison } from './overview/Comparison';
import type { AgentSummary, Budget, GroupedSummary, Summary } from './overview/overview-types';
import {
  DEFAULT_WINDOW,
  fillSeries,
  isWindowName,
  resolveWindow,
  WINDOWS,
  type ResolvedWindow,
} from './overview/overview-window';
import './overview/overview.css';

function Kpi({ id, label, value, detail }: { id: string; label: string; value: string; detail?: string }) {
  return (
    <div className="card kpi">
      <h3 id={`kpi-${id}-label`}>{label}</h3>
      <div className="value" data-testid={`kpi-${id}`} aria-describedby={`kpi-${id}-label`}>
        {value}
      </div>
      {detail !== undefined && <div className="muted kpi-detail">{detail}</div>}
    </div>
  );
}

function EmptyState({ span, agent }: { span: ResolvedWindow; agent: string | undefined }) {
  return (
    <section className="empty-state" aria-labelledby="empty-heading">
      <h2 id="empty-heading">
        No runs {agent === undefined ? '' : `of ${agent} `}in the {WINDOWS[span.name].label.toLowerCase()}
      </h2>
      <p>Start one and its figures show here:</p>
      <ul>
        <li>
          from a terminal: <code>npx keel run travel-planner "3 days in Lisbon"</code>
        </li>
        <li>
          or chat with an agent in the <Link to="/playground">Playground</Link>.
        </li>
      </ul>
      <p className="muted">A longer window may have older runs.</p>
    </section>
  );
}

function Figures({ summary }: { summary: Summary }) {
  const hidden = summary.hidden_recompute_usd;
  return (
    <section aria-labelledby="figures-heading" className="overview-section">
      <h2 id="figures-heading" className="visually-hidden">
        Key figures
      </h2>
      <div className="cards overview-kpis">
        <Kpi
          id="runs"
          label="Runs"
          value={count(summary.runs)}
          detail={`${count(summary.ended_runs)} ended, ${count(summary.successful_runs)} succeeded`}
        />
        <Kpi
          id="success-rate"
          label="Success rate"
          value={percent(summary.success_rate)}
          detail="of ended runs"
        />
        <Kpi
          id="p95"
          label="p95 latency"
          value={ms(summary.p95_duration_ms)}
          detail={`p50 ${ms(summary.p50_duration_ms)} · p99 ${ms(summary.p99_duration_ms)}`}
        />
        <Kpi
          id="cost-per-success"
          label="Cost per successful task"
          value={usd(summary.cost_per_successful_run_usd)}
          detail={`${usd(summary.cost_usd)} in all`}
        />
        <Kpi
          id="cost-per-committed"
          label="Cost per committed outcome"
          value={usd(summary.cost_per_committed_outcome_usd)}
          detail={`${count(summary.outcomes.committed)} committed, ${count(summary.outcomes.rejected)} rejected`}
        />
        <Kpi
          id="hidden-recompute"
          label="Hidden recompute"
          value={usd(hidden.total_usd)}
          detail={`re-executions ${usd(hidden.crash_reexecution_usd)} · retries ${usd(hidden.retried_attempts_usd)} · abandoned ${usd(hidden.abandoned_runs_usd)}`}
        />
      </div>
    </section>
  );
}

/** "from 80.0 % to 100.0 %" over the values known ("unknown": none ended). */
function range(values: readonly (number | null)[], format: (value: number) => string): string {
  const known = values.filter((value): value is number => value !== null);
  if (known.length === 0) return 'unknown (no run ended)';
  const [low, high] = [Math.min(...known), Math.max(...known)];
  return low === high ? `${format(low)} throughout` : `from ${format(low)} to ${format(high)}`;
}

function OverTime({ series, span }: { series: GroupedSummary | undefined; span: ResolvedWindow }) {
  if (series === undefined) return <Loading what="Loading the series" />;
  const points = fillSeries(span, series.groups);
  const withRuns = points.filter((point) => point.runs > 0);
  const unit = WINDOWS[span.name].bucket;
  const rows = (pick: (point: (typeof points)[number]) => string) =>
    withRuns.map((point) => [new Date(point.start).toLocaleString(), count(point.runs), pick(point)]);
  return (
    <section aria-labelledby="time-heading" className="overview-section">
      <h2 id="time-heading">Over time</h2>
      <div className="charts overview-charts">
        <ChartFigure
          testId="chart-success-rate"
          title={`Success rate per ${unit}`}
          summary={`${withRuns.length} of ${points.length} ${unit}s had runs; success rate ${range(
            withRuns.map((point) => point.success_rate),
            percent,
          )}.`}
          columns={[unit === 'hour' ? 'Hour' : 'Day', 'Runs', 'Success rate']}
          rows={rows((point) => percent(point.success_rate))}
          chart={
            <TimeLineChart
              points={points}
              dataKey="success_rate"
              name="Success rate"
              format={(value) => percent(value, 0)}
              domain={[0, 1]}
            />
          }
        />
        <ChartFigure
          testId="chart-p95"
          title={`p95 latency per ${unit}`}
          summary={`p95 latency per ${unit} ${range(
            withRuns.map((point) => point.p95_duration_ms),
            ms,
          )}.`}
          columns={[unit === 'hour' ? 'Hour' : 'Day', 'Runs', 'p95 latency']}
          rows={rows((point) => ms(point.p95_duration_ms))}
          chart={
            <TimeLineChart
              points={points}
              dataKey="p95_duration_ms"
              name="p95 latency"
              format={ms}
              color="var(--chart-2)"
            />
          }
        />
      </div>
    </section>
  );
}

function Breakdowns({ summary }: { summary: Summary }) {
  const tools = Object.entries(summary.tool_error_rate).sort(
    ([, x], [, y]) => y.rate - x.rate || y.calls - x.calls,
  );
  const stops = Object.entries(summary.stop_reasons).sort(([, x], [, y]) => y - x);
  const loops = summary.loop_histogram;
  const busiest = loops.reduce((best, bucket) => (bucket.runs > best.runs ? bucket : best), loops[0]!);
  return (
    <section aria-labelledby="breakdown-heading" className="overview-section">
      <h2 id="breakdown-heading">Tools, loops and stop reasons</h2>
      <div className="charts overview-charts">
        <ChartFigure
          testId="chart-tool-errors"
          title="Tool error rate by tool"
          summary={
            tools.length === 0
              ? 'No tool was called in this window.'
              : `${tools.length} tools called ${count(tools.reduce((sum, [, tool]) => sum + tool.calls, 0))} times; the highest error rate is ${tools[0]![0]}'s, ${percent(tools[0]![1].rate)}.`
          }
          columns={['Tool', 'Calls', 'Errors', 'Error rate']}
          rows={tools.map(([name, tool]) => [
            name,
            count(tool.calls),
            count(tool.errors),
            percent(tool.rate),
          ])}
          {...(tools.length === 0
            ? {}
            : {
                chart: (
                  <CategoryBarChart
                    data={tools.map(([name, tool]) => ({ label: name, value: tool.rate }))}
                    name="Error rate"
                    format={(value) => percent(value, 0)}
                    color="var(--chart-5)"
                    horizontal
                    domain={[0, 1]}
                  />
                ),
              })}
        />
        <ChartFigure
          testId="chart-loops"
          title="Loop count (model steps per run)"
          summary={`Most runs took ${busiest.bucket} model steps (${count(busiest.runs)} of ${count(summary.runs)}).`}
          columns={['Model steps', 'Runs']}
          rows={loops.map((bucket) => [bucket.bucket, count(bucket.runs)])}
          chart={
            <CategoryBarChart
              data={loops.map((bucket) => ({ label: bucket.bucket, value: bucket.runs }))}
              name="Runs"
              format={count}
              color="var(--chart-1)"
            />
          }
        />
        <ChartFigure
          testId="chart-stop-reasons"
          title="Stop reasons"
          summary={
            stops.length === 0
              ? 'No run ended in this window.'
              : `${stops.map(([reason, runs]) => `${reason}: ${count(runs)}`).join(', ')}.`
          }
          columns={['Stop reason', 'Runs']}
          rows={stops.map(([reason, runs]) => [reason, count(runs)])}
          {...(stops.length === 0
            ? {}
            : {
                chart: (
                  <CategoryBarChart
                    data={stops.map(([reason, runs]) => ({ label: reason, value: runs }))}
                    name="Runs"
                    format={count}
                    color="var(--chart-4)"
                    horizontal
                  />
                ),
              })}
        />
      </div>
    </section>
  );
}

function Budgets() {
  const budgets = useQuery({
    queryKey: ['budgets'],
    queryFn: ({ signal }) => api<{ data: Budget[] }>('/v1/budgets', { signal }),
  });
  return (
    <section aria-labelledby="budgets-heading" className="overview-section">
      <h2 id="budgets-heading">Budgets</h2>
      {budgets.error !== null && <ErrorView error={budgets.error} title="Budgets not loaded" />}
      {budgets.isPending && <Loading what="Loading budgets" />}
      {budgets.data !== undefined && <BudgetBars budgets={budgets.data.data} />}
    </section>
  );
}

export default function Overview() {
  const { can } = useAuth();
  const [params, setParams] = useSearchParams();
  const windowParam = params.get('window');
  const windowName = isWindowName(windowParam) ? windowParam : DEFAULT_WINDOW;
  const agent = params.get('agent') ?? undefined;
  // The window ends when the page asked (Refresh moves it), so the queries' keys stay put.
  const [now, setNow] = useState(() => Date.now());
  const span = resolveWindow(windowName, now);
  const windowId = useId();
  const agentId = useId();

  const setParam = (name: string, value: string | undefined) => {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === undefined || value === '') next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );
    setNow(Date.now());
  };

  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: ({ signal }) => api<{ data: AgentSummary[] }>('/v1/agents', { signal }),
  });
  const scope = { from: span.from, to: span.to, agent };
  const summary = useQuery({
    queryKey: ['analytics', 'summary', scope],
    queryFn: ({ signal }) => api<Summary>(`/v1/analytics/summary${query(scope)}`, { signal }),
  });
  // Asked with the figures, not after them: one round trip fewer before the charts.
  const bucket = WINDOWS[windowName].bucket;
  const series = useQuery({
    queryKey: ['analytics', 'series', scope, bucket],
    queryFn: ({ signal }) =>
      api<GroupedSummary>(`/v1/analytics/summary${query({ ...scope, group_by: bucket })}`, { signal }),
  });

  return (
    <Page
      title="Overview"
      actions={
        <form className="toolbar overview-filters" onSubmit={(event) => event.preventDefault()}>
          <label htmlFor={windowId}>Window</label>
          <select
            id={windowId}
            value={windowName}
            onChange={(event) => setParam('window', event.target.value)}
          >
            {Object.entries(WINDOWS).map(([name, option]) => (
              <option key={name} value={name}>
                {option.label}
              </option>
            ))}
          </select>
          <label htmlFor={agentId}>Agent</label>
          <select
            id={agentId}
            value={agent ?? ''}
            onChange={(event) => setParam('agent', event.target.value)}
          >
            <option value="">All agents</option>
            {agent !== undefined && !agents.data?.data.some((known) => known.name === agent) && (
              <option value={agent}>{agent}</option>
            )}
            {agents.data?.data.map((known) => (
              <option key={known.name} value={known.name}>
                {known.name}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => setNow(Date.now())}>
            Refresh
          </button>
        </form>
      }
    >
      <p className="muted window-note">
        {WINDOWS[windowName].label}: {new Date(span.from).toLocaleString()} to{' '}
        {new Date(span.to).toLocaleString()}
        {agent === undefined ? ', all agents' : `, agent ${agent}`}.
      </p>
      {agents.error !== null && <ErrorView error={agents.error} title="Agents not loaded" />}
      {summary.error !== null && <ErrorView error={summary.error} title="Figures not loaded" />}
      {summary.isPending && <Loading what="Loading the figures" />}
      {summary.data !== undefined && summary.data.runs === 0 && <EmptyState span={span} agent={agent} />}
      {summary.data !== undefined && summary.data.runs > 0 && (
        <>
          <Figures summary={summary.data} />
          {series.error !== null ? (
            <ErrorView error={series.error} title="Series not loaded" />
          ) : (
            <OverTime series={series.data} span={span} />
          )}
          <Breakdowns summary={summary.data} />
        </>
      )}
      {can('admin') && <Budgets />}
      {summary.data !== undefined && (
        <Comparison
          span={span}
          agent={agent}
          currentVersion={agents.data?.data.find((known) => known.name === agent)?.prompt.current_version}
        />
      )}
    </Page>
  );
}
