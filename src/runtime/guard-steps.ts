import { serializeError } from '../errors/keel-error.js';
import type { LanguageModel } from '../model/model.js';
import type { RunRecord } from '../journal/types.js';
import type { Guard, GuardStage, GuardVerdict } from '../guards/guard.js';
import { guardsAt as guardsOfStage, runGuard } from '../guards/run-guard.js';
import type { DurableRun } from './durable-run.js';
import type { TextRedactor } from './redaction.js';

/** The guards an agent lists that run at `stage`, in order (none when it lists none). */
export function guardsAt(guards: readonly Guard[] | undefined, stage: GuardStage): readonly Guard[] {
  return guards === undefined ? [] : guardsOfStage(guards, stage);
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

/**
 * Runs the guards of a stage over a text, each verdict journaled as a step of kind `guard`
 * (parent: the step it guards) before anything the text leads to can happen. Guards run in
 * order, each on the text as the previous ones left it; the first `block` (or `retry`) ends the
 * pass. A replay returns the journaled verdicts without calling a guard again, so a classifier's
 * answer, a redaction and a block are the same on every execution.
 *
 * A guard that throws or answers something that is not a verdict (`runGuard` checks it) blocks:
 * a broken check must not wave a text through.
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
  toolOutputs,
  redact,
  meter,
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
  /** Output stage: the run's tool outputs so far (for grounding checks). */
  toolOutputs?: readonly string[];
  /** The run's redaction rules: the step's identity is taken from the text as journaled. */
  redact?: TextRedactor;
  /** Inside a run: meters a guard's model calls against the run's budgets (at the guard's seq). */
  meter?: (model: LanguageModel, seq: number) => LanguageModel;
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
        let outcome;
        try {
          outcome = await runGuard(guard, {
            stage,
            text: current,
            runId: run.id,
            agent: run.agent,
            tenantId: run.tenantId,
            signal,
            ...(meter === undefined ? {} : { meter: (model: LanguageModel) => meter(model, seq) }),
            ...(toolName === undefined ? {} : { toolName }),
            ...(toolOutputs === undefined ? {} : { toolOutputs }),
          });
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          // A check that throws or answers no verdict blocks: guards fail closed.
          const failure = serializeError(error);
          const reason = `${failure.message} (guards fail closed)`;
          return {
            status: 'failed',
            error: failure,
            output: { action: 'block', reason },
            meta: { stage, action: 'block', reason },
          };
        }
        const verdict = toRecorded(outcome.verdict);
        const meta = {
          stage,
          action: verdict.action,
          ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
          latencyMs: outcome.durationMs,
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

/** A checked verdict as the guard step journals it. */
function toRecorded(verdict: GuardVerdict): RecordedVerdict {
  const { action, details } = verdict;
  return {
    action,
    ...('reason' in verdict && verdict.reason !== undefined ? { reason: verdict.reason } : {}),
    ...(verdict.action === 'redact' ? { text: verdict.text } : {}),
    ...(verdict.action === 'retry' ? { feedback: verdict.feedback } : {}),
    ...(details === undefined ? {} : { details }),
  };
}
