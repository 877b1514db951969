import type {
  AnalyticsComparison,
  AnalyticsFigures,
  AnalyticsSummary,
  FigureChange,
  GatewayFigures,
} from '../analytics/analytics-types.js';
import { renderTable } from './render.js';

const usd = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : `$${value.toFixed(4)}`;
const percent = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : `${Math.round(value)} ms`;

/** `keel stats`: the window, then the figures (or one line per group), then the gateway. */
export function renderSummaryReport(summary: AnalyticsSummary): string {
  const scope =
    `${summary.from.slice(0, 16).replace('T', ' ')} → ${summary.to.slice(0, 16).replace('T', ' ')} UTC` +
    `  tenant ${summary.tenant ?? 'all'}${summary.agent ? `  agent ${summary.agent}` : ''}\n\n`;
  if (summary.groups !== undefined) {
    const rows = summary.groups.map((group) => [
      group.key ?? '(none)',
      String(group.runs),
      percent(group.success_rate),
      ms(group.p50_duration_ms),
      ms(group.p95_duration_ms),
      usd(group.cost_usd),
      usd(group.cost_per_run_usd),
      usd(group.cost_per_successful_run_usd),
      usd(group.cost_per_committed_outcome_usd),
      usd(group.hidden_recompute_usd.total_usd),
    ]);
    const header = [
      (summary.group_by ?? 'group').toUpperCase(),
      'RUNS',
      'SUCCESS',
      'P50',
      'P95',
      'COST',
      '$/RUN',
      '$/SUCCESS',
      '$/COMMITTED',
      'HIDDEN',
    ];
    const table = rows.length === 0 ? 'No runs in the window.\n' : renderTable(header, rows);
    return (
      scope +
      table +
      (summary.groups_truncated ? '(more groups not shown)\n' : '') +
      renderGateway(summary.gateway)
    );
  }
  return scope + renderFigures(summary) + renderGateway(summary.gateway);
}

function renderFigures(figures: AnalyticsFigures): string {
  const hidden = figures.hidden_recompute_usd;
  const lines: Array<[string, string]> = [
    ['runs', `${figures.runs} (${figures.ended_runs} ended)`],
    ['success rate', percent(figures.success_rate)],
    [
      'duration',
      `p50 ${ms(figures.p50_duration_ms)}  p95 ${ms(figures.p95_duration_ms)}  p99 ${ms(figures.p99_duration_ms)}`,
    ],
    ['cost', usd(figures.cost_usd)],
    ['cost per run', usd(figures.cost_per_run_usd)],
    ['cost per successful run', usd(figures.cost_per_successful_run_usd)],
    ['cost per committed outcome', usd(figures.cost_per_committed_outcome_usd)],
    [
      'outcomes',
      `${figures.outcomes.committed} committed, ${figures.outcomes.rejected} rejected, ${figures.outcomes.speculative} speculative`,
    ],
    [
      'stop reasons',
      Object.entries(figures.stop_reasons)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(', ') || '–',
    ],
    [
      'hidden recompute',
      `${usd(hidden.total_usd)} (crash re-execution ${usd(hidden.crash_reexecution_usd)}, retries ${usd(hidden.retried_attempts_usd)}, ` +
        `abandoned after ${hidden.abandoned_after_days} d ${usd(hidden.abandoned_runs_usd)})`,
    ],
    [
      'feedback',
      `${figures.feedback.thumbs_up} up, ${figures.feedback.thumbs_down} down, mean score ${
        figures.feedback.mean_score === null ? '–' : figures.feedback.mean_score.toFixed(2)
      } (${figures.feedback.count} in all)`,
    ],
    [
      'model calls per run',
      figures.loop_histogram
        .filter((bucket) => bucket.runs > 0)
        .map((bucket) => `${bucket.bucket}: ${bucket.runs}`)
        .join(', ') || '–',
    ],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  let text = lines.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join('');
  const tools = Object.entries(figures.tool_error_rate);
  if (tools.length > 0)
    text +=
      '\n' +
      renderTable(
        ['TOOL', 'CALLS', 'ERRORS', 'ERROR RATE'],
        tools.map(([name, tool]) => [name, String(tool.calls), String(tool.errors), percent(tool.rate)]),
      );
  return text;
}

function renderGateway(gateway: GatewayFigures): string {
  if (gateway.calls === 0) return '\nGateway calls outside runs: none.\n';
  return (
    `\nGateway calls outside runs: ${gateway.calls} (${gateway.errors} errors), ${usd(gateway.cost_usd)}\n` +
    renderTable(
      ['TENANT', 'KEY', 'CALLS', 'ERRORS', 'COST'],
      gateway.by_key.map((key) => [
        key.tenant_id ?? '–',
        key.key_id ?? '–',
        String(key.calls),
        String(key.errors),
        usd(key.cost_usd),
      ]),
    ) +
    renderGatewayUsers(gateway)
  );
}

/** The gateway's calls per developer, when any call was attributed to one. */
function renderGatewayUsers(gateway: GatewayFigures): string {
  if (gateway.by_user.every((user) => user.user_id === null)) return '';
  return (
    '\nBy user:\n' +
    renderTable(
      ['TENANT', 'USER', 'SESSIONS', 'CALLS', 'ERRORS', 'COST'],
      gateway.by_user.map((user) => [
        user.tenant_id ?? '–',
        user.user_id ?? '(none)',
        String(user.sessions),
        String(user.calls),
        String(user.errors),
        usd(user.cost_usd),
      ]),
    )
  );
}

/** `keel stats --compare`: A and B side by side; each tested figure with its test and p-value. */
export function renderComparison(comparison: AnalyticsComparison): string {
  const side = (label: string, figures: AnalyticsComparison['a']) =>
    `${label}: ${figures.from.slice(0, 16).replace('T', ' ')} → ${figures.to.slice(0, 16).replace('T', ' ')}` +
    `${figures.prompt_version ? `  version ${figures.prompt_version}` : ''}  (${figures.runs} runs)\n`;
  const row = (name: string, change: FigureChange, format: (value: number | null) => string) => [
    name,
    format(change.a),
    format(change.b),
    change.test === null ? '–' : change.test.test === 'two_proportion_z' ? 'z-test' : 'Mann-Whitney U',
    change.test === null ? '–' : change.test.p_value.toPrecision(3),
    change.test?.significant ? 'yes' : 'no',
  ];
  const number = (value: number | null) => (value === null ? '–' : value.toFixed(2));
  const { changes } = comparison;
  const rows = [
    row('success rate', changes.success_rate, percent),
    row('tool error rate', changes.tool_error_rate, percent),
    ...Object.entries(changes.tool_error_rate_by_tool).map(([name, change]) =>
      row(`  ${name}`, change, percent),
    ),
    row('cost per run (mean)', changes.cost_per_run_usd, usd),
    row('steps per run (mean)', changes.steps_per_run, number),
    row('model calls per run (mean)', changes.model_calls_per_run, number),
    row('duration (mean)', changes.duration_ms, ms),
  ];
  return (
    side('A', comparison.a) +
    side('B', comparison.b) +
    '\n' +
    renderTable(['FIGURE', 'A', 'B', 'TEST', 'P', 'SIGNIFICANT'], rows) +
    `\nTwo-sided tests, significant when p < ${comparison.alpha}.\n`
  );
}
