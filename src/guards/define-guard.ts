import { ConfigError } from '../errors/config-errors.js';
import { GUARD_STAGES, type Guard, type GuardContext, type GuardStage, type GuardVerdict } from './guard.js';

/** What `defineGuard` takes. */
export interface GuardOptions {
  /** Names the guard in the journal's `guard` steps and in traces: letters, digits, `_ . : -`. */
  name: string;
  /** The stage or stages the guard runs at. */
  stage: GuardStage | readonly GuardStage[];
  check(context: GuardContext): Promise<GuardVerdict> | GuardVerdict;
  /** Output stage: how many times a `retry` verdict may re-ask the model. Default 2. */
  maxRetries?: number;
}

export const DEFAULT_GUARD_MAX_RETRIES = 2;
const GUARD_NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

/**
 * A guard from its definition, checked once here so that a bad one fails when the config loads
 * rather than in the middle of a run.
 */
export function defineGuard({
  name,
  stage,
  check,
  maxRetries = DEFAULT_GUARD_MAX_RETRIES,
}: GuardOptions): Guard {
  if (typeof name !== 'string' || !GUARD_NAME.test(name)) {
    throw invalidGuardField(
      String(name),
      'name',
      'must start with a letter and hold only letters, digits and _ . : - (at most 64)',
    );
  }
  const stages = validStages(name, stage);
  if (typeof check !== 'function') throw invalidGuardField(name, 'check', 'must be a function');
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 10) {
    throw invalidGuardField(name, 'maxRetries', 'must be an integer from 0 to 10');
  }
  return { name, stages, maxRetries, check };
}

/** The stages as a non-empty list without duplicates, each one of GUARD_STAGES. */
function validStages(name: string, stage: GuardStage | readonly GuardStage[]): readonly GuardStage[] {
  const list: readonly unknown[] = Array.isArray(stage) ? stage : [stage];
  if (list.length === 0) throw invalidGuardField(name, 'stage', 'must name at least one stage');
  for (const each of list) {
    if (!GUARD_STAGES.includes(each as GuardStage)) {
      throw invalidGuardField(name, 'stage', `"${String(each)}" is not one of ${GUARD_STAGES.join(', ')}`);
    }
  }
  return Object.freeze([...new Set(list as GuardStage[])]);
}

/**
 * The `config_invalid` error for one field of a guard's definition (or of a built-in guard's
 * options), naming the guard and the field.
 */
export function invalidGuardField(guard: string, field: string, problem: string): ConfigError {
  return new ConfigError('config_invalid', `Guard "${guard}": ${field} ${problem}.`, { guard, field });
}
