import { renderTable } from '../util/text-table.js';
import type { BaselineComparison, EvalCaseView, EvalView } from './eval-view.js';

/**
 * The eval's reports: the terminal table, JUnit XML for CI and a self-contained HTML page. All
 * three read the same `EvalView` that `--json` prints, so they never disagree.
 */

export const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const dollars = (value: number) => `$${value.toFixed(6)}`;
const signed = (value: number, format: (value: number) => string) =>
  `${value > 0 ? '+' : value < 0 ? '-' : '±'}${format(Math.abs(value))}`;

/** The first failing (or erroring) scorer's reason: what a person reads first. */
function firstProblem(item: EvalCaseView): string {
  if (item.error) return `${item.error.code}: ${item.error.message}`;
  const bad = item.scores.find((score) => !score.pass);
  return bad ? `${bad.scorer}: ${bad.reason}` : '';
}

/** The terminal report: one row per case trial, then the totals (and the baseline diff, if any). */
export function renderEvalTable(view: EvalView, comparison?: BaselineComparison): string {
  const cases = view.cases ?? [];
  const trials = view.trials > 1;
  const rows = cases.map((item) => [
    item.verdict === 'pass' ? '✓ pass' : item.verdict === 'fail' ? '✗ fail' : '! error',
    trials ? `${item.id} #${item.trial}` : item.id,
    `${item.latency_ms} ms`,
    dollars(item.cost_usd),
    firstProblem(item).slice(0, 100),
  ]);
  const lines = [
    rows.length ? renderTable(['verdict', 'case', 'latency', 'cost', 'why'], rows) : 'No case finished.\n',
    `${view.suite} · ${view.agent} · prompt ${view.prompt_version ?? '(none)'} · ${view.status}`,
    `pass rate ${percent(view.pass_rate)} · ${view.passed} passed · ${view.failed} failed · ${view.errored} errored` +
      ` · of ${view.total}`,
    `cost ${dollars(view.cost_usd)}` +
      (view.judge_cost_usd > 0 ? ` (+ judge ${dollars(view.judge_cost_usd)})` : '') +
      ` · latency p50 ${view.latency_ms.p50} ms, p95 ${view.latency_ms.p95} ms`,
  ];
  if (view.trials > 1)
    lines.push(`pass@${view.k} ${percent(view.pass_at_k)} · pass^${view.k} ${percent(view.pass_hat_k)}`);
  lines.push(`eval ${view.id}`);
  if (comparison) lines.push('', renderComparison(comparison).trimEnd());
  return lines.join('\n') + '\n';
}

/** The baseline diff: regressions and fixes by case, and the pass-rate, cost and latency deltas. */
export function renderComparison(comparison: BaselineComparison): string {
  const lines = [`Against baseline ${comparison.baseline_id ?? '(file)'}:`];
  lines.push(
    `  pass rate ${percent(comparison.pass_rate.before)} → ${percent(comparison.pass_rate.after)} ` +
      `(${signed(comparison.pass_rate.delta * 100, (value) => `${value.toFixed(1)} pts`)})`,
    `  cost per case ${dollars(comparison.cost_usd.before)} → ${dollars(comparison.cost_usd.after)} ` +
      `(${signed(comparison.cost_usd.delta, dollars)})`,
    `  latency per case ${Math.round(comparison.latency_ms.before)} ms → ${Math.round(comparison.latency_ms.after)} ms ` +
      `(${signed(comparison.latency_ms.delta, (value) => `${Math.round(value)} ms`)})`,
  );
  for (const change of comparison.regressions)
    lines.push(`  ✗ regression ${change.id}: ${change.before} → ${change.after}`);
  for (const change of comparison.fixes)
    lines.push(`  ✓ fixed ${change.id}: ${change.before} → ${change.after}`);
  if (comparison.regressions.length === 0 && comparison.fixes.length === 0)
    lines.push('  no case changed its verdict');
  if (comparison.added.length) lines.push(`  new cases: ${comparison.added.join(', ')}`);
  if (comparison.removed.length)
    lines.push(`  cases no longer in the suite: ${comparison.removed.join(', ')}`);
  return lines.join('\n') + '\n';
}

