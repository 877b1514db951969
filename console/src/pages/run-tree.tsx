/**
 * A run's steps as a tree (from `GET /v1/runs/{id}/trace`): each model step with the tool calls
 * and approvals it asked for nested under it, tool calls of one turn side by side (they ran in
 * parallel), guard steps under the step they checked, and every execution of a step that ran
 * more than once. Each step shows its tokens, cost and latency; a step can be selected to read
 * its decision (model steps) and payload.
 */
import { ms, usd } from '../components/format';
import type { TraceStep } from './runs-api';

export interface RunTreeProps {
  steps: TraceStep[];
  selected: number | undefined;
  onSelect(seq: number): void;
  /** Text streamed so far by open model steps, by seq. */
  streamed: ReadonlyMap<number, string>;
}

/** Children of each step, in journal order; roots are steps without a parent (or a missing one). */
function childrenOf(steps: TraceStep[]): { roots: TraceStep[]; children: Map<number, TraceStep[]> } {
  const bySeq = new Set(steps.map((step) => step.seq));
  const children = new Map<number, TraceStep[]>();
  const roots: TraceStep[] = [];
  for (const step of [...steps].sort((a, b) => a.seq - b.seq)) {
    if (step.parent_seq === null || !bySeq.has(step.parent_seq)) roots.push(step);
    else children.set(step.parent_seq, [...(children.get(step.parent_seq) ?? []), step]);
  }
  return { roots, children };
}

export function RunTree({ steps, selected, onSelect, streamed }: RunTreeProps) {
  if (steps.length === 0) return <p className="muted">No steps yet.</p>;
  const { roots, children } = childrenOf(steps);
  return (
    <ol className="run-tree" aria-label="Steps">
      {roots.map((step) => (
        <StepNode
          key={step.seq}
          step={step}
          childrenOf={children}
          selected={selected}
          onSelect={onSelect}
          streamed={streamed}
        />
      ))}
    </ol>
  );
}

function StepNode({
  step,
  childrenOf: children,
  selected,
  onSelect,
  streamed,
}: {
  step: TraceStep;
  childrenOf: Map<number, TraceStep[]>;
  selected: number | undefined;
  onSelect(seq: number): void;
  streamed: ReadonlyMap<number, string>;
}) {
  const below = children.get(step.seq) ?? [];
  const guards = below.filter((child) => child.type === 'guard');
  const calls = below.filter((child) => child.type !== 'guard');
  const text = streamed.get(step.seq);
  const props = { childrenOf: children, selected, onSelect, streamed };
  return (
    <li className={`step step-${step.type}`} data-seq={step.seq} data-type={step.type}>
      <StepCard step={step} selected={selected === step.seq} onSelect={onSelect} />
      {text !== undefined && step.ok === null && (
        <p className="streamed" aria-live="polite" aria-label={`Text streamed by step ${step.seq}`}>
          {text}
        </p>
      )}
      {guards.length > 0 && (
        <ol className="guards" aria-label={`Guards of step ${step.seq}`}>
          {guards.map((guard) => (
            <StepNode key={guard.seq} step={guard} {...props} />
          ))}
        </ol>
      )}
      {calls.length > 0 && (
        <ol
          className={calls.length > 1 ? 'calls parallel' : 'calls'}
          aria-label={
            calls.length > 1
              ? `${calls.length} calls of step ${step.seq}, in parallel`
              : `Call of step ${step.seq}`
          }
        >
          {calls.map((call) => (
            <StepNode key={call.seq} step={call} {...props} />
          ))}
        </ol>
      )}
    </li>
  );
}

function StepCard({
  step,
  selected,
  onSelect,
}: {
  step: TraceStep;
  selected: boolean;
  onSelect(seq: number): void;
}) {
  const state = step.ok === null ? 'running' : step.ok ? 'ok' : 'failed';
  const kind = step.type === 'llm' ? 'model' : step.type;
  return (
    <button
      type="button"
      className={`step-card ${state}`}
      aria-pressed={selected}
      onClick={() => onSelect(step.seq)}
    >
      <span className="step-head">
        <span className={`badge ${state === 'ok' ? 'ok' : state === 'failed' ? 'bad' : 'warn'}`}>{kind}</span>
        <strong className="step-name">{step.type === 'llm' ? (step.model ?? step.name) : step.name}</strong>
        <span className="muted">#{step.seq}</span>
      </span>
      <span className="step-facts">
        {step.tokens_in !== null && (
          <span title="tokens in / out">
            {step.tokens_in} → {step.tokens_out ?? 0} tok
          </span>
        )}
        {step.cost_usd !== null && <span>{usd(step.cost_usd)}</span>}
        <span>{step.latency_ms === null ? 'running…' : ms(step.latency_ms)}</span>
        {state === 'failed' && <span className="step-error">failed</span>}
        {step.error_code !== null && <code className="step-error">{step.error_code}</code>}
        {step.verdict !== null && (
          <span>
            {step.verdict.stage} · <strong>{step.verdict.action}</strong>
            {step.verdict.reason !== null && ` · ${step.verdict.reason}`}
          </span>
        )}
      </span>
      {step.executions.length > 1 && (
        <span className="executions">
          {step.executions.map((execution, index) => (
            <span key={index} className="execution">
              execution {index + 1} (attempt {execution.attempt}): {execution.end ?? 'running'}
            </span>
          ))}
        </span>
      )}
    </button>
  );
}
