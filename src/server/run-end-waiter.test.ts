import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { createRunEndWaiter } from './run-end-waiter.js';

/** A store whose run-end notifications the test sends by hand. */
function fakeStore({ fail = false } = {}) {
  const listeners = new Set<(runId: string) => void>();
  let subscriptions = 0;
  return {
    store: {
      async onRunEnded(listener: (runId: string) => void) {
        subscriptions++;
        if (fail) throw new Error('LISTEN unavailable');
        listeners.add(listener);
        return async () => {
          listeners.delete(listener);
        };
      },
    },
    end: (runId: string) => {
      for (const listener of listeners) listener(runId);
    },
    subscriptions: () => subscriptions,
    listening: () => listeners.size,
  };
}

const settledWithin = async (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), ms))]);

describe('createRunEndWaiter', () => {
  it('wakes the watchers of a run when it ends, and only them, over one subscription', async () => {
    const fake = fakeStore();
    const waiter = createRunEndWaiter({ store: fake.store, logger: silentLogger });
    const a1 = waiter.watch('run_a');
    const a2 = waiter.watch('run_a');
    const b = waiter.watch('run_b');
    const waits = [a1.wait(60_000), a2.wait(60_000)];
    const waitB = b.wait(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    fake.end('run_a');
    expect(await settledWithin(Promise.all(waits), 1_000)).toBe(true);
    expect(await settledWithin(waitB, 50)).toBe(false);
    expect(fake.subscriptions()).toBe(1);
    for (const watch of [a1, a2, b]) watch.dispose();
    fake.end('run_b');
    await waiter.close();
    expect(fake.listening()).toBe(0);
  });

  it('remembers an end that came before the wait began', async () => {
    const fake = fakeStore();
    const waiter = createRunEndWaiter({ store: fake.store, logger: silentLogger });
    const watch = waiter.watch('run_a');
    await new Promise((resolve) => setImmediate(resolve));
    fake.end('run_a');
    expect(await settledWithin(watch.wait(60_000), 1_000)).toBe(true);
    watch.dispose();
    await waiter.close();
  });

  it('ends a wait after its time, or when the caller hangs up, even without notifications', async () => {
    const fake = fakeStore({ fail: true });
    const waiter = createRunEndWaiter({ store: fake.store, logger: silentLogger });
    const watch = waiter.watch('run_a');
    expect(await settledWithin(watch.wait(20), 1_000)).toBe(true);
    const hangUp = new AbortController();
    const waiting = watch.wait(60_000, hangUp.signal);
    hangUp.abort();
    expect(await settledWithin(waiting, 1_000)).toBe(true);
    watch.dispose();
    // A failed subscription is tried again by the next watch.
    waiter.watch('run_b').dispose();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.subscriptions()).toBe(2);
    await waiter.close();
  });
});
