import { serializeError, type SerializedError } from '../errors/keel-error.js';
import type { RunRecord } from '../journal/types.js';
import type { Guard, GuardStage, GuardVerdict } from '../guards/guard.js';
import type { Clock } from '../util/clock.js';
import type { DurableRun } from './durable-run.js';
import type { TextRedactor } from './redaction.js';

/** The guards of `guards` that run at `stage`, in the order the agent lists them. */
export function guardsAt(guards: readonly Guard[] | undefined, stage: GuardStage): readonly Guard[] {
  return (guards ?? []).filter((guard) => guard.stages.includes(stage));
}

/** What the guards of one stage decided about one text. */
export type GuardsOutcome =
  /** Go on with `text` (the original, or as the guards redacted it). */
  | { action: 'pass'; text: string }
  | { action: 'block'; guard: string; reason: string; seq: number }
  | { action: 'retry'; guard: string; feedback: string; text: string };

/** A verdict as a `guard` step journals it (its output). */
interface RecordedVerdict {
  action: GuardVerdict['action'];
  reason?: string;
  text?: string;
  feedback?: string;
  details?: Record<string, unknown>;
}

const ACTIONS = new Set(['allow', 'block', 'redact', 'warn', 'retry']);

/**
 * Runs the guards of a stage over a text, each verdict journaled as a step of kind `guard`
 * (parent: the step it guards) before anything the text leads to can happen. Guards run in
 * order, each on the text as the previous ones left it; the first `block` (or `retry`) ends the
 * pass. A replay returns the journaled verdicts without calling a guard again, so a classifier's
 * answer, a redaction and a block are the same on every execution.
 *
 * A guard that throws or answers something that is not a verdict blocks (fails closed): a
 * broken check must not wave a text through.
 */
export async function runGuardSteps({
  durable,
  guards,
  seqs,
  stage,
  text,
  parentSeq,
  run,
  toolName,
  signal,
  clock,
  toolOutputs,
  redact,
}: {
  durable: DurableRun;
  guards: readonly Guard[];
  /** One journal position per guard, allocated by the caller in a deterministic order. */
  seqs: readonly number[];
  stage: GuardStage;
  text: string;
  parentSeq: number | null;
  run: RunRecord;
  toolName?: string;
  signal: AbortSignal;
  clock: Clock;
  /** Output stage: the run's tool outputs so far (for grounding checks). */
  toolOutputs?: readonly string[];
  /** The run's redaction rules: the step's identity is taken from the text as journaled. */
  redact?: TextRedactor;
}): Promise<GuardsOutcome> {
  let current = text;
  for (const [index, guard] of guards.entries()) {
    const seq = seqs[index]!;
    const result = await durable.step(
      {
        seq,
        parentSeq,
        kind: 'guard',
        name: guard.name,
        input: {
          stage,
          text: redact ? redact(current) : current,
          ...(toolName === undefined ? {} : { tool: toolName }),
        },
        journalStart: false,
        meta: { stage },
      },
      async () => {
        const started = clock.now();
        let verdict: RecordedVerdict;
        try {
          verdict = toRecorded(
            await guard.check({
              stage,
              text: current,
              runId: run.id,
              agent: run.agent,
              tenantId: run.tenantId,
              signal,
              ...(toolName === undefined ? {} : { toolName }),
              ...(toolOutputs === undefined ? {} : { toolOutputs: [...toolOutputs] }),
            }),
            stage,
          );
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          const failure = guardFailure(guard.name, error);
          return {
            status: 'failed',
            error: failure,
            output: { action: 'block', reason: failure.message },
            meta: { stage, action: 'block', reason: failure.message, latencyMs: clock.now() - started },
          };
        }
        const meta = {
          stage,
          action: verdict.action,
          ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
          latencyMs: clock.now() - started,
        };
        return { status: 'completed', output: verdict, meta };
      },
    );
    const verdict = (result.output ?? { action: 'block', reason: 'guard failed' }) as RecordedVerdict;
    if (result.status === 'failed' || verdict.action === 'block') {
      const reason = verdict.reason ?? (result.status === 'failed' ? result.error.message : 'blocked');
      return { action: 'block', guard: guard.name, reason, seq };
    }
    if (verdict.action === 'retry') {
      return { action: 'retry', guard: guard.name, feedback: verdict.feedback ?? '', text: current };
    }
    if (verdict.action === 'redact' && typeof verdict.text === 'string') current = verdict.text;
  }
  return { action: 'pass', text: current };
}

/** A guard's answer as journaled; anything that is not a verdict of this stage throws. */
function toRecorded(verdict: GuardVerdict, stage: GuardStage): RecordedVerdict {
  if (typeof verdict !== 'object' || verdict === null || !ACTIONS.has(verdict.action)) {
    throw new Error(`returned ${JSON.stringify(verdict)}, not a verdict`);
  }
  const details = verdict.details === undefined ? {} : { details: verdict.details };
  switch (verdict.action) {
    case 'allow':
      return { action: 'allow', ...details };
    case 'block':
    case 'warn':
      return { action: verdict.action, reason: String(verdict.reason ?? ''), ...details };
    case 'redact':
      if (typeof verdict.text !== 'string') throw new Error('answered redact without the replacement text');
      return {
        action: 'redact',
        text: verdict.text,
        ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
        ...details,
      };
    case 'retry':
      if (stage !== 'output') throw new Error(`answered retry at the ${stage} stage (output only)`);
      return {
        action: 'retry',
        feedback: String(verdict.feedback ?? ''),
        ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
        ...details,
      };
  }
}

function guardFailure(name: string, error: unknown): SerializedError {
  const cause = serializeError(error);
  return {
    code: 'guard_failed',
    message: `Guard "${name}" failed (${cause.message}); the text is blocked (guards fail closed).`,
    fault: 'system',
    retryable: false,
  };
}
