// The measuring loop both eval benchmarks share (Keel's harness, promptfoo): each round runs
// every system at every concurrency, alternating which goes first, so a busy spell of the machine
// weighs on both; each sample has its wall and CPU time.
import { performance } from 'node:perf_hooks';

export const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);
export const CONCURRENCY = (process.env.KEEL_BENCH_EVAL_CONCURRENCY ?? '1,16').split(',').map(Number);

/** Wall and CPU time of `fn`, in ms. */
export async function timed(fn) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, value };
}

/** Samples `{ round, concurrency, system, ms, cpuMs }` of `systems.bare` and `systems.harness`. */
export async function measureRounds(systems) {
  const samples = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const concurrency of CONCURRENCY) {
      const order =
        (round + CONCURRENCY.indexOf(concurrency)) % 2 ? ['bare', 'harness'] : ['harness', 'bare'];
      for (const system of order) {
        const { ms, cpuMs } = await timed(() => systems[system](concurrency));
        samples.push({ round, concurrency, system, ms, cpuMs });
      }
    }
  }
  return samples;
}
