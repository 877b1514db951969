import { afterEach, describe, expect, it } from 'vitest';
import { SessionBusyError } from '../errors/session-errors.js';
import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';
import { toHttpError } from '../server/http-errors.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { submitSessionRun, type SessionPolicy, type SessionStore } from './session-policy.js';

const SUBMISSIONS = 10;

type Replica = Omit<Parameters<typeof submitSessionRun>[0], 'run' | 'policy'>;

function submitAll(stores: readonly Replica[], sessionId: string, policy: SessionPolicy) {
  return Promise.allSettled(
    Array.from({ length: SUBMISSIONS }, (_, index) =>
      submitSessionRun({
        ...stores[index % stores.length]!,
        policy,
        run: { agent: 'echo', input: `message ${index}`, sessionId, tenantId: 'acme' },
      }),
    ),
  );
}

function expectOneAccepted(results: PromiseSettledResult<unknown>[]) {
  const accepted = results.filter((result) => result.status === 'fulfilled');
  const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  expect(accepted).toHaveLength(1);
  expect(refused).toHaveLength(SUBMISSIONS - 1);
  for (const error of refused) {
    expect(error).toMatchObject({ name: SessionBusyError.name, code: 'session_busy' });
    expect(toHttpError(error)).toMatchObject({ status: 409, body: { error: { code: 'session_busy' } } });
  }
}

describe('submitSessionRun (PGlite)', () => {
  let store: JournalStore;
  afterEach(async () => {
    await store?.close();
  });

  it('accepts exactly one of concurrent `reject` messages to an idle session', async () => {
    store = await createMemoryStore();
    expectOneAccepted(await submitAll([{ store }], 'session-1', 'reject'));
    const session = await store.getSession('session-1', { tenantId: 'acme' });
    expect(session?.activeRunIds).toHaveLength(1);
  });

  it('leaves one active run after concurrent `interrupt` messages', async () => {
    store = await createMemoryStore();
    const results = await submitAll([{ store }], 'session-2', 'interrupt');
    expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
    const session = await store.getSession('session-2', { tenantId: 'acme' });
    // Each interrupt cancelled every run created before it, so only the last one is left.
    expect(session?.runCount).toBe(SUBMISSIONS);
    expect(session?.activeRunIds).toHaveLength(1);
  });

  it('keeps sessions of different tenants independent', async () => {
    store = await createMemoryStore();
    const run = { agent: 'echo', input: 'hi', sessionId: 'shared' };
    await submitSessionRun({ store, policy: 'reject', run: { ...run, tenantId: 'a' } });
    await expect(
      submitSessionRun({ store, policy: 'reject', run: { ...run, tenantId: 'b' } }),
    ).resolves.toMatchObject({ created: true });
  });
});

describePostgres('submitSessionRun (Postgres, two replicas)', (connectionString) => {
  it('accepts exactly one of concurrent `reject` messages across replicas', async () => {
    const schema = createTestSchemaName();
    const first = await openStore({ databaseUrl: connectionString, schema });
    const second = await openStore({ databaseUrl: connectionString, schema });
    // Two pools, as two processes would have: the in-process lock is per client, so only the
    // advisory lock stands between them.
    try {
      const results = await submitAll(
        [{ store: first.store }, { store: second.store }],
        'session-pg',
        'reject',
      );
      expectOneAccepted(results);
    } finally {
      await first.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await first.store.close();
      await second.store.close();
    }
  });
});

