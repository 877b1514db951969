/**
 * What an analytics request asks for, resolved into windows: the HTTP query string and the CLI's
 * flags are validated by the same zod schemas (server/analytics-schemas.ts), then resolved here.
 * Bad input is a 400 `invalid_request` naming the field, never a query that runs.
 */
import { KeelError } from '../errors/keel-error.js';

/** The window when none is given: the last 7 days. */
export const DEFAULT_WINDOW_DAYS = 7;
/** The longest window a request may ask for (a quarter): bounds what one query reads. */
export const MAX_WINDOW_DAYS = 93;
/** A run that ended this many days ago without an outcome counts as abandoned (default). */
export const DEFAULT_ABANDONED_AFTER_DAYS = 7;

/**
 * How `groups[]` is keyed: a run's agent, prompt version, model (its first model step's), tenant,
 * user, UTC day or UTC hour (the time buckets a chart over a day or a week draws).
 */
export const GROUP_BY = ['agent', 'prompt_version', 'model', 'tenant', 'user', 'day', 'hour'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export const DAY_MS = 86_400_000;
/** Times the database stores as timestamptz and JavaScript prints as plain ISO: years 1970-9999. */
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(10_000, 0, 1) - 1;

/** A summary request (`GET /v1/analytics/summary`, `keel stats`), as validated at the edge. */
export interface SummaryQuery {
  from?: string | undefined;
  to?: string | undefined;
  agent?: string | undefined;
  tenant?: string | undefined;
  group_by?: GroupBy | undefined;
  abandoned_after_days?: number | undefined;
}

/** A compare request (`GET /v1/analytics/compare`, `keel stats --compare`): two windows or two versions. */
export interface CompareQuery {
  a_from?: string | undefined;
  a_to?: string | undefined;
  b_from?: string | undefined;
  b_to?: string | undefined;
  a_version?: string | undefined;
  b_version?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  agent?: string | undefined;
  tenant?: string | undefined;
  abandoned_after_days?: number | undefined;
}

/** A time window: `from` inclusive, `to` exclusive. */
export interface TimeWindow {
  from: Date;
  to: Date;
}

/** A request's error in one field: 400 `invalid_request`, the field named first in the message. */
export function invalidField(field: string, message: string): KeelError {
  return new KeelError({
    code: 'invalid_request',
    message: `Invalid request: ${field}: ${message}`,
    fault: 'caller',
    details: { field },
  });
}

/**
 * The window of `from`/`to` (named `fromField`/`toField` in errors): defaults to the
 * {@link DEFAULT_WINDOW_DAYS} days before `to`, `to` defaulting to `now`. `to` must be after
 * `from`, and the window at most {@link MAX_WINDOW_DAYS} days long.
 */
export function resolveWindow({
  from,
  to,
  now,
  fromField = 'from',
  toField = 'to',
}: {
  from: string | undefined;
  to: string | undefined;
  now: number;
  fromField?: string;
  toField?: string;
}): TimeWindow {
  const end = to === undefined ? new Date(now) : new Date(to);
  const start = from === undefined ? new Date(end.getTime() - DEFAULT_WINDOW_DAYS * DAY_MS) : new Date(from);
  for (const [field, time] of [
    [fromField, start.getTime()],
    [toField, end.getTime()],
  ] as const) {
    if (!(time >= EARLIEST && time <= LATEST))
      throw invalidField(field, 'must be a time in the years 1970 to 9999.');
  }
  if (end.getTime() <= start.getTime()) throw invalidField(toField, `must be after ${fromField}.`);
  if (end.getTime() - start.getTime() > MAX_WINDOW_DAYS * DAY_MS)
    throw invalidField(
      fromField,
      `the window is at most ${MAX_WINDOW_DAYS} days (${fromField} to ${toField}).`,
    );
  return { from: start, to: end };
}

/** The two samples a compare request names, resolved (see `compareQuery`). */
export interface CompareSides {
  mode: 'windows' | 'versions';
  a: { window: TimeWindow; promptVersion: string | null };
  b: { window: TimeWindow; promptVersion: string | null };
}

/**
 * Resolves a compare request: either all four of `a_from`, `a_to`, `b_from`, `b_to` (two windows),
 * or `agent` with `a_version` and `b_version` (two prompt versions over `from`/`to`). Mixing
 * them, or giving only some, is a 400 naming the missing field.
 */
export function resolveCompareSides(query: CompareQuery, now: number): CompareSides {
  const windowFields = ['a_from', 'a_to', 'b_from', 'b_to'] as const;
  const versionFields = ['a_version', 'b_version'] as const;
  const hasWindows = windowFields.some((field) => query[field] !== undefined);
  const hasVersions = versionFields.some((field) => query[field] !== undefined);
  if (hasWindows && hasVersions)
    throw invalidField(
      'a_version',
      'compare two windows (a_from, a_to, b_from, b_to) or two versions, not both.',
    );
  if (hasVersions) {
    for (const field of versionFields)
      if (query[field] === undefined) throw invalidField(field, 'is required.');
    if (query.agent === undefined) throw invalidField('agent', 'is required to compare prompt versions.');
    const window = resolveWindow({ from: query.from, to: query.to, now });
    return {
      mode: 'versions',
      a: { window, promptVersion: query.a_version! },
      b: { window, promptVersion: query.b_version! },
    };
  }
  if (!hasWindows)
    throw invalidField('a_from', 'give a_from, a_to, b_from and b_to, or agent, a_version and b_version.');
  for (const field of windowFields) if (query[field] === undefined) throw invalidField(field, 'is required.');
  if (query.from !== undefined || query.to !== undefined)
    throw invalidField(query.from !== undefined ? 'from' : 'to', 'not used when comparing two windows.');
  return {
    mode: 'windows',
    a: {
      window: resolveWindow({
        from: query.a_from,
        to: query.a_to,
        now,
        fromField: 'a_from',
        toField: 'a_to',
      }),
      promptVersion: null,
    },
    b: {
      window: resolveWindow({
        from: query.b_from,
        to: query.b_to,
        now,
        fromField: 'b_from',
        toField: 'b_to',
      }),
      promptVersion: null,
    },
  };
}
