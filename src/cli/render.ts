import type { RunEvent } from '../runtime/run-events.js';
import type { RunView, StepView } from '../server/run-views.js';
import { renderTable } from '../util/text-table.js';

export { renderTable };

const dollars = (value: number | null | undefined) => `$${(value ?? 0).toFixed(6)}`;

/** One line of live progress for a step event (TTY only). */
export function renderEvent(event: RunEvent): string | undefined {
  if (event.type === 'run-start' && event.replayedSteps > 0) {
    return `↻ resuming ${event.runId} (attempt ${event.attempt}, ${event.replayedSteps} recorded steps)\n`;
  }
  if (event.type === 'run-wait') return renderWait(event);
  if (event.type !== 'step-end') return undefined;
  const mark = event.status === 'completed' ? '✓' : '✗';
  const tokens = event.usage ? `  ${event.usage.inputTokens}→${event.usage.outputTokens} tok` : '';
  const error = event.error ? `  ${event.error.code}: ${event.error.message}` : '';
  const replay = event.replayed ? ' (replayed)' : '';
  return `${mark} ${event.kind.padEnd(5)} ${event.name}${replay}  ${event.durationMs} ms${tokens}${error}\n`;
}

/** A progress line for a run that waits to retry a model call (it holds no worker meanwhile). */
export function renderWait({ until, reason, attempts }: { until: string; reason: string; attempts: number }) {
  return `… waiting until ${until} to retry the model call (${reason}, ${attempts} attempt(s) so far)\n`;
}

/** A step as a progress line, for runs followed through the API. */
export function renderStep(step: StepView): string {
  const mark = step.status === 'completed' ? '✓' : step.status === 'failed' ? '✗' : '…';
  const duration = step.ended_at ? Date.parse(step.ended_at) - Date.parse(step.started_at) : 0;
  const estimated = step.usage_source === 'estimated' ? ' (estimated)' : '';
  const tokens = step.usage ? `  ${step.usage.input_tokens}→${step.usage.output_tokens} tok${estimated}` : '';
  const error = step.error ? `  ${step.error.code}: ${step.error.message}` : '';
  const attempts = step.attempt > 1 && step.kind === 'model' ? `  (${step.attempt} attempts)` : '';
  return `${mark} ${step.kind.padEnd(5)} ${step.name}  ${duration} ms${tokens}${attempts}${error}\n`;
}

/** The summary printed after a run: stop reason, tokens, cost, id. */
export function renderSummary(run: RunView): string {
  const tokens = run.usage.input_tokens + run.usage.output_tokens;
  const error =
    run.error && run.stop_reason !== 'completed' ? `\nerror: ${run.error.code}: ${run.error.message}` : '';
  return `\n${run.stop_reason ?? run.status} · ${run.step_count} steps · ${tokens} tokens (${run.usage.input_tokens} in, ${run.usage.output_tokens} out) · ${dollars(run.cost_usd)} · ${run.id}${error}\n`;
}

/** The output of a run as text. */
export function renderOutput(output: unknown): string {
  if (output === null || output === undefined) return '';
  return (typeof output === 'string' ? output : JSON.stringify(output, null, 2)) + '\n';
}

/** A table of runs for `keel runs`. */
export function renderRunTable(runs: RunView[]): string {
  if (runs.length === 0) return 'No runs yet.\n';
  const rows = runs.map((run) => [
    run.id,
    run.agent,
    run.waiting ? `waiting until ${run.waiting.until.slice(11, 19)} (${run.waiting.reason})` : run.status,
    run.stop_reason ?? '',
    String(run.step_count),
    dollars(run.cost_usd),
    run.created_at.replace('T', ' ').slice(0, 19),
  ]);
  return renderTable(['ID', 'AGENT', 'STATUS', 'STOP', 'STEPS', 'COST', 'CREATED'], rows);
}

/** Dead runs for `keel runs --dead`: why each died and whether it was retried. */
export function renderDeadRunTable(runs: RunView[]): string {
  if (runs.length === 0) return 'No dead runs.\n';
  const rows = runs.map((run) => {
    const error = run.error ? `${run.error.code}: ${run.error.message}` : '';
    return [
      run.id,
      run.agent,
      error.length > 60 ? `${error.slice(0, 59)}…` : error,
      String(run.attempts),
      run.retried_by ?? '-',
      (run.ended_at ?? run.created_at).replace('T', ' ').slice(0, 19),
    ];
  });
  return renderTable(['ID', 'AGENT', 'ERROR', 'ATTEMPTS', 'RETRIED BY', 'ENDED'], rows);
}

/** A run and its journal for `keel show` and `keel runs show`. */
export function renderRunDetail(run: RunView, steps: StepView[]): string {
  let text = `run       ${run.id}\nagent     ${run.agent}\nstatus    ${run.status}${run.stop_reason ? ` (${run.stop_reason})` : ''}\n`;
  if (run.waiting) {
    const { until, reason, message, seq, attempts } = run.waiting;
    text += `waiting   until ${until} to retry step ${seq} (${attempts} attempt(s) so far): ${reason}: ${message}\n`;
  }
  text += `attempts  ${run.attempts}\ncreated   ${run.created_at}\nended     ${run.ended_at ?? '-'}\n`;
  text += `usage     ${run.usage.input_tokens} in, ${run.usage.output_tokens} out · ${dollars(run.cost_usd)}\n`;
  text += `input     ${typeof run.input === 'string' ? run.input : JSON.stringify(run.input)}\n`;
  if (run.error) text += `error     ${run.error.code}: ${run.error.message}\n`;
  if (run.retry_of) text += `retry of  ${run.retry_of}\n`;
  if (run.retried_by) text += `retried   by ${run.retried_by}\n`;
  text += `\nsteps\n`;
  for (const step of steps) text += `  ${String(step.seq).padStart(3)} ${renderStep(step)}`;
  if (run.output !== null && run.output !== undefined) text += `\noutput\n${renderOutput(run.output)}`;
  return text;
}

/**
 * An approval a run waits on, with the commands that decide it (stderr of `keel run`): a run
 * that suspends is never left waiting without saying on what.
 */
export function renderApprovalRequest(approval: {
  id: string;
  run_id: string;
  tool: string;
  arguments: unknown;
  expires_at: string | null;
}): string {
  const args = JSON.stringify(approval.arguments) ?? 'null';
  const shown = args.length > 500 ? `${args.slice(0, 499)}…` : args;
  const expires = approval.expires_at === null ? '' : `, expires ${approval.expires_at}`;
  return (
    `⏸ approval needed: ${approval.tool} ${shown}\n` +
    `  approval ${approval.id} (run ${approval.run_id}${expires})\n` +
    `  approve: keel approvals approve ${approval.id}\n` +
    `  reject:  keel approvals reject ${approval.id} --reason "..."\n`
  );
}

/**
 * Escape sequences (CSI, OSC, and the rest) and every control character but newline and tab.
 * Text from a model, a tool or a run's error can carry them, and on a terminal they would move
 * the cursor, clear the screen, set the title or write the clipboard (OSC 52): a prompt-injected
 * model could overwrite the approval line it is asking a human to read.
 */
const TERMINAL_CONTROLS =
  // eslint-disable-next-line no-control-regex
  /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Text made safe to write to a terminal: escape sequences and control characters removed. */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROLS, '');
}
