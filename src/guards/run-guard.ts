import { z } from 'zod';
import { GuardError } from '../errors/guard-errors.js';
import type { Guard, GuardContext, GuardStage, GuardVerdict } from './guard.js';

/** One guard's verdict on one text, as the agent loop journals it. */
export interface GuardOutcome {
  guard: string;
  stage: GuardStage;
  verdict: GuardVerdict;
  /** How long the check took (a classifier's own latency is in `verdict.details.classifierMs`). */
  durationMs: number;
}

const Details = z.record(z.string(), z.unknown()).optional();
/** Verdicts come from user code: checked at this edge like any outside input. */
const Verdict = z.discriminatedUnion('action', [
  z.object({ action: z.literal('allow'), details: Details }),
  z.object({ action: z.literal('block'), reason: z.string().min(1), details: Details }),
  z.object({
    action: z.literal('redact'),
    text: z.string(),
    reason: z.string().optional(),
    details: Details,
  }),
  z.object({ action: z.literal('warn'), reason: z.string().min(1), details: Details }),
  z.object({
    action: z.literal('retry'),
    feedback: z.string().min(1),
    reason: z.string().optional(),
    details: Details,
  }),
]);

/** The guards of a list that run at `stage`, in the order given. */
export function guardsAt(guards: readonly Guard[], stage: GuardStage): Guard[] {
  return guards.filter((guard) => guard.stages.includes(stage));
}

/**
 * Runs one guard's check and returns its verdict, checked: a check that throws becomes a
 * `guard_failed` GuardError, a verdict of the wrong shape (or `retry` outside the output stage)
 * a `guard_invalid_verdict` one. An abort of the run is passed on as it is.
 */
export async function runGuard(guard: Guard, context: GuardContext): Promise<GuardOutcome> {
  if (!guard.stages.includes(context.stage)) {
    throw new GuardError(
      'guard_invalid_verdict',
      guard.name,
      context.stage,
      `the guard does not run at ${context.stage}`,
    );
  }
  const started = performance.now();
  let raw: unknown;
  try {
    raw = await guard.check(context);
  } catch (error) {
    if (context.signal?.aborted) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new GuardError('guard_failed', guard.name, context.stage, `the check threw: ${message}`, error);
  }
  const durationMs = performance.now() - started;
  const parsed = Verdict.safeParse(raw);
  if (!parsed.success) {
    throw new GuardError(
      'guard_invalid_verdict',
      guard.name,
      context.stage,
      `the check returned no valid verdict (${parsed.error.issues.map((issue) => issue.message).join('; ')})`,
    );
  }
  const verdict = parsed.data as GuardVerdict;
  if (verdict.action === 'retry' && context.stage !== 'output') {
    throw new GuardError(
      'guard_invalid_verdict',
      guard.name,
      context.stage,
      'retry is a verdict of the output stage only',
    );
  }
  return { guard: guard.name, stage: context.stage, verdict, durationMs };
}
