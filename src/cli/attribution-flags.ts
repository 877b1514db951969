import { KeelError } from '../errors/keel-error.js';
import { MAX_TRIGGER_LENGTH, MAX_USER_ID_LENGTH, assertRunAttribution } from '../runtime/run-attribution.js';
import { UsageError } from './usage-error.js';

/**
 * Checks `--user` and `--trigger` (of `keel run` and `keel runs`) as a run records them: a user
 * id of 1-200 and a trigger of 1-64 characters, no NUL or unpaired surrogate. Throws `UsageError`.
 */
export function checkAttributionFlags({ user, trigger }: { user?: string; trigger?: string }): void {
  try {
    assertRunAttribution({ userId: user, trigger });
  } catch (error) {
    if (!(error instanceof KeelError)) throw error;
    throw new UsageError(
      error.details.field === 'userId'
        ? `--user must be 1-${MAX_USER_ID_LENGTH} characters (no NUL or unpaired surrogate).`
        : `--trigger must be 1-${MAX_TRIGGER_LENGTH} characters (no NUL or unpaired surrogate).`,
    );
  }
}