describePostgres('submitSessionRun (Postgres, one replica on a pool of 2)', (connectionString) => {
  let opened: Awaited<ReturnType<typeof openStore>> | undefined;
  let schema: string;
  const open = async (options: Parameters<typeof openStore>[0] = {}) => {
    schema = createTestSchemaName();
    opened = await openStore({ databaseUrl: connectionString, schema, maxConnections: 2, ...options });
    return opened;
  };
  afterEach(async () => {
    if (opened === undefined) return;
    await opened.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await opened.store.close();
    opened = undefined;
  });

  /** Fails instead of waiting for the pool's 10 s connection timeout. */
  const within = <T>(ms: number, promise: Promise<T>) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref(),
      ),
    ]);

  it('accepts concurrent `reject` messages to more sessions than the pool has connections', async () => {
    const { store } = await open();
    const results = await within(
      3_000,
      Promise.allSettled(
        Array.from({ length: SUBMISSIONS }, (_, index) =>
          submitSessionRun({
            store,
            policy: 'reject',
            run: {
              agent: 'echo',
              input: `message ${index}`,
              sessionId: `session-${index}`,
              tenantId: 'acme',
            },
          }),
        ),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(Array(SUBMISSIONS).fill('fulfilled'));
    for (let index = 0; index < SUBMISSIONS; index++) {
      const session = await store.getSession(`session-${index}`, { tenantId: 'acme' });
      expect(session?.activeRunIds).toHaveLength(1);
    }
  });

  it('accepts exactly one of concurrent `reject` messages to an idle session', async () => {
    const { store } = await open();
    expectOneAccepted(await within(3_000, submitAll([{ store }], 'session-one', 'reject')));
    const session = await store.getSession('session-one', { tenantId: 'acme' });
    expect(session?.runCount).toBe(1);
  });

  it('cancels the active run under `interrupt`, and leaves one active run after concurrent ones', async () => {
    const { store } = await open();
    const first = await submitSessionRun({
      store,
      run: { agent: 'echo', input: 'first', sessionId: 'session-busy', tenantId: 'acme' },
    });
    const results = await within(3_000, submitAll([{ store }], 'session-busy', 'interrupt'));
    expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
    expect(await store.getRun(first.run.id, { tenantId: 'acme' })).toMatchObject({
      status: 'cancelled',
      cancelRequested: true,
    });
    const session = await store.getSession('session-busy', { tenantId: 'acme' });
    expect(session?.runCount).toBe(SUBMISSIONS + 1);
    expect(session?.activeRunIds).toHaveLength(1);
  });

  it("runs the check, the cancels and the create in the lock's transaction", async () => {
    const { store } = await open();
    const first = await store.createRun({ agent: 'echo', input: 'first', sessionId: 's', tenantId: 'acme' });
    const lockedStores: JournalStore[] = [];
    // The same store, whose create fails inside the lock's transaction.
    const failingCreate: SessionStore = {
      ...store,
      withSessionLock: (session, section) =>
        store.withSessionLock(session, (locked) => {
          lockedStores.push(locked);
          return section({ ...locked, createRun: () => Promise.reject(new Error('create failed')) });
        }),
    };
    await expect(
      submitSessionRun({
        store: failingCreate,
        policy: 'interrupt',
        run: { agent: 'echo', input: 'second', sessionId: 's', tenantId: 'acme' },
      }),
    ).rejects.toThrow('create failed');
    expect(lockedStores).toHaveLength(1);
    expect(lockedStores[0]).not.toBe(store);
    // The cancel was rolled back with the failed create: the first run is still active.
    expect(await store.getRun(first.run.id, { tenantId: 'acme' })).toMatchObject({
      status: 'queued',
      cancelRequested: false,
    });
    // The store bound to the transaction is unusable once the transaction has ended.
    await expect(lockedStores[0]!.getRun(first.run.id, { tenantId: 'acme' })).rejects.toThrow(
      /transaction that has ended/,
    );
  });

  it("creates the run with the store's own ids and clock", async () => {
    const createdAt = Date.UTC(2030, 0, 2);
    let ids = 0;
    const { store } = await open({
      clock: { now: () => createdAt },
      generateId: (prefix) => `${prefix}_custom_${++ids}`,
    });
    const { run } = await submitSessionRun({
      store,
      policy: 'reject',
      run: { agent: 'echo', input: 'hi', sessionId: 'configured', tenantId: 'acme' },
    });
    expect(run.id).toBe('run_custom_1');
    expect(run.createdAt.getTime()).toBe(createdAt);
  });
});
