/**
 * Budget periods in UTC. A period is identified by a key that sorts and reads well in a counter
 * row: `2026-12-05T23` (hour), `2026-12-05` (day), `2026-12` (month), `total`, or the run id for a
 * per-run period. Every process derives the keys from its own clock, so a reservation made in the
 * last milliseconds of an hour may land in the next hour on a process whose clock runs ahead:
 * keep clocks synchronized (NTP); a budget is never overspent within one period either way.
 */

/** The periods a budget can have. */
export const BUDGET_PERIODS = ['run', 'hour', 'day', 'month', 'total'] as const;
/** The period a budget counts over: `run`, `hour`, `day`, `month` or `total`. */
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** The keys of the calendar periods that contain `now` (epoch ms). */
export function periodKeys(now: number): { hour: string; day: string; month: string } {
  const iso = new Date(now).toISOString();
  return { hour: iso.slice(0, 13), day: iso.slice(0, 10), month: iso.slice(0, 7) };
}

/** The key of `period` at `now` (the run id for `run`; undefined when a run period has no run). */
export function periodKeyOf(period: BudgetPeriod, now: number, runId?: string): string | undefined {
  if (period === 'total') return 'total';
  if (period === 'run') return runId;
  return periodKeys(now)[period];
}

/** Milliseconds from `now` until `period` resets; undefined for periods that never reset. */
export function periodResetMs(period: string, now: number): number | undefined {
  const date = new Date(now);
  let next: number;
  if (period === 'hour') {
    next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1);
  } else if (period === 'day') {
    next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  } else if (period === 'month') {
    next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  } else {
    return undefined;
  }
  return next - now;
}
