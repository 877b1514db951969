import { expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { createCoalescer } from './coalescer.js';

/** A runner that records what it was sent and answers when told to. */
function createRunner() {
  const batches: number[][] = [];
  const singles: number[] = [];
  const waiting: (() => void)[] = [];
  let failBatch: unknown;
  const gate = () => new Promise<void>((resolve) => waiting.push(resolve));
  return {
    batches,
    singles,
    failNextBatch: (error: unknown) => (failBatch = error),
    openGates: () => waiting.splice(0).forEach((resolve) => resolve()),
    runBatch: async (requests: readonly number[]) => {
      batches.push([...requests]);
      await gate();
      if (failBatch !== undefined) {
        const error = failBatch;
        failBatch = undefined;
        throw error;
      }
      return requests.map((request) => request * 10);
    },
    runOne: async (request: number) => {
      singles.push(request);
      await gate();
      if (request < 0) throw new Error(`bad ${request}`);
      return request * 10;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

it('sends a lone request alone, and what arrives while one is out as the next batch, in order', async () => {
  const runner = createRunner();
  const coalescer = createCoalescer({ ...runner, maxInFlight: 1, maxBatchSize: 3 });
  const first = coalescer.submit(1);
  await tick();
  expect(runner.singles).toEqual([1]);
  const rest = [2, 3, 4, 5].map((request) => coalescer.submit(request));
  await tick();
  expect(runner.batches).toEqual([]);
  runner.openGates();
  expect(await first).toBe(10);
  await tick();
  // At most 3 a batch: 2, 3, 4 now, then 5 alone.
  expect(runner.batches).toEqual([[2, 3, 4]]);
  runner.openGates();
  await tick();
  expect(runner.singles).toEqual([1, 5]);
  runner.openGates();
  expect(await Promise.all(rest)).toEqual([20, 30, 40, 50]);
});

it('requests made in one tick go together; up to maxInFlight batches are out at once', async () => {
  const runner = createRunner();
  const coalescer = createCoalescer({ ...runner, maxInFlight: 2, maxBatchSize: 2 });
  const all = [1, 2, 3, 4, 5].map((request) => coalescer.submit(request));
  await tick();
  expect(runner.batches).toEqual([
    [1, 2],
    [3, 4],
  ]);
  runner.openGates();
  await tick();
  expect(runner.singles).toEqual([5]);
  runner.openGates();
  expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
});

it('a failed batch is retried one request at a time, so a bad request fails alone', async () => {
  const runner = createRunner();
  const coalescer = createCoalescer({ ...runner, maxInFlight: 1 });
  runner.failNextBatch(new Error('duplicate key'));
  const all = Promise.allSettled([1, -2, 3].map((request) => coalescer.submit(request)));
  await tick();
  runner.openGates();
  // One at a time, in order.
  for (const expected of [[1], [1, -2], [1, -2, 3]]) {
    await tick();
    expect(runner.singles).toEqual(expected);
    runner.openGates();
  }
  const outcomes = await all;
  expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : 'failed'))).toEqual([
    10,
    'failed',
    30,
  ]);
});

it('an unreachable database fails the whole batch, retrying nothing (fail closed)', async () => {
  const runner = createRunner();
  const coalescer = createCoalescer({ ...runner, maxInFlight: 1 });
  runner.failNextBatch(new DatabaseUnavailableError('database unreachable'));
  const all = Promise.allSettled([1, 2].map((request) => coalescer.submit(request)));
  await tick();
  runner.openGates();
  const outcomes = await all;
  expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
  expect(runner.singles).toEqual([]);
});
