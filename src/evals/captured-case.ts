import type { Cassette, CassetteStep } from '../cassettes/cassette.js';
import { sessionMessageText } from '../runtime/session-history.js';
import type { RunFeedbackRecord } from '../feedback/feedback.js';
import type { RunOutcome } from '../feedback/outcomes.js';
import type { SessionMessage, ToolSimulation } from './suite.js';

/**
 * One eval case made from a production run, as a suite file writes it: scorers in the suite's
 * own YAML shape (`{ trajectory: { ... } }`), plus the comment that names its source run.
 */
export interface CapturedCase {
  /** The source run's id (`run_…`): unique, and it leads back to the run. */
  id: string;
  input: unknown;
  session?: SessionMessage[];
  tools?: Record<string, ToolSimulation>;
  tags: string[];
  expect: Record<string, unknown>[];
  /** True for a rejected outcome or negative feedback: the case checks the answer is not given again. */
  regression: boolean;
  /** Text of the YAML comment above the case (without `#`). */
  comment: string;
}

/**
 * A rejected answer shorter than this is checked with an exact "not this text" regex rather than
 * `not_contains`: a short text ("No.", "Paris") can well appear inside a right answer.
 */
const SHORT_OUTPUT = 40;
/** How much of an output a comment quotes. */
const QUOTED_CHARS = 1_000;

/**
 * Negative feedback: a thumbs down, or a score below 0.5. A comment alone says nothing either
 * way (it is quoted in the case's comment).
 */
export function isNegativeFeedback(feedback: Pick<RunFeedbackRecord, 'thumbs' | 'score'>): boolean {
  return feedback.thumbs === 'down' || (feedback.score !== null && feedback.score < 0.5);
}

/**
 * Turns an ended run (its cassette, as the journal stores it) into an eval case, or null when it
 * makes none: a run without an input, or one that neither completed nor was committed and was
 * not flagged (nothing accepted to pin, nothing rejected to guard against).
 *
 * - Accepted (completed or committed, not rejected, no negative feedback): the run's tool calls
 *   as a `strict` trajectory with every argument an exact matcher, and its stop reason.
 * - Regression (rejected outcome or negative feedback): the run must complete and must not give
 *   the rejected answer word for word (see {@link rejectedAnswerScorers}); the comment quotes the
 *   answer, its tool calls and the feedback, for the developer to sharpen the case.
 *
 * Tools whose journaled `effect` is `write` or `destructive` get a simulator answering what the
 * run recorded, so evaluating a captured case never repeats a production effect.
 */
export function buildCapturedCase({
  cassette,
  outcome,
  feedback,
}: {
  cassette: Cassette;
  outcome: Pick<RunOutcome, 'status'> | undefined;
  feedback: readonly RunFeedbackRecord[];
}): CapturedCase | null {
  if (cassette.input === null || cassette.input === undefined) return null;
  const negative = feedback.filter(isNegativeFeedback);
  const regression = outcome?.status === 'rejected' || negative.length > 0;
  if (!regression && cassette.status !== 'completed' && outcome?.status !== 'committed') return null;

  const toolSteps = cassette.steps.filter((step) => step.kind === 'tool');
  const session = cassette.session.flatMap((exchange): SessionMessage[] => [
    { role: 'user', content: sessionMessageText(exchange.input) },
    { role: 'assistant', content: sessionMessageText(exchange.output) },
  ]);
  const tools = effectSimulators(toolSteps);
  const tags = [
    'captured',
    ...(regression ? ['regression'] : []),
    ...(outcome ? [`outcome:${outcome.status}`] : []),
    ...(negative.length > 0 ? ['feedback:negative'] : []),
  ];
  const expect = regression
    ? [{ stop_reason: 'completed' }, ...rejectedAnswerScorers(cassette.output)]
    : [
        { trajectory: { mode: 'strict', steps: toolSteps.map(trajectoryStep) } },
        { stop_reason: cassette.stop_reason },
      ];
  return {
    id: cassette.run_id ?? 'run_unknown',
    input: cassette.input,
    ...(session.length > 0 ? { session } : {}),
    ...(Object.keys(tools).length > 0 ? { tools } : {}),
    tags,
    expect,
    regression,
    comment: caseComment({
      cassette,
      outcome,
      feedback,
      regression,
      toolSteps,
      simulated: Object.keys(tools),
    }),
  };
}

