import type { RunTrace, TraceStep } from '../server/run-trace.js';

const dollars = (value: number | null) => `$${(value ?? 0).toFixed(6)}`;

/**
 * A trace as a tree for `keel trace`: a header with the run's totals, then each step under the
 * step that asked for it (`parent_seq`), in seq order, with its earlier executions beneath it.
 */
export function renderTrace(trace: RunTrace): string {
  const ended = trace.stop_reason === null ? trace.status : `${trace.status} (${trace.stop_reason})`;
  const tokens = trace.total_tokens_in + trace.total_tokens_out;
  let text =
    `trace     ${trace.trace_id}\n` +
    `agent     ${trace.agent}${trace.model ? ` · ${trace.model}` : ''}${trace.prompt_version ? ` · ${trace.prompt_version}` : ''}\n` +
    `status    ${ended} · outcome ${trace.outcome} · ${trace.attempts} attempt(s)\n` +
    `totals    ${trace.steps.length} steps · ${tokens} tokens (${trace.total_tokens_in} in, ${trace.total_tokens_out} out) · ${dollars(trace.total_cost_usd)} · ${trace.duration_ms ?? '-'} ms\n`;
  if (trace.user_id !== null || trace.session_id !== null)
    text += `for       user ${trace.user_id ?? '-'} · session ${trace.session_id ?? '-'}\n`;
  for (const change of trace.version_changes) text += `deploy    ${renderVersionChange(change)}\n`;
  if (trace.steps.length === 0) return text + '\n(no steps yet)\n';

  const seqs = new Set(trace.steps.map((step) => step.seq));
  const children = new Map<number | null, TraceStep[]>();
  for (const step of trace.steps) {
    // A parent the journal does not hold (yet) leaves its child at the top.
    const parent = step.parent_seq !== null && seqs.has(step.parent_seq) ? step.parent_seq : null;
    children.set(parent, [...(children.get(parent) ?? []), step]);
  }
  text += '\n';
  const walk = (parent: number | null, indent: string) => {
    const level = children.get(parent) ?? [];
    level.forEach((step, index) => {
      const last = index === level.length - 1;
      text += `${indent}${last ? '└─ ' : '├─ '}${renderTraceStep(step)}\n`;
      const below = indent + (last ? '   ' : '│  ');
      for (const execution of step.executions.slice(0, -1))
        text += `${below}  ↻ execution attempt ${execution.attempt} at ${execution.started_at}: ${execution.end}\n`;
      walk(step.seq, below);
    });
  };
  walk(null, '');
  return text;
}

/** One step's line: mark, seq, type, name, latency, tokens, cost, error, executions. */
export function renderTraceStep(step: TraceStep): string {
  const mark = step.ok === null ? '…' : step.ok ? '✓' : '✗';
  const name = step.type === 'llm' && step.model !== null ? step.model : step.name;
  const latency = step.latency_ms === null ? 'running' : `${step.latency_ms} ms`;
  const tokens =
    step.tokens_in === null && step.tokens_out === null
      ? ''
      : `  ${step.tokens_in ?? 0}→${step.tokens_out ?? 0} tok`;
  const cost = step.cost_usd === null || step.cost_usd === 0 ? '' : `  ${dollars(step.cost_usd)}`;
  const error = step.error_code === null ? '' : `  ${step.error_code}`;
  const attempts = step.attempt > 1 ? `  attempt ${step.attempt}` : '';
  const execution = step.execution > 1 ? `  execution ${step.execution}` : '';
  const verdict =
    step.verdict === null
      ? ''
      : `  ${step.verdict.stage ?? '?'}: ${step.verdict.action ?? '?'}${step.verdict.reason ? ` (${step.verdict.reason})` : ''}`;
  return `${mark} #${step.seq} ${step.type} ${name}  ${latency}${verdict}${tokens}${cost}${error}${attempts}${execution}`;
}

/**
 * One resume of the run by another agent version: the versions, the first step the new one took
 * (earlier steps were served from the journal) and what changed.
 */
export function renderVersionChange(change: RunTrace['version_changes'][number]): string {
  const changed = [
    ...(change.instructions_changed ? ['instructions changed'] : []),
    ...(change.tools_added.length > 0 ? [`tools added: ${change.tools_added.join(', ')}`] : []),
    ...(change.tools_removed.length > 0 ? [`tools removed: ${change.tools_removed.join(', ')}`] : []),
    ...(change.model_changed ? [`model ${change.model_changed.from} → ${change.model_changed.to}`] : []),
  ];
  return [`${change.from} → ${change.to} from #${change.at_seq}`, ...changed].join(' · ');
}
