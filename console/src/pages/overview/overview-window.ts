/**
 * The overview's windows (last hour, day, week, 30 days), kept in the URL as `?window=24h`, and
 * the time buckets its charts draw: the API groups runs by UTC hour or day (`group_by=hour|day`,
 * computed in SQL, only buckets with runs answered); the empty buckets are filled in here so a
 * chart's axis spans the whole window. (No imports: the browser tests' unit test loads it in Node.)
 */
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const WINDOWS = {
  '1h': { label: 'Last hour', ms: HOUR_MS, bucket: 'hour' },
  '24h': { label: 'Last 24 hours', ms: DAY_MS, bucket: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * DAY_MS, bucket: 'day' },
  '30d': { label: 'Last 30 days', ms: 30 * DAY_MS, bucket: 'day' },
} as const satisfies Record<string, { label: string; ms: number; bucket: 'hour' | 'day' }>;
export type WindowName = keyof typeof WINDOWS;
export const DEFAULT_WINDOW: WindowName = '24h';

export function isWindowName(value: string | null): value is WindowName {
  return value !== null && Object.hasOwn(WINDOWS, value);
}

/** A resolved window: ISO instants for the API, `from` inclusive, `to` exclusive. */
export interface ResolvedWindow {
  name: WindowName;
  from: string;
  to: string;
}

export function resolveWindow(name: WindowName, now: number): ResolvedWindow {
  return { name, from: new Date(now - WINDOWS[name].ms).toISOString(), to: new Date(now).toISOString() };
}

/** The window of the same length just before `window` (the comparison's A side). */
export function previousWindow(span: ResolvedWindow): { from: string; to: string } {
  const length = Date.parse(span.to) - Date.parse(span.from);
  return { from: new Date(Date.parse(span.from) - length).toISOString(), to: span.from };
}

/** One point of a time chart: a bucket and its figures (null where the bucket had no runs). */
export interface SeriesPoint {
  /** The bucket's start, ISO. */
  start: string;
  /** Short axis label ("14:00", "Dec 6"). */
  label: string;
  runs: number;
  success_rate: number | null;
  p95_duration_ms: number | null;
}

/** The API's key of the bucket that starts at `time` (`2026-11-01T13:00:00Z` or `2026-11-01`). */
function bucketKey(time: number, bucket: 'hour' | 'day'): string {
  const iso = new Date(time).toISOString();
  return bucket === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00:00Z`;
}

function bucketLabel(time: number, bucket: 'hour' | 'day'): string {
  const date = new Date(time);
  return bucket === 'day'
    ? date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' })
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Every bucket of the window in order, with the groups the API answered placed in theirs. */
export function fillSeries(
  span: ResolvedWindow,
  groups: readonly {
    key: string | null;
    runs: number;
    success_rate: number | null;
    p95_duration_ms: number | null;
  }[],
): SeriesPoint[] {
  const bucket = WINDOWS[span.name].bucket;
  const size = bucket === 'day' ? DAY_MS : HOUR_MS;
  const byKey = new Map(groups.map((group) => [group.key, group]));
  const points: SeriesPoint[] = [];
  const end = Date.parse(span.to);
  for (let start = Math.floor(Date.parse(span.from) / size) * size; start < end; start += size) {
    const group = byKey.get(bucketKey(start, bucket));
    points.push({
      start: new Date(start).toISOString(),
      label: bucketLabel(start, bucket),
      runs: group?.runs ?? 0,
      success_rate: group?.success_rate ?? null,
      p95_duration_ms: group?.p95_duration_ms ?? null,
    });
  }
  return points;
}
