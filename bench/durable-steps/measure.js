// Child process of the durable-step benchmark: `node durable-steps/measure.js <system>`.
// Runs the system's agent with N = 0, 10, 50 tool calls (2N + 1 durable steps: N + 1 model
// calls, N tool calls), KEEL_BENCH_REPS times (default 5), in a database of its own, and
// reports the least-squares slope of run time over durable steps of each repetition and their
// median. run.js runs several such rounds per system, interleaving the systems, and pools them.
import { performance } from 'node:perf_hooks';
import { childMain } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { installQueryCounter, queryCount } from '../lib/query-count.js';
import { leastSquares, median } from '../lib/stats.js';

export const NS = [0, 10, 50];
const REPS = Number(process.env.KEEL_BENCH_REPS ?? 5);
const WARMUP = [0, 10, 50, 0, 10, 50];

const SYSTEMS = {
  floor: () => import('./floor.js'),
  dbos: () => import('./dbos.js'),
  langgraph: () => import('./langgraph.js'),
  keel: () => import('./keel.js'),
};

/** Durable steps of one run with n tool calls: n + 1 model calls and n tool calls. */
export const durableSteps = (n) => 2 * n + 1;

await childMain(async ([system]) => {
  const load = SYSTEMS[system];
  if (!load) throw new Error(`unknown system ${system}`);
  installQueryCounter();
  const impl = await load();
  const db = benchDatabase(`keel_bench_steps_${system}`);
  const databaseUrl = await freshDatabase(db);
  let sut;
  try {
    sut = await impl.setup({ databaseUrl });
    for (const n of WARMUP) await sut.run(n);
    const slopes = [];
    const intercepts = [];
    const times = Object.fromEntries(NS.map((n) => [n, []]));
    for (let rep = 0; rep < REPS; rep++) {
      const xs = [];
      const ys = [];
      for (const n of NS) {
        const start = performance.now();
        await sut.run(n);
        const ms = performance.now() - start;
        times[n].push(ms);
        xs.push(durableSteps(n));
        ys.push(ms);
      }
      const fit = leastSquares(xs, ys);
      slopes.push(fit.slope);
      intercepts.push(fit.intercept);
    }
    // Untimed: SQL round trips per durable step, from the difference between N = 50 and N = 0.
    let before = queryCount();
    await sut.run(0);
    const q0 = queryCount() - before;
    before = queryCount();
    await sut.run(50);
    const q50 = queryCount() - before;
    return {
      system: impl.name,
      queriesPerStep: (q50 - q0) / (durableSteps(50) - durableSteps(0)),
      queriesPerRun0: q0,
      reps: REPS,
      msPerStep: median(slopes),
      slopes,
      msPerRun0: median(intercepts),
      medianRunMs: Object.fromEntries(NS.map((n) => [n, median(times[n])])),
      times,
    };
  } finally {
    await sut?.close().catch(() => {});
    await dropDatabase(db);
  }
});
