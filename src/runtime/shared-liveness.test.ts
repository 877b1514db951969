import { afterEach, expect, it } from 'vitest';
import type { JournalStore } from '../journal/store.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { SHARED_LIVENESS_LINGER_MS, sharedLiveness } from './shared-liveness.js';

let store: JournalStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

it('gives the runAgent workers of one store one owner and one lock, kept a while after the last let go', async () => {
  store = await createMemoryStore();
  const first = sharedLiveness(store);
  const second = sharedLiveness(store);
  expect(second.owner).toBe(first.owner);
  const [a, b] = await Promise.all([first.hold(), second.hold()]);
  expect(a?.isHeld()).toBe(true);
  expect(b?.isHeld()).toBe(true);
  // The store holds the owner's lock once: a lock of its own under that owner is refused.
  await expect(store.holdLiveness(first.owner)).rejects.toThrow(/already held/);

  await a!.release();
  await a!.release(); // idempotent: does not count twice
  expect(b!.isHeld()).toBe(true);
  await b!.release();
  // Lingering: the next run reuses the lock without taking it again.
  await expect(store.holdLiveness(first.owner)).rejects.toThrow(/already held/);
  const next = await sharedLiveness(store).hold();
  expect(next?.isHeld()).toBe(true);
  await next!.release();

  // Given back once nobody used it for the linger time.
  await new Promise((resolve) => setTimeout(resolve, SHARED_LIVENESS_LINGER_MS + 300));
  const own = await store.holdLiveness(first.owner);
  expect(own?.isHeld()).toBe(true);
  await own!.release();
});

it('keeps stores apart', async () => {
  store = await createMemoryStore();
  const other = await createMemoryStore();
  try {
    expect(sharedLiveness(other).owner).not.toBe(sharedLiveness(store).owner);
  } finally {
    await other.close();
  }
});