/**
 * What a regression case can defensibly check about an answer that was rejected, without knowing
 * the right one: that it is not given again word for word. A string of at least
 * {@link SHORT_OUTPUT} characters: `not_contains` of it (a long text reappearing inside another
 * answer is the same answer). A shorter one: a regex that fails only on that exact text
 * (surrounding whitespace aside). A structured output gets no text scorer: the journal stores it
 * as jsonb, whose key order is not the agent's, so its JSON text is not comparable.
 */
function rejectedAnswerScorers(output: unknown): Record<string, unknown>[] {
  if (typeof output !== 'string' || output.trim() === '') return [];
  const text = output.trim();
  if (text.length >= SHORT_OUTPUT) return [{ not_contains: { value: text } }];
  return [{ regex: { pattern: `^(?!\\s*${escapeRegex(text)}\\s*$)` } }];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function trajectoryStep(step: CassetteStep): string | { name: string; arguments: Record<string, unknown> } {
  const args = step.arguments;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return step.name;
  const exact = Object.fromEntries(
    Object.entries(args as Record<string, unknown>).filter(([, value]) => !looksLikeMatcher(value)),
  );
  return Object.keys(exact).length > 0 ? { name: step.name, arguments: exact } : step.name;
}

/**
 * An argument value that a suite would read as a matcher (`{ regex }`, `{ contains }`,
 * `{ any: true }`) rather than as a value: there is no way to quote it, so it is left unchecked
 * (and the comment lists the full arguments).
 */
function looksLikeMatcher(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return (
    (keys.includes('regex') && keys.every((key) => key === 'regex' || key === 'flags')) ||
    (keys.length === 1 && (keys[0] === 'contains' || keys[0] === 'any'))
  );
}

/** Simulators for the tools with effects: the first recorded answer (or error) of each. */
function effectSimulators(toolSteps: readonly CassetteStep[]): Record<string, ToolSimulation> {
  const tools: Record<string, ToolSimulation> = {};
  for (const step of toolSteps) {
    const effect = step.meta?.effect;
    if ((effect !== 'write' && effect !== 'destructive') || Object.hasOwn(tools, step.name)) continue;
    tools[step.name] =
      step.status === 'completed'
        ? { output: step.output ?? null }
        : { error: step.error?.message || `${step.name} failed` };
  }
  return tools;
}

function caseComment({
  cassette,
  outcome,
  feedback,
  regression,
  toolSteps,
  simulated,
}: {
  cassette: Cassette;
  outcome: Pick<RunOutcome, 'status'> | undefined;
  feedback: readonly RunFeedbackRecord[];
  regression: boolean;
  toolSteps: readonly CassetteStep[];
  simulated: readonly string[];
}): string {
  const lines = [
    `${regression ? 'Regression case' : 'Captured'} from run ${cassette.run_id ?? '(unknown)'}` +
      ` (${cassette.created_at ?? 'unknown time'}, prompt ${cassette.prompt_version ?? 'unknown'}):` +
      ` ${cassette.status}, stop reason ${cassette.stop_reason}, outcome ${outcome?.status ?? 'none'}.`,
  ];
  for (const each of feedback) lines.push(`Feedback: ${describeFeedback(each)}`);
  lines.push(
    `Tool calls: ${toolSteps.length === 0 ? 'none' : toolSteps.map((step) => `${step.name}(${oneLine(step.arguments)})`).join(', ')}`,
  );
  if (simulated.length > 0)
    lines.push(`Simulated with the recorded answer (tools with effects): ${simulated.join(', ')}.`);
  lines.push(`${regression ? 'Rejected output' : 'Output'}:`, ...quote(cassette.output));
  if (regression) {
    lines.push(
      'The scorers only check that the agent completes and does not give this answer again word for',
      'word: add what the right answer must contain or avoid (contains, tool_called, llm_judge).',
    );
  }
  return lines.join('\n');
}

function describeFeedback(feedback: RunFeedbackRecord): string {
  const parts = [
    ...(feedback.thumbs ? [`thumbs ${feedback.thumbs}`] : []),
    ...(feedback.score !== null ? [`score ${feedback.score}`] : []),
    ...(feedback.comment ? [JSON.stringify(feedback.comment)] : []),
  ];
  return `${parts.join(', ')} (${feedback.createdAt.toISOString()})`;
}

function oneLine(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value);
}

/** An output as indented comment lines, cut at {@link QUOTED_CHARS}. */
function quote(output: unknown): string[] {
  const text = output === undefined || output === null ? '(none)' : sessionMessageText(output);
  const cut =
    text.length > QUOTED_CHARS
      ? `${text.slice(0, QUOTED_CHARS)}… (${text.length - QUOTED_CHARS} more characters)`
      : text;
  return cut.split('\n').map((line) => `  ${line}`);
}
