// The closed loop both sides of the API benchmark use: `concurrency` submitters, each submits a
// run, waits until it has completed, and submits the next, until the time is up. Runs submitted
// during the warm-up are not recorded. Reports the ids of the measured runs (their times come
// from the database afterwards), runs/s (measured runs completed, over the time from the end of
// the warm-up until the last of them completed) and the client-side latency (submit → the
// submitter learns the run completed: includes the completion polling, see measure.js).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Value at quantile q (0..1) of a sorted array: nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summary(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
  };
}

/** `runOne()` submits one run and resolves with its id once it has completed (throws otherwise). */
export async function closedLoop({ concurrency, seconds, warmupSeconds, runOne }) {
  const ids = [];
  const client = [];
  let errors = 0;
  let errorSample;
  const start = performance.now();
  const warmEnd = start + warmupSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  let lastDone = warmEnd;

  async function submitter() {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const measured = t0 >= warmEnd;
      try {
        const id = await runOne();
        const t1 = performance.now();
        if (measured) {
          ids.push(id);
          client.push(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      } catch (error) {
        if (measured) errors++;
        errorSample ??= `${error.code ?? error.name}: ${error.message}`.slice(0, 300);
        await sleep(5); // a failing target answers fast: do not spin on it
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, submitter));
  const measuredSeconds = (Math.max(end, lastDone) - warmEnd) / 1000;
  return {
    concurrency,
    runs: ids.length,
    errors,
    errorSample,
    seconds: measuredSeconds,
    rps: ids.length / measuredSeconds,
    clientLatency: summary(client),
    ids,
  };
}

/**
 * Summary of per-run times read from a database ({ status, steps, firstStepMs, completedMs }):
 * submit → first step and submit → completed p50/p99 over the runs that completed with 3 steps.
 */
export function timesSummary(times, { expectedSteps = 3, done = ['completed', 'SUCCESS'] } = {}) {
  const ok = times.filter(
    (t) => done.includes(t.status) && t.steps === expectedSteps && t.firstStepMs !== null,
  );
  return {
    runs: times.length,
    counted: ok.length,
    odd: times.length - ok.length,
    firstStep: summary(ok.map((t) => t.firstStepMs)),
    completed: summary(ok.map((t) => t.completedMs)),
  };
}
