import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionBusyError } from '../errors/session-errors.js';
import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';
import { toHttpError } from '../server/http-errors.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { submitSessionRun, type SessionPolicy } from './session-policy.js';

const SUBMISSIONS = 10;

type Replica = Omit<Parameters<typeof submitSessionRun>[0], 'run' | 'policy'> & {
  submit?: typeof submitSessionRun;
};

function submitAll(stores: readonly Replica[], sessionId: string, policy: SessionPolicy) {
  return Promise.allSettled(
    Array.from({ length: SUBMISSIONS }, (_, index) =>
      (stores[index % stores.length]!.submit ?? submitSessionRun)({
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
    // A fresh copy of the module, as another process would have: its in-process lock is its own.
    vi.resetModules();
    const { submitSessionRun: submitOnSecond } = await import('./session-policy.js');
    expect(submitOnSecond).not.toBe(submitSessionRun);
    try {
      const results = await submitAll(
        [
          { store: first.store, client: first.client },
          { store: second.store, client: second.client, submit: submitOnSecond },
        ],
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
