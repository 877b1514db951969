import { KeelError } from '../errors/keel-error.js';

/** Longest `userId` a run records (the same bound as other caller-chosen ids). */
export const MAX_USER_ID_LENGTH = 200;
/** Longest `trigger` a run records. */
export const MAX_TRIGGER_LENGTH = 64;

// Postgres stores neither a NUL nor an unpaired surrogate in text.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Checks the attribution of a run submitted in code (`runAgent`, `keel run`): a user id of
 * 1-200 and a trigger of 1-64 characters, neither with a NUL or an unpaired surrogate, so both
 * are stored and matched in SQL as they are. Throws `KeelError` `invalid_request` naming the field.
 */
export function assertRunAttribution({
  userId,
  trigger,
}: {
  userId?: string | null;
  trigger?: string | null;
}) {
  check('userId', userId, MAX_USER_ID_LENGTH);
  check('trigger', trigger, MAX_TRIGGER_LENGTH);
}

function check(field: string, value: string | null | undefined, max: number): void {
  if (value === undefined || value === null) return;
  if (
    typeof value !== 'string' ||
    value.length < 1 ||
    value.length > max ||
    value.includes('\u0000') ||
    UNPAIRED_SURROGATE.test(value)
  ) {
    throw new KeelError({
      code: 'invalid_request',
      message: `${field} must be a string of 1-${max} characters without NUL or unpaired surrogates.`,
      fault: 'caller',
      details: { field },
    });
  }
}