function escapeXml(text: string): string {
  return (
    text
      // XML 1.0 cannot carry these control characters at all, escaped or not.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/**
 * JUnit XML, as CI systems read it: one `testcase` per case trial (`classname` the suite), a
 * `failure` for `fail` and an `error` for `error`, each with the scorers' reasons.
 */
export function renderJunit(view: EvalView): string {
  const cases = view.cases ?? [];
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const body = cases.map((item) => {
    const name = view.trials > 1 ? `${item.id} #${item.trial}` : item.id;
    const details = [
      ...item.scores.map((score) => `${score.pass ? 'pass' : 'FAIL'} ${score.scorer}: ${score.reason}`),
      ...(item.error ? [`${item.error.code}: ${item.error.message}`] : []),
      ...(item.run_id ? [`run ${item.run_id}`] : []),
    ].join('\n');
    const open = `    <testcase classname="${escapeXml(view.suite)}" name="${escapeXml(name)}" time="${seconds(item.latency_ms)}"`;
    if (item.verdict === 'pass') return `${open}/>`;
    const tag = item.verdict === 'fail' ? 'failure' : 'error';
    return `${open}>\n      <${tag} message="${escapeXml(firstProblem(item))}">${escapeXml(details)}</${tag}>\n    </testcase>`;
  });
  const total = cases.reduce((sum, item) => sum + item.latency_ms, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="keel eval" tests="${cases.length}" failures="${view.failed}" errors="${view.errored}" time="${seconds(total)}">`,
    `  <testsuite name="${escapeXml(view.suite)}" tests="${cases.length}" failures="${view.failed}" errors="${view.errored}" time="${seconds(total)}" timestamp="${escapeXml(view.created_at)}">`,
    `    <properties><property name="eval_id" value="${escapeXml(view.id)}"/><property name="agent" value="${escapeXml(view.agent)}"/><property name="prompt_version" value="${escapeXml(view.prompt_version ?? '')}"/></properties>`,
    ...body,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A self-contained HTML report (no script, no external asset): the totals, the baseline diff and
 * every case with its scorers' verdicts and reasons. Every value is escaped.
 */
export function renderHtml(view: EvalView, comparison?: BaselineComparison): string {
  const cases = view.cases ?? [];
  const rows = cases
    .map((item) => {
      const scores = item.scores
        .map(
          (score) =>
            `<li class="${score.pass ? 'pass' : 'fail'}"><b>${escapeHtml(score.scorer)}</b> ${escapeHtml(score.reason)}</li>`,
        )
        .join('');
      const error = item.error
        ? `<li class="error"><b>${escapeHtml(item.error.code)}</b> ${escapeHtml(item.error.message)}</li>`
        : '';
      return (
        `<tr class="${item.verdict}"><td>${item.verdict}</td><td>${escapeHtml(item.id)}` +
        `${view.trials > 1 ? ` #${item.trial}` : ''}</td><td>${item.latency_ms} ms</td>` +
        `<td>${dollars(item.cost_usd)}</td><td><ul>${scores}${error}</ul></td>` +
        `<td><code>${escapeHtml(item.run_id ?? '')}</code></td></tr>`
      );
    })
    .join('\n');
  const baseline = comparison
    ? `<h2>Against baseline ${escapeHtml(comparison.baseline_id ?? '(file)')}</h2><pre>${escapeHtml(renderComparison(comparison))}</pre>`
    : '';
  const title = `${view.suite} · ${view.agent} · ${percent(view.pass_rate)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem;margin:0 0 .25rem}
.meta{color:#57606a;margin-bottom:1rem}
.totals{display:flex;gap:1.5rem;flex-wrap:wrap;margin:1rem 0}
.totals div{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .9rem}
.totals b{display:block;font-size:1.2rem}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.4rem .5rem;text-align:left;vertical-align:top}
tr.pass td:first-child{color:#1a7f37}
tr.fail td:first-child{color:#cf222e;font-weight:600}
tr.error td:first-child{color:#9a6700;font-weight:600}
ul{margin:0;padding-left:1rem}
li.fail{color:#cf222e}
li.error{color:#9a6700}
pre{background:#f6f8fa;padding:.75rem;border-radius:6px}
</style>
</head>
<body>
<h1>${escapeHtml(view.suite)}</h1>
<div class="meta">agent ${escapeHtml(view.agent)} · prompt ${escapeHtml(view.prompt_version ?? '(none)')} · ${escapeHtml(view.status)} · ${escapeHtml(view.created_at)} · eval <code>${escapeHtml(view.id)}</code></div>
<div class="totals">
<div>pass rate<b>${percent(view.pass_rate)}</b></div>
<div>passed<b>${view.passed}</b></div>
<div>failed<b>${view.failed}</b></div>
<div>errored<b>${view.errored}</b></div>
<div>cost<b>${dollars(view.cost_usd)}</b></div>
${view.judge_cost_usd > 0 ? `<div>judge cost<b>${dollars(view.judge_cost_usd)}</b></div>` : ''}
<div>latency p50 / p95<b>${view.latency_ms.p50} / ${view.latency_ms.p95} ms</b></div>
${view.trials > 1 ? `<div>pass@${view.k} / pass^${view.k}<b>${percent(view.pass_at_k)} / ${percent(view.pass_hat_k)}</b></div>` : ''}
</div>
${baseline}
<table>
<thead><tr><th>verdict</th><th>case</th><th>latency</th><th>cost</th><th>scorers</th><th>run</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

/** The `keel evals list` table: one stored eval a row, newest first. */
export function renderEvalList(evals: readonly EvalView[]): string {
  if (evals.length === 0) return 'No evals yet: keel eval <suite> runs one.\n';
  return renderTable(
    [
      'id',
      'suite',
      'agent',
      'prompt',
      'status',
      'pass rate',
      'passed',
      'failed',
      'errored',
      'cost',
      'created',
    ],
    evals.map((view) => [
      view.id,
      view.suite,
      view.agent,
      view.prompt_version ?? '',
      view.status,
      percent(view.pass_rate),
      String(view.passed),
      String(view.failed),
      String(view.errored),
      dollars(view.cost_usd),
      view.created_at.replace('T', ' ').slice(0, 19),
    ]),
  );
}
