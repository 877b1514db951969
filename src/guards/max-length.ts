import { defineGuard, invalidGuardField } from './define-guard.js';
import type { Guard, GuardStage } from './guard.js';

/** The options of `guards.maxLength`. */
export interface MaxLengthOptions {
  /** The most characters a text may have (UTF-16 code units, as `string.length` counts). */
  max: number;
  /** Default: every stage. */
  stages?: readonly GuardStage[];
  /** Default `maxLength`. */
  name?: string;
}

/**
 * Blocks a text longer than `max`: a cheap first line against prompt stuffing and runaway tool
 * outputs, and a bound on what the other guards have to scan.
 */
export function maxLength({
  max,
  stages = ['input', 'tool_args', 'tool_output', 'output'],
  name = 'maxLength',
}: MaxLengthOptions): Guard {
  if (!Number.isInteger(max) || max < 1) throw invalidGuardField(name, 'max', 'must be a positive integer');
  return defineGuard({
    name,
    stage: stages,
    check: ({ text }) =>
      text.length > max
        ? {
            action: 'block',
            reason: `text is ${text.length} characters long, more than the ${max} allowed`,
            details: { length: text.length, max },
          }
        : { action: 'allow' },
  });
}
