import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseUnavailableError, LeaseLostError, MigrationError } from '../errors/storage-errors.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import { migrate, migrations, migrationStatus } from './migrations.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import type { SqlClient } from './sql-client.js';
import { createSqlJournalStore } from './sql-journal-store.js';
import { ESCAPE_MARKER } from './storable-json.js';
import type { JournalStore } from './store.js';
import type { SerializedError } from '../errors/keel-error.js';
import { statusForStopReason } from './types.js';
import type { ClaimedRun, Lease, NewRun, RunRecord, StepEnd, StopReason } from './types.js';

/** Any UTF-16 string, weighted towards what Postgres refuses: NUL, lone surrogates, the marker. */
const anyString = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
      fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d\ude00', ESCAPE_MARKER, '"', '\\', 'a'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

/**
 * The JournalStore contract, run over every SqlClient: PGlite in memory always, and a real
 * Postgres when KEEL_TEST_POSTGRES_URL is set. One client per dialect for the whole file; each
 * test gets a fresh schema, dropped afterwards.
 */
function journalStoreContract(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let store: JournalStore;
  let time: number;
  // Each reading advances 1 ms: runs created in sequence have distinct, ordered created_at.
  const clock = { now: () => time++ };

  beforeAll(async () => {
    client = await openClient();
  });
  afterAll(async () => {
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    time = Date.parse('2030-01-01T00:00:00.000Z');
    store = createSqlJournalStore({ client, schema, clock });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const newRun = (overrides: Partial<NewRun> = {}): NewRun => ({
    agent: 'support',
    input: { question: 'hi' },
    ...overrides,
  });
  const leaseOf = (run: RunRecord): Lease => ({
    runId: run.id,
    owner: run.leaseOwner ?? '',
    fence: run.fence,
  });
  const claimOne = async (owner = 'worker-1'): Promise<ClaimedRun> => {
    const [run] = await store.claimRuns({ owner, limit: 1, leaseMs: 30_000 });
    if (!run) throw new Error('nothing to claim');
    return run;
  };
  const expireLease = (runId: string) =>
    client.query(`UPDATE ${schema}.runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
      runId,
    ]);
  const stepEnd = (seq: number, overrides: Partial<StepEnd> = {}): StepEnd => ({
    seq,
    parentSeq: null,
    kind: 'model',
    name: 'gpt-test',
    inputHash: `hash-${seq}`,
    attempt: 1,
    startedAt: new Date('2030-01-01T00:00:01.000Z'),
    endedAt: new Date('2030-01-01T00:00:02.000Z'),
    status: 'completed',
    output: { text: `answer ${seq}` },
    usage: { inputTokens: 10, outputTokens: 5 },
    costUsd: 0.0015,
    meta: { model: 'gpt-test' },
    ...overrides,
  });
  const expectLeaseLost = async (operation: Promise<unknown>) => {
    const error: unknown = await operation.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseLostError).code).toBe('lease_lost');
  };

  describe('migrations', () => {
    it('are idempotent and report their status', async () => {
      await store.migrate();
      const status = await migrationStatus(client, { schema });
      expect(status).toMatchObject({ upToDate: true, pending: [], unknown: [] });
      expect(status.applied).toEqual(status.known);
    });

    it('can run concurrently from many callers', async () => {
      const other = createTestSchemaName();
      try {
        const results = await Promise.all([
          migrate(client, { schema: other }),
          migrate(client, { schema: other }),
        ]);
        expect(results.every((result) => result.upToDate)).toBe(true);
        const rows = await client.query(`SELECT version FROM ${other}.migrations`);
        expect(rows.rowCount).toBe(results[0]?.known.length);
      } finally {
        await client.exec(`DROP SCHEMA IF EXISTS ${other} CASCADE`);
      }
    });

    it('refuse a database newer than the code', async () => {
      await client.query(`INSERT INTO ${schema}.migrations (version, name) VALUES (999, 'from_the_future')`);
      const error: unknown = await store.migrate().catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).code).toBe('migration_error');
      expect(await migrationStatus(client, { schema })).toMatchObject({ upToDate: false, unknown: [999] });
    });

    it('report an empty database as pending', async () => {
      const status = await migrationStatus(client, { schema: createTestSchemaName() });
      expect(status.applied).toEqual([]);
      expect(status.upToDate).toBe(false);
    });
  });

  describe('createRun', () => {
    it('creates a queued run with defaults', async () => {
      const { run, created } = await store.createRun(newRun({ metadata: { user: 'u1' }, sessionId: 's1' }));
      expect(created).toBe(true);
      expect(run).toMatchObject({
        tenantId: 'default',
        agent: 'support',
        status: 'queued',
        stopReason: null,
        input: { question: 'hi' },
        metadata: { user: 'u1' },
        sessionId: 's1',
        fence: 0,
        attempts: 0,
        cancelRequested: false,
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
        startedAt: null,
        endedAt: null,
      });
      expect(run.id).toMatch(/^run_/);
      expect(run.createdAt).toBeInstanceOf(Date);
      expect(await store.getRun(run.id)).toEqual(run);
      expect(await store.getRun(run.id, { tenantId: 'other' })).toBeUndefined();
      expect(await store.getRun('run_missing')).toBeUndefined();
    });

    it('returns the existing run for a repeated idempotency key, per tenant', async () => {
      const first = await store.createRun(newRun({ idempotencyKey: 'key-1', input: 'first' }));
      const second = await store.createRun(newRun({ idempotencyKey: 'key-1', input: 'second' }));
      expect(second.created).toBe(false);
      expect(second.run.id).toBe(first.run.id);
      expect(second.run.input).toBe('first');
      const otherTenant = await store.createRun(newRun({ idempotencyKey: 'key-1', tenantId: 'acme' }));
      expect(otherTenant.created).toBe(true);
      const noKey = await Promise.all([store.createRun(newRun()), store.createRun(newRun())]);
      expect(noKey.every((result) => result.created)).toBe(true);
    });

    it('creates exactly one run under 10 concurrent duplicate submissions', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.createRun(newRun({ idempotencyKey: 'same' }))),
      );
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.run.id)).size).toBe(1);
      const count = await client.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM ${schema}.runs`,
      );
      expect(count.rows[0]?.count).toBe(1);
    });

    it('notifies onRunnable listeners', async () => {
      let calls = 0;
      let wake: () => void = () => {};
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const unsubscribe = await store.onRunnable(() => {
        calls++;
        wake();
      });
      await store.createRun(newRun());
      await withTimeout(woken, 5_000);
      expect(calls).toBeGreaterThanOrEqual(1);
      await unsubscribe();
    });
  });

  describe('claimRuns', () => {
    it('claims the oldest runnable runs and sets lease, fence, attempts and started_at', async () => {
      const { run: older } = await store.createRun(newRun());
      const { run: newer } = await store.createRun(newRun());
      const claimed = await store.claimRuns({ owner: 'worker-1', limit: 5, leaseMs: 30_000 });
      expect(claimed.map((run) => run.id)).toEqual([older.id, newer.id]);
      for (const run of claimed) {
        expect(run).toMatchObject({ status: 'running', leaseOwner: 'worker-1', fence: 1, attempts: 1 });
        expect(run.startedAt).toBeInstanceOf(Date);
        expect(run.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 20_000);
      }
      expect(await store.claimRuns({ owner: 'worker-2', limit: 5, leaseMs: 30_000 })).toEqual([]);
    });

    it('never hands the same run to two concurrent claimers', async () => {
      for (let i = 0; i < 20; i++) await store.createRun(newRun());
      const claimers = Array.from({ length: 4 }, () => createSqlJournalStore({ client, schema }));
      const batches = await Promise.all(
        claimers.map((claimer, index) =>
          claimer.claimRuns({ owner: `worker-${index}`, limit: 5, leaseMs: 30_000 }),
        ),
      );
      const ids = batches.flat().map((run) => run.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(20);
      batches.forEach((batch, index) =>
        batch.forEach((run) => expect(run.leaseOwner).toBe(`worker-${index}`)),
      );
    });

    it('claims only the listed agents and ids', async () => {
      const { run: support } = await store.createRun(newRun({ agent: 'support' }));
      const { run: billing } = await store.createRun(newRun({ agent: 'billing' }));
      const { run: other } = await store.createRun(newRun({ agent: 'billing' }));
      expect(await store.claimRuns({ owner: 'w', limit: 5, leaseMs: 30_000, agents: [] })).toEqual([]);
      const onlyOther = await store.claimRuns({ owner: 'w', limit: 5, leaseMs: 30_000, ids: [other.id] });
      expect(onlyOther.map((run) => run.id)).toEqual([other.id]);
      const billingOnly = await store.claimRuns({
        owner: 'w',
        limit: 5,
        leaseMs: 30_000,
        agents: ['billing'],
      });
      expect(billingOnly.map((run) => run.id)).toEqual([billing.id]);
      const rest = await store.claimRuns({
        owner: 'w',
        limit: 5,
        leaseMs: 30_000,
        agents: ['support', 'billing'],
      });
      expect(rest.map((run) => run.id)).toEqual([support.id]);
    });

    it('reclaims a run whose lease expired, with a higher fence', async () => {
      await store.createRun(newRun());
      const first = await claimOne('worker-1');
      expect(await store.claimRuns({ owner: 'worker-2', limit: 1, leaseMs: 30_000 })).toEqual([]);
      await expireLease(first.id);
      const second = await claimOne('worker-2');
      expect(second.id).toBe(first.id);
      expect(second.fence).toBe(first.fence + 1);
      expect(second.attempts).toBe(2);
      expect(second.leaseOwner).toBe('worker-2');
      expect(second.startedAt).toEqual(first.startedAt);
    });

    it('says which claims took over an expired lease: not a new run, a drained one or a waiting one', async () => {
      await store.createRun(newRun());
      const fresh = await claimOne('worker-1');
      expect(fresh.leaseRecovered).toBe(false);
      await store.releaseRun(leaseOf(fresh));
      const afterDrain = await claimOne('worker-2');
      expect(afterDrain).toMatchObject({ id: fresh.id, leaseRecovered: false, attempts: 2 });
      await store.waitForRetry(leaseOf(afterDrain), {
        step: {
          seq: 0,
          parentSeq: null,
          kind: 'model',
          name: 'gpt-test',
          inputHash: 'hash-0',
          attempt: 1,
          startedAt: new Date(),
        },
        delayMs: 0,
        reason: 'gateway_unavailable',
        message: 'Waiting for the provider.',
      });
      const afterWait = await claimOne('worker-3');
      expect(afterWait).toMatchObject({ id: fresh.id, leaseRecovered: false, attempts: 2 });
      await expireLease(afterWait.id);
      const recovered = await claimOne('worker-4');
      expect(recovered).toMatchObject({ id: fresh.id, leaseRecovered: true, ownerGone: false, attempts: 3 });
      await store.finishRun(leaseOf(recovered), {
        stopReason: 'completed',
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      });
      expect(await store.getRun(fresh.id)).not.toHaveProperty('leaseRecovered');
    });
  });

  describe('worker liveness', () => {
    // Liveness locks are database-wide: owners unique to this test, whatever else runs.
    const uniqueOwner = (name: string) => `${name}:${schema}`;

    it('makes a running run claimable at once when its owner’s liveness lock is gone, and fences the owner', async () => {
      const { run } = await store.createRun(newRun());
      const owner = uniqueOwner('dies');
      const liveness = await store.holdLiveness(owner);
      expect(liveness?.isHeld()).toBe(true);
      const [held] = await store.claimRuns({ owner, limit: 1, leaseMs: 60_000 });
      expect(held).toMatchObject({ id: run.id, leaseOwner: owner, leaseRecovered: false, ownerGone: false });
      await store.completeStep(leaseOf(held!), stepEnd(0));

      // Alive (lock held): another worker cannot take the run before its lease expires.
      const other = createSqlJournalStore({ client, schema });
      expect(await other.claimRuns({ owner: uniqueOwner('other'), limit: 1, leaseMs: 60_000 })).toEqual([]);

      // Gone (what the database does when the owner's process dies): claimable at once.
      await liveness!.release();
      expect(liveness!.isHeld()).toBe(false);
      const [taken] = await other.claimRuns({ owner: uniqueOwner('other'), limit: 1, leaseMs: 60_000 });
      expect(taken).toMatchObject({
        id: run.id,
        leaseOwner: uniqueOwner('other'),
        fence: held!.fence + 1,
        attempts: 2,
        leaseRecovered: true,
        ownerGone: true,
      });
      // Its lease was still running: the claim did not wait for it.
      expect(held!.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 30_000);
      await expectLeaseLost(store.completeStep(leaseOf(held!), stepEnd(1)));
      expect((await store.loadSteps(run.id)).map((step) => step.seq)).toEqual([0]);
      await other.close();
    });

    it('leaves a run claimed without a liveness lock, or while it was not held, to its lease', async () => {
      const { run: first } = await store.createRun(newRun());
      const { run: second } = await store.createRun(newRun());
      // No lock at all (a worker of an earlier version): not "gone", only expired.
      const [plain] = await store.claimRuns({ owner: uniqueOwner('plain'), limit: 1, leaseMs: 60_000 });
      expect(plain?.id).toBe(first.id);
      // A lock given up before the claim: the claim does not count on it.
      const owner = uniqueOwner('released');
      const liveness = await store.holdLiveness(owner);
      await liveness!.release();
      const [unheld] = await store.claimRuns({ owner, limit: 1, leaseMs: 60_000 });
      expect(unheld?.id).toBe(second.id);

      expect(await store.claimRuns({ owner: uniqueOwner('other'), limit: 2, leaseMs: 60_000 })).toEqual([]);
      await expireLease(first.id);
      const [recovered] = await store.claimRuns({ owner: uniqueOwner('other'), limit: 2, leaseMs: 60_000 });
      expect(recovered).toMatchObject({ id: first.id, leaseRecovered: true, ownerGone: false });
    });

    it('keeps the runs of a live owner, however many workers poll', async () => {
      for (let i = 0; i < 3; i++) await store.createRun(newRun());
      const owner = uniqueOwner('alive');
      const liveness = await store.holdLiveness(owner);
      const claimed = await store.claimRuns({ owner, limit: 3, leaseMs: 60_000 });
      expect(claimed).toHaveLength(3);
      const pollers = Array.from({ length: 3 }, () => createSqlJournalStore({ client, schema }));
      const polls = await Promise.all(
        pollers.map((poller, index) =>
          poller.claimRuns({ owner: uniqueOwner(`poller-${index}`), limit: 3, leaseMs: 60_000 }),
        ),
      );
      expect(polls.flat()).toEqual([]);
      // Closing the store gives its locks up.
      await store.close();
      const taken = await pollers[0]!.claimRuns({
        owner: uniqueOwner('poller-0'),
        limit: 3,
        leaseMs: 60_000,
      });
      expect(taken.map((run) => run.ownerGone)).toEqual([true, true, true]);
      expect(liveness!.isHeld()).toBe(false);
      for (const poller of pollers) await poller.close();
    });
  });

  describe('fencing', () => {
    it('refuses every write of a stale lease and writes nothing', async () => {
      await store.createRun(newRun());
      const stale = await claimOne('worker-1');
      await store.completeStep(leaseOf(stale), stepEnd(1));
      await expireLease(stale.id);
      const current = await claimOne('worker-2');

      await expectLeaseLost(store.startStep(leaseOf(stale), stepEnd(2)));
      await expectLeaseLost(store.completeStep(leaseOf(stale), stepEnd(2)));
      await expectLeaseLost(store.completeStep(leaseOf(stale), stepEnd(1, { output: 'overwritten' })));
      await expectLeaseLost(
        store.finishRun(leaseOf(stale), {
          stopReason: 'completed',
          usage: { inputTokens: 0, outputTokens: 0 },
          costUsd: 0,
          stepCount: 0,
        }),
      );
      await expectLeaseLost(store.releaseRun(leaseOf(stale)));

      const steps = await store.loadSteps(stale.id, { withOutputs: true });
      expect(steps.map((step) => step.seq)).toEqual([1]);
      expect(steps[0]?.output).toEqual({ text: 'answer 1' });
      // Outputs stored anywhere: in payloads, or in their step row (small ones, migration 31).
      const outputs = await client.query<{ count: number }>(
        `SELECT (SELECT count(*) FROM ${schema}.payloads) + (SELECT count(*) FROM ${schema}.steps
           WHERE output IS NOT NULL) AS count`,
      );
      expect(Number(outputs.rows[0]?.count)).toBe(1);
      expect(await store.getRun(stale.id)).toMatchObject({
        status: 'running',
        leaseOwner: 'worker-2',
        fence: current.fence,
      });
      await store.completeStep(leaseOf(current), stepEnd(2));
    });

    it('refuses writes for a run that is not claimed or does not exist', async () => {
      const { run } = await store.createRun(newRun());
      await expectLeaseLost(store.completeStep({ runId: run.id, owner: 'nobody', fence: 0 }, stepEnd(1)));
      await expectLeaseLost(store.startStep({ runId: 'run_missing', owner: 'w', fence: 1 }, stepEnd(1)));
    });
  });

  describe('heartbeat', () => {
    it('extends held leases, reports lost ones and cancellation requests', async () => {
      await store.createRun(newRun());
      await store.createRun(newRun());
      const [kept, lost] = await store.claimRuns({ owner: 'worker-1', limit: 2, leaseMs: 1_000 });
      await expireLease(lost!.id);
      await claimOne('worker-2');
      await store.requestCancel(kept!.id);

      const results = await store.heartbeat({
        leases: [leaseOf(kept!), leaseOf(lost!), { runId: 'run_missing', owner: 'worker-1', fence: 1 }],
        leaseMs: 60_000,
      });
      expect(results).toEqual([
        { runId: kept!.id, held: true, cancelRequested: true },
        { runId: lost!.id, held: false, cancelRequested: false },
        { runId: 'run_missing', held: false, cancelRequested: false },
      ]);
      const extended = await store.getRun(kept!.id);
      expect(extended!.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 50_000);
      expect(await store.heartbeat({ leases: [], leaseMs: 1_000 })).toEqual([]);
    });
  });

  describe('steps', () => {
    it('journals a started step, then its completion with output, usage and meta', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const lease = leaseOf(run);
      const {
        status: _status,
        endedAt: _endedAt,
        output: _output,
        ...start
      } = stepEnd(1, { kind: 'tool', name: 'refund' });
      await store.startStep(lease, start);
      let [started] = await store.loadSteps(run.id, { withOutputs: true });
      expect(started).toMatchObject({
        seq: 1,
        kind: 'tool',
        name: 'refund',
        status: 'started',
        endedAt: null,
        outputRef: null,
        usage: null,
      });
      expect(started).not.toHaveProperty('output');

      await store.startStep(lease, { ...start, attempt: 2 });
      [started] = await store.loadSteps(run.id);
      expect(started?.attempt).toBe(2);

      await store.completeStep(
        lease,
        stepEnd(1, {
          kind: 'tool',
          name: 'refund',
          attempt: 2,
          usage: { inputTokens: 3, outputTokens: 4, cachedInputTokens: 1, reasoningTokens: 2 },
        }),
      );
      const [completed] = await store.loadSteps(run.id, { withOutputs: true });
      expect(completed).toEqual({
        runId: run.id,
        seq: 1,
        parentSeq: null,
        kind: 'tool',
        name: 'refund',
        inputHash: 'hash-1',
        status: 'completed',
        attempt: 2,
        startedAt: new Date('2030-01-01T00:00:01.000Z'),
        endedAt: new Date('2030-01-01T00:00:02.000Z'),
        usage: { inputTokens: 3, outputTokens: 4, cachedInputTokens: 1, reasoningTokens: 2 },
        costUsd: 0.0015,
        outputRef: `${run.id}:1`,
        error: null,
        meta: { model: 'gpt-test' },
        output: { text: 'answer 1' },
        // The execution its second start replaced (a crash, as far as the journal knows).
        priorExecutions: [{ attempt: 1, startedAt: new Date('2030-01-01T00:00:01.000Z'), end: 'abandoned' }],
      });
      const [withoutOutput] = await store.loadSteps(run.id);
      expect(withoutOutput).not.toHaveProperty('output');
      expect(withoutOutput?.outputRef).toBe(`${run.id}:1`);
    });

    it('records a completion without a start, failures, null outputs and child steps in seq order', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const lease = leaseOf(run);
      const error = { code: 'tool_failed', message: 'boom', fault: 'tool' as const, retryable: false };
      await store.completeStep(
        lease,
        stepEnd(3, { parentSeq: 1, status: 'failed', output: undefined, error, usage: null, costUsd: null }),
      );
      await store.completeStep(lease, stepEnd(1));
      await store.completeStep(lease, stepEnd(2, { parentSeq: 1, output: null }));
      const steps = await store.loadSteps(run.id, { withOutputs: true });
      expect(steps.map((step) => [step.seq, step.parentSeq, step.status])).toEqual([
        [1, null, 'completed'],
        [2, 1, 'completed'],
        [3, 1, 'failed'],
      ]);
      expect(steps[1]).toHaveProperty('output', null);
      expect(steps[2]).toMatchObject({ error, usage: null, costUsd: null, outputRef: null });
      expect(steps[2]).not.toHaveProperty('output');
      // Outputs from a seq on: the steps before it come without any, not with a null one.
      const [first, second] = await store.loadSteps(run.id, { withOutputs: { fromSeq: 2 } });
      expect(first).not.toHaveProperty('output');
      expect(first?.outputRef).not.toBeNull();
      expect(second).toHaveProperty('output', null);
      // One step, with or without its output; none for a seq the run lacks.
      const [only] = await store.loadSteps(run.id, { withOutputs: true, seq: 2 });
      expect(only).toMatchObject({ seq: 2, parentSeq: 1, output: null });
      expect(await store.loadSteps(run.id, { seq: 3 })).toMatchObject([{ seq: 3, status: 'failed' }]);
      expect(await store.loadSteps(run.id, { withOutputs: true, seq: 4 })).toEqual([]);
    });

    it('keeps the first completion of a step (append-only): a repeat is a no-op', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      await store.completeStep(leaseOf(run), stepEnd(1));
      await store.completeStep(leaseOf(run), stepEnd(1));
      await store.completeStep(
        leaseOf(run),
        stepEnd(1, { output: 'different', status: 'failed', attempt: 9 }),
      );
      const { status: _status, endedAt: _endedAt, output: _output, ...start } = stepEnd(1);
      await store.startStep(leaseOf(run), { ...start, attempt: 7 });
      const steps = await store.loadSteps(run.id, { withOutputs: true });
      expect(steps).toHaveLength(1);
      expect(steps[0]).toMatchObject({ status: 'completed', attempt: 1, output: { text: 'answer 1' } });
    });

    it('stores payloads linearly in their size, outside the step rows', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const kilobyte = (seq: number) =>
        Array.from({ length: 1024 }, (_, index) => String.fromCharCode(97 + ((index * 7 + seq) % 26))).join(
          '',
        );
      for (let seq = 1; seq <= 100; seq++)
        await store.completeStep(leaseOf(run), stepEnd(seq, { output: kilobyte(seq) }));
      const sizes = await client.query<{
        payload_bytes: number;
        payload_relation: number;
        step_row_avg: number;
      }>(
        `SELECT (SELECT sum(bytes)::int8 FROM ${schema}.payloads) AS payload_bytes,
                pg_total_relation_size('${schema}.payloads')::int8 AS payload_relation,
                (SELECT avg(pg_column_size(step.*))::int8 FROM ${schema}.steps AS step) AS step_row_avg`,
      );
      const { payload_bytes, payload_relation, step_row_avg } = sizes.rows[0]!;
      expect(payload_bytes).toBe(100 * 1026); // 1 KB string plus its JSON quotes
      expect(payload_relation).toBeLessThan(400 * 1024);
      expect(step_row_avg).toBeLessThan(300);
    });
  });

  describe('finishRun', () => {
    const usage = { inputTokens: 120, outputTokens: 45, cachedInputTokens: 20, reasoningTokens: 5 };
    const stopReasons: StopReason[] = [
      'completed',
      'max_steps',
      'budget',
      'deadline',
      'loop_detected',
      'cancelled',
      'error',
      'guard_blocked',
      'rejected',
    ];

    it.each(stopReasons)(
      'ends the run with stop reason %s, its status and totals, and clears the lease',
      async (stopReason) => {
        await store.createRun(newRun());
        const run = await claimOne();
        const error =
          stopReason === 'error'
            ? { code: 'internal_error', message: 'x', fault: 'system' as const, retryable: false }
            : null;
        const finished = await store.finishRun(leaseOf(run), {
          stopReason,
          output: { answer: 42 },
          error,
          usage,
          costUsd: 0.25,
          stepCount: 7,
        });
        expect(finished).toMatchObject({
          id: run.id,
          status: statusForStopReason(stopReason),
          stopReason,
          output: { answer: 42 },
          error,
          usage,
          costUsd: 0.25,
          stepCount: 7,
          leaseOwner: null,
          leaseExpiresAt: null,
          fence: run.fence,
        });
        expect(finished.endedAt).toBeInstanceOf(Date);
        expect(await store.getRun(run.id)).toEqual(finished);
        expect(await store.claimRuns({ owner: 'w', limit: 1, leaseMs: 1_000 })).toEqual([]);
      },
    );

    it('treats a retried finish as done, and refuses journal writes after it', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const end = { stopReason: 'completed' as const, usage, costUsd: 0.1, stepCount: 1 };
      const first = await store.finishRun(leaseOf(run), end);
      expect(await store.finishRun(leaseOf(run), end)).toEqual(first);
      await expectLeaseLost(store.finishRun(leaseOf(run), { ...end, stopReason: 'error' }));
      await expectLeaseLost(store.completeStep(leaseOf(run), stepEnd(1)));
      expect(await store.heartbeat({ leases: [leaseOf(run)], leaseMs: 1_000 })).toEqual([
        { runId: run.id, held: false, cancelRequested: false },
      ]);
    });
  });

  describe('text deltas', () => {
    it("numbers a step's slices across executions, names the first, and lists from a position", async () => {
      await store.createRun(newRun());
      const first = await claimOne();
      await store.appendTextDelta(leaseOf(first), { seq: 1, attempt: 1, name: 'builtin:rule', text: 'Hel' });
      await store.appendTextDelta(leaseOf(first), { seq: 1, attempt: 2, name: 'builtin:rule', text: 'lo' });
      // The run is resumed elsewhere: the old owner is fenced off, the new one continues.
      await expireLease(first.id);
      const second = await claimOne('worker-2');
      await expectLeaseLost(
        store.appendTextDelta(leaseOf(first), { seq: 1, attempt: 1, name: 'builtin:rule', text: 'x' }),
      );
      await store.appendTextDelta(leaseOf(second), {
        seq: 1,
        attempt: 1,
        name: 'builtin:rule',
        text: 'Hello',
      });
      await store.appendTextDelta(leaseOf(second), { seq: 3, attempt: 1, name: 'builtin:rule', text: 'Bye' });

      const all = await store.listTextDeltas(first.id, { seq: 0, idx: 0 });
      expect(
        all.map(({ seq, idx, fence, attempt, name, text }) => ({ seq, idx, fence, attempt, name, text })),
      ).toEqual([
        { seq: 1, idx: 0, fence: first.fence, attempt: 1, name: 'builtin:rule', text: 'Hel' },
        { seq: 1, idx: 1, fence: first.fence, attempt: 2, name: null, text: 'lo' },
        { seq: 1, idx: 2, fence: second.fence, attempt: 1, name: null, text: 'Hello' },
        { seq: 3, idx: 0, fence: second.fence, attempt: 1, name: 'builtin:rule', text: 'Bye' },
      ]);
      expect(all[0]?.createdAt).toBeInstanceOf(Date);
      const later = await store.listTextDeltas(first.id, { seq: 1, idx: 2 });
      expect(later.map((delta) => [delta.seq, delta.idx])).toEqual([
        [1, 2],
        [3, 0],
      ]);
      expect(await store.listTextDeltas(first.id, { seq: 0, idx: 0 }, { limit: 1 })).toHaveLength(1);
    });
  });

  describe('onRunEnded', () => {
    it('gets the id of a run that finished, and of a queued run that was cancelled, not of others', async () => {
      const ended: string[] = [];
      const unsubscribe = await store.onRunEnded((runId) => ended.push(runId));
      const { run: queued } = await store.createRun(newRun());
      const running = await claimOne();
      const { run: cancelled } = await store.createRun(newRun());
      await store.requestCancel(cancelled.id);
      // Cancelling a running run only asks it to stop: it has not ended yet.
      await store.requestCancel(running.id);
      await store.finishRun(leaseOf(running), {
        stopReason: 'cancelled',
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      });
      await withTimeout(
        waitUntil(() => ended.length >= 2),
        5_000,
      );
      expect(running.id).toBe(queued.id);
      expect(ended.sort()).toEqual([cancelled.id, running.id].sort());
      await unsubscribe();
    });
  });

  describe('releaseRun', () => {
    it('requeues the run (after an optional delay) and notifies', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      let woken = 0;
      const unsubscribe = await store.onRunnable(() => woken++);
      await store.releaseRun(leaseOf(run), { delayMs: 60_000 });
      await store.releaseRun(leaseOf(run), { delayMs: 60_000 }); // a retry is harmless
      expect(await store.getRun(run.id)).toMatchObject({
        status: 'queued',
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      expect(await store.claimRuns({ owner: 'w', limit: 1, leaseMs: 1_000 })).toEqual([]);
      await withTimeout(
        waitUntil(() => woken > 0),
        5_000,
      );
      await unsubscribe();

      await client.query(`UPDATE ${schema}.runs SET available_at = now() WHERE id = $1`, [run.id]);
      const reclaimed = await claimOne('worker-2');
      expect(reclaimed).toMatchObject({
        id: run.id,
        fence: run.fence + 1,
        attempts: 2,
        startedAt: run.startedAt,
      });
      await expectLeaseLost(store.releaseRun(leaseOf(run)));
    });
  });

  describe('waitForRetry', () => {
    const waitingStep = (attempt: number) => ({
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'gpt-test',
      inputHash: 'hash-0',
      attempt,
      startedAt: new Date('2030-01-01T00:00:01.000Z'),
      meta: { model: 'gpt-test', attempts: attempt },
    });
    const waitOptions = (attempt: number, delayMs: number) => ({
      step: waitingStep(attempt),
      delayMs,
      reason: 'gateway_unavailable',
      message: 'No deployment of model "fast" is available right now (d0: breaker-open).',
    });

    it('releases the run waiting (fenced, no lease), its step started with its attempts', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const waiting = await store.waitForRetry(leaseOf(run), waitOptions(2, 60_000));
      expect(waiting).toMatchObject({
        id: run.id,
        status: 'waiting',
        leaseOwner: null,
        leaseExpiresAt: null,
        fence: run.fence,
        attempts: run.attempts,
        wait: { reason: 'gateway_unavailable', seq: 0, attempts: 2 },
      });
      expect(waiting.wait?.message).toMatch(/breaker-open/);
      // The not-before time is the database's now() + delay, like updated_at in the same write.
      expect(waiting.wait!.until.getTime() - waiting.updatedAt.getTime()).toBe(60_000);
      // A retry of a release that committed is harmless.
      expect(await store.waitForRetry(leaseOf(run), waitOptions(2, 60_000))).toMatchObject({
        status: 'waiting',
        fence: run.fence,
      });
      const [step] = await store.loadSteps(run.id);
      expect(step).toMatchObject({ seq: 0, status: 'started', attempt: 2, meta: { attempts: 2 } });
      // The lease is gone: journal writes and heartbeats of the old execution are refused.
      await expectLeaseLost(store.completeStep(leaseOf(run), stepEnd(0)));
      expect(await store.heartbeat({ leases: [leaseOf(run)], leaseMs: 1_000 })).toEqual([
        { runId: run.id, held: false, cancelRequested: false },
      ]);
      expect(await store.listRuns({ status: 'waiting' })).toMatchObject({ runs: [{ id: run.id }] });
    });

    it('keeps each earlier execution of a step: one that waited, one that was abandoned', async () => {
      await store.createRun(newRun());
      const first = await claimOne();
      await store.waitForRetry(leaseOf(first), waitOptions(2, 0));
      const second = await claimOne();
      await store.startStep(leaseOf(second), {
        ...waitingStep(3),
        startedAt: new Date('2030-01-01T00:00:05.000Z'),
      });
      await expireLease(second.id);
      const third = await claimOne('worker-2');
      await store.startStep(leaseOf(third), {
        ...waitingStep(4),
        startedAt: new Date('2030-01-01T00:00:09.000Z'),
      });
      await store.completeStep(leaseOf(third), {
        ...stepEnd(0, { attempt: 4, inputHash: 'hash-0', name: 'gpt-test' }),
        startedAt: new Date('2030-01-01T00:00:09.000Z'),
      });
      const [step] = await store.loadSteps(third.id);
      expect(step).toMatchObject({ status: 'completed', attempt: 4 });
      expect(step?.startedAt).toEqual(new Date('2030-01-01T00:00:09.000Z'));
      expect(step?.priorExecutions).toEqual([
        { attempt: 2, startedAt: new Date('2030-01-01T00:00:01.000Z'), end: 'waited' },
        { attempt: 3, startedAt: new Date('2030-01-01T00:00:05.000Z'), end: 'abandoned' },
      ]);
      // A step that ran once has none.
      await store.createRun(newRun());
      const other = await claimOne();
      await store.completeStep(leaseOf(other), stepEnd(0));
      expect((await store.loadSteps(other.id))[0]?.priorExecutions).toEqual([]);
    });

    it('records a drained execution as released, and a retried start as no execution at all', async () => {
      await store.createRun(newRun());
      const first = await claimOne();
      const start = { ...waitingStep(1), startedAt: new Date('2030-01-01T00:00:01.000Z') };
      await store.startStep(leaseOf(first), start);
      // The same start again (its first try committed, its answer was lost): nothing to record.
      await store.startStep(leaseOf(first), start);
      expect((await store.loadSteps(first.id))[0]?.priorExecutions).toEqual([]);
      await store.releaseRun(leaseOf(first));
      expect((await store.loadSteps(first.id))[0]?.meta).toMatchObject({ released: true });
      const second = await claimOne('worker-2');
      await store.startStep(leaseOf(second), {
        ...waitingStep(2),
        startedAt: new Date('2030-01-01T00:00:04.000Z'),
      });
      const [step] = await store.loadSteps(second.id);
      expect(step?.priorExecutions).toEqual([
        { attempt: 1, startedAt: new Date('2030-01-01T00:00:01.000Z'), end: 'released' },
      ]);
      // The mark belonged to the replaced execution.
      expect(step?.meta).not.toHaveProperty('released');
    });

    it('keeps a provider error text Postgres refuses (NUL, half a surrogate pair) exactly', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const message = 'upstream said \u0000 and cut \ud83d';
      const name = 'model\u0000\udc00';
      const step = {
        ...waitingStep(1),
        name,
        meta: { attempts: 1, retries: [{ code: 'x', detail: message }] },
      };
      const waiting = await store.waitForRetry(leaseOf(run), { ...waitOptions(1, 60_000), step, message });
      expect(waiting.wait?.message).toBe(message);
      expect((await store.getRun(run.id))?.wait?.message).toBe(message);
      const [stored] = await store.loadSteps(run.id);
      expect(stored).toMatchObject({ name, meta: { retries: [{ detail: message }] } });
    });

    it('is skipped by the claim until its not-before time, then claimed without a notification', async () => {
      await store.createRun(newRun());
      await store.createRun(newRun());
      const first = await claimOne();
      const second = await claimOne();
      await store.waitForRetry(leaseOf(first), waitOptions(1, 60_000));
      await store.waitForRetry(leaseOf(second), waitOptions(3, 300));
      let woken = 0;
      const unsubscribe = await store.onRunnable(() => woken++);
      expect(await store.claimRuns({ owner: 'w', limit: 10, leaseMs: 1_000 })).toEqual([]);

      // No notification comes: a worker's poll finds the run once its time has passed.
      let claimed: RunRecord[] = [];
      await withTimeout(
        waitUntil(async () => {
          claimed = await store.claimRuns({ owner: 'worker-2', limit: 10, leaseMs: 30_000 });
          return claimed.length > 0;
        }),
        10_000,
      );
      await unsubscribe();
      expect(woken).toBe(0);
      expect(claimed).toHaveLength(1);
      expect(claimed[0]).toMatchObject({
        id: second.id,
        status: 'running',
        leaseOwner: 'worker-2',
        fence: second.fence + 1,
        // Resuming after a wait is not a new attempt at the run (a crash recovery is).
        attempts: second.attempts,
        startedAt: second.startedAt,
        wait: null,
      });
      // The run waiting a minute is still waiting; a decision to run it early is an update away.
      expect(await store.getRun(first.id)).toMatchObject({ status: 'waiting', wait: { attempts: 1 } });
      await client.query(`UPDATE ${schema}.runs SET available_at = now() WHERE id = $1`, [first.id]);
      expect(await claimOne('worker-3')).toMatchObject({ id: first.id, wait: null });
      // The resumed execution completes the started step with its next attempt.
      const resumed = (await store.getRun(first.id))!;
      await store.completeStep(leaseOf(resumed), stepEnd(0, { attempt: 2, meta: { attempts: 2 } }));
      expect((await store.loadSteps(first.id))[0]).toMatchObject({
        status: 'completed',
        attempt: 2,
        startedAt: new Date('2030-01-01T00:00:01.000Z'),
      });
    });

    it('refuses a stale lease, and a run asked to stop, writing nothing', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      await expectLeaseLost(
        store.waitForRetry({ ...leaseOf(run), fence: run.fence + 1 }, waitOptions(1, 1_000)),
      );
      await store.requestCancel(run.id);
      const error: unknown = await store.waitForRetry(leaseOf(run), waitOptions(1, 1_000)).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect((error as { code?: string }).code).toBe('run_cancelled');
      expect(await store.getRun(run.id)).toMatchObject({ status: 'running', leaseOwner: 'worker-1' });
      expect(await store.loadSteps(run.id)).toEqual([]);
    });

    it('a waiting run is cancelled at once', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      await store.waitForRetry(leaseOf(run), waitOptions(1, 60_000));
      const ended: string[] = [];
      const unsubscribe = await store.onRunEnded((runId) => ended.push(runId));
      const cancelled = await store.requestCancel(run.id);
      expect(cancelled).toMatchObject({ status: 'cancelled', stopReason: 'cancelled', wait: null });
      await withTimeout(
        waitUntil(() => ended.includes(run.id)),
        5_000,
      );
      await unsubscribe();
      await client.query(`UPDATE ${schema}.runs SET available_at = now() WHERE id = $1`, [run.id]);
      expect(await store.claimRuns({ owner: 'w', limit: 1, leaseMs: 1_000 })).toEqual([]);
    });
  });

  describe('requestCancel', () => {
    it('cancels a queued run at once', async () => {
      const { run } = await store.createRun(newRun());
      const cancelled = await store.requestCancel(run.id);
      expect(cancelled).toMatchObject({
        status: 'cancelled',
        stopReason: 'cancelled',
        cancelRequested: true,
      });
      expect(cancelled?.endedAt).toBeInstanceOf(Date);
      expect(await store.claimRuns({ owner: 'w', limit: 1, leaseMs: 1_000 })).toEqual([]);
    });

    it('flags a running run and leaves a terminal one unchanged', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const flagged = await store.requestCancel(run.id);
      expect(flagged).toMatchObject({
        status: 'running',
        cancelRequested: true,
        leaseOwner: 'worker-1',
        stopReason: null,
      });
      const finished = await store.finishRun(leaseOf(run), {
        stopReason: 'cancelled',
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      });
      expect(await store.requestCancel(run.id)).toEqual(finished);
    });

    it('returns undefined for an unknown run or another tenant', async () => {
      const { run } = await store.createRun(newRun({ tenantId: 'acme' }));
      expect(await store.requestCancel('run_missing')).toBeUndefined();
      expect(await store.requestCancel(run.id, { tenantId: 'other' })).toBeUndefined();
      expect((await store.getRun(run.id))?.status).toBe('queued');
    });
  });

  describe('run attribution (migration 12)', () => {
    it('records user, trigger, creating key and prompt version, and lists by user and trigger', async () => {
      const { run } = await store.createRun(
        newRun({ userId: 'user-1', trigger: 'eval', createdBy: 'key_1', promptVersion: 'code:0123456789ab' }),
      );
      expect(run).toMatchObject({
        userId: 'user-1',
        trigger: 'eval',
        createdBy: 'key_1',
        promptVersion: 'code:0123456789ab',
      });
      expect(await store.getRun(run.id)).toEqual(run);
      const bare = (await store.createRun(newRun())).run;
      expect(bare).toMatchObject({ userId: null, trigger: null, createdBy: null, promptVersion: null });

      const other = (await store.createRun(newRun({ userId: 'user-2', trigger: 'eval' }))).run;
      const sameUserOtherTenant = (await store.createRun(newRun({ tenantId: 'acme', userId: 'user-1' }))).run;
      const second = (await store.createRun(newRun({ userId: 'user-1', trigger: 'schedule' }))).run;
      const ids = async (filter: Parameters<JournalStore['listRuns']>[0]) =>
        (await store.listRuns(filter)).runs.map((listed) => listed.id);
      expect(await ids({ tenantId: 'default', userId: 'user-1' })).toEqual([second.id, run.id]);
      expect(await ids({ tenantId: 'acme', userId: 'user-1' })).toEqual([sameUserOtherTenant.id]);
      expect(await ids({ trigger: 'eval' })).toEqual([other.id, run.id]);
      expect(await ids({ userId: 'user-1', trigger: 'schedule' })).toEqual([second.id]);
      expect(await ids({ userId: 'nobody' })).toEqual([]);
      // Pages of one user's runs follow the same cursor as every listing.
      const first = await store.listRuns({ tenantId: 'default', userId: 'user-1', limit: 1 });
      expect(first.runs.map((listed) => listed.id)).toEqual([second.id]);
      const next = await store.listRuns({
        tenantId: 'default',
        userId: 'user-1',
        limit: 1,
        cursor: first.nextCursor!,
      });
      expect(next.runs.map((listed) => listed.id)).toEqual([run.id]);
      expect(next.nextCursor).toBeUndefined();
    });

    it('reads a run created before the migration with nulls', async () => {
      const old = createTestSchemaName();
      try {
        await client.exec(`CREATE SCHEMA ${old};
          CREATE TABLE ${old}.migrations (version integer PRIMARY KEY, name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now());`);
        for (const migration of migrations.filter((candidate) => candidate.version < 12)) {
          await client.exec(migration.up(old));
          await client.query(`INSERT INTO ${old}.migrations (version, name) VALUES ($1, $2)`, [
            migration.version,
            migration.name,
          ]);
        }
        await client.query(
          `INSERT INTO ${old}.runs (id, tenant_id, agent, status, input) VALUES ($1, 'default', 'support', 'queued', '{}')`,
          ['run_before'],
        );
        const upgraded = createSqlJournalStore({ client, schema: old, clock });
        await upgraded.migrate();
        expect(await upgraded.getRun('run_before')).toMatchObject({
          id: 'run_before',
          userId: null,
          trigger: null,
          createdBy: null,
          promptVersion: null,
        });
        expect((await upgraded.listRuns({ userId: 'user-1' })).runs).toEqual([]);
        await upgraded.close();
      } finally {
        await client.exec(`DROP SCHEMA IF EXISTS ${old} CASCADE`);
      }
    });
  });

  describe('listRuns', () => {
    it('filters and pages newest first with a cursor, without duplicates or gaps', async () => {
      const created: RunRecord[] = [];
      for (let i = 0; i < 9; i++) {
        const { run } = await store.createRun(
          newRun({
            tenantId: i % 3 === 0 ? 'acme' : 'default',
            agent: i % 2 === 0 ? 'support' : 'billing',
            sessionId: i < 4 ? 's1' : null,
          }),
        );
        created.push(run);
      }
      // Three runs created in the same millisecond: the id breaks the tie.
      const frozen = time;
      for (let i = 0; i < 3; i++) {
        time = frozen;
        created.push((await store.createRun(newRun())).run);
      }
      const newestFirst = [...created].sort(
        (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1),
      );

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listRuns({ limit: 5, ...(cursor ? { cursor } : {}) });
        seen.push(...page.runs.map((run) => run.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual(newestFirst.map((run) => run.id));

      const ids = (runs: RunRecord[]) => runs.map((run) => run.id);
      const expectIds = (predicate: (run: RunRecord) => boolean) => ids(newestFirst.filter(predicate));
      expect(ids((await store.listRuns({ tenantId: 'acme' })).runs)).toEqual(
        expectIds((run) => run.tenantId === 'acme'),
      );
      expect(ids((await store.listRuns({ agent: 'billing' })).runs)).toEqual(
        expectIds((run) => run.agent === 'billing'),
      );
      expect(ids((await store.listRuns({ sessionId: 's1' })).runs)).toEqual(
        expectIds((run) => run.sessionId === 's1'),
      );
      const middle = created[4]!.createdAt;
      expect(ids((await store.listRuns({ createdAfter: middle })).runs)).toEqual(
        expectIds((run) => run.createdAt > middle),
      );
      expect(ids((await store.listRuns({ createdBefore: middle, tenantId: 'default' })).runs)).toEqual(
        expectIds((run) => run.createdAt < middle && run.tenantId === 'default'),
      );

      await store.requestCancel(created[0]!.id);
      expect(ids((await store.listRuns({ status: 'cancelled' })).runs)).toEqual([created[0]!.id]);
      const single = await store.listRuns({ limit: 0 });
      expect(single.runs).toHaveLength(1);
      expect((await store.listRuns({})).nextCursor).toBeUndefined();
    });

    it('rejects a malformed cursor as the caller’s fault', async () => {
      const error: unknown = await store
        .listRuns({ cursor: 'not-a-cursor' })
        .catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: 'invalid_cursor', fault: 'caller' });
    });

    it('refuses a crafted cursor before the database sees it, and reads every one it accepts', async () => {
      const crafted = (createdAt: unknown, id: unknown) =>
        Buffer.from(JSON.stringify({ createdAt, id })).toString('base64url');
      for (const cursor of [crafted('x', 'run_1'), crafted('2026-12-05 10:00:00+00', 'a\u0000b')]) {
        for (const list of [() => store.listRuns({ cursor }), () => store.listApprovalsPage({ cursor })])
          await expect(list()).rejects.toMatchObject({ code: 'invalid_cursor', fault: 'caller' });
      }
      // The edges of what a cursor may hold are timestamps and ids the database reads.
      for (const createdAt of [
        '0001-01-01 00:00:00+15:59:59',
        '9999-12-31 23:59:59.999999-15',
        '2024-02-29T12:00:00Z',
      ]) {
        const cursor = crafted(createdAt, 'run_\u00e9\ud83d\ude00');
        expect((await store.listRuns({ cursor })).runs).toBeInstanceOf(Array);
        expect((await store.listApprovalsPage({ cursor })).approvals).toBeInstanceOf(Array);
      }
    });
  });

  describe('approvals', () => {
    const approvalStep = (seq: number) => ({
      seq,
      parentSeq: null,
      kind: 'approval',
      name: 'pay',
      inputHash: `hash-${seq}`,
      attempt: 1,
      startedAt: new Date('2030-01-01T00:00:01.000Z'),
    });
    const suspend = (run: RunRecord, seqs: number[], ttlMs: number | null = null) =>
      store.suspendForApproval(leaseOf(run), {
        approvals: seqs.map((seq) => ({
          stepSeq: seq,
          tool: 'pay',
          arguments: { amount: seq },
          ttlMs,
          step: approvalStep(seq),
        })),
      });

    it('suspends a run (fenced, atomic), wakes it only when the last approval is decided', async () => {
      await store.createRun(newRun({ tenantId: 'acme' }));
      const run = await claimOne();
      const requested = await suspend(run, [1, 2]);
      expect(requested.map((approval) => [approval.stepSeq, approval.status, approval.tenantId])).toEqual([
        [1, 'pending', 'acme'],
        [2, 'pending', 'acme'],
      ]);
      expect(await store.getRun(run.id)).toMatchObject({ status: 'awaiting_approval', leaseOwner: null });
      expect((await store.loadSteps(run.id)).map((step) => step.status)).toEqual(['started', 'started']);
      // A retry of the same suspension is not an error and creates nothing twice.
      expect((await suspend(run, [1, 2])).map((approval) => approval.id)).toEqual(requested.map((a) => a.id));
      expect(await store.claimRuns({ owner: 'w2', limit: 5, leaseMs: 30_000 })).toEqual([]);
      await expect(
        store.decideApproval({
          approvalId: requested[0]!.id,
          tenantId: 'other',
          decision: 'approve',
          decidedBy: 'x',
        }),
      ).rejects.toMatchObject({ code: 'approval_not_found' });

      await store.decideApproval({ approvalId: requested[0]!.id, decision: 'approve', decidedBy: 'alice' });
      expect((await store.getRun(run.id))?.status).toBe('awaiting_approval');
      const rejected = await store.decideApproval({
        approvalId: requested[1]!.id,
        decision: 'reject',
        reason: 'no',
        decidedBy: 'bob',
      });
      expect(rejected).toMatchObject({ status: 'rejected', reason: 'no', decidedBy: 'bob' });
      expect(rejected.decidedAt).toBeInstanceOf(Date);
      expect((await store.getRun(run.id))?.status).toBe('queued');
      await expect(
        store.decideApproval({ approvalId: requested[1]!.id, decision: 'approve', decidedBy: 'bob' }),
      ).rejects.toMatchObject({ code: 'approval_not_pending' });
      const [reclaimed] = await store.claimRuns({ owner: 'w2', limit: 5, leaseMs: 30_000 });
      expect(reclaimed).toMatchObject({ id: run.id, fence: run.fence + 1 });
      expect(await store.listApprovals({ tenantId: 'acme', status: 'pending' })).toEqual([]);
      expect(await store.listApprovals({ tenantId: 'acme' })).toHaveLength(2);
      // Each decision is audited with its decider, in the decision's transaction; refusals are not.
      const audited = await client.query<{
        tenant_id: string;
        actor: string;
        action: string;
        target: string;
        after: unknown;
      }>(`SELECT tenant_id, actor, action, target, after FROM ${schema}.audit_log ORDER BY id`);
      expect(audited.rows).toEqual([
        {
          tenant_id: 'acme',
          actor: 'alice',
          action: 'approval.decide',
          target: `approval:${requested[0]!.id}`,
          after: { status: 'approved' },
        },
        {
          tenant_id: 'acme',
          actor: 'bob',
          action: 'approval.decide',
          target: `approval:${requested[1]!.id}`,
          after: { status: 'rejected' },
        },
      ]);
    });

    it('refuses a stale lease and expires overdue approvals', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      await expect(
        store.suspendForApproval({ ...leaseOf(run), fence: run.fence + 1 }, { approvals: [] }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      const [approval] = await suspend(run, [1], 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const expired = await store.expireApprovals();
      expect(expired.map((entry) => entry.id)).toEqual([approval!.id]);
      expect(await store.getApproval(approval!.id)).toMatchObject({ status: 'expired', reason: 'expired' });
      expect((await store.getRun(run.id))?.status).toBe('queued');
      expect(await store.expireApprovals()).toEqual([]);
    });

    it('cancels a run awaiting approval at once, with its pending approvals', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const [approval] = await suspend(run, [1]);
      expect(await store.requestCancel(run.id)).toMatchObject({
        status: 'cancelled',
        stopReason: 'cancelled',
      });
      expect((await store.getApproval(approval!.id))?.status).toBe('cancelled');
    });
  });

  describe('any text', () => {
    // Postgres refuses NUL and unpaired surrogates; the store escapes them (storable-json.ts).
    const texts = [
      'nul \u0000 inside',
      '\u0000',
      '\ud800',
      'lone high at the end \ud83d',
      '\udc00 lone low first',
      '\ude00\ud83d reversed pair',
      `${ESCAPE_MARKER}starts with the marker`,
      `${ESCAPE_MARKER}"\\u0000"`,
      `in the ${ESCAPE_MARKER} middle`,
      'emoji 😀👩‍👩‍👧 and CJK 漢字かな한글',
      'back\\slash "quotes" \\u0000 \u0001 \n',
      '',
    ];
    const keyed = Object.fromEntries(texts.map((text, index) => [text, { index, text, list: [text] }]));
    const error: SerializedError = {
      code: 'tool_failed',
      message: texts.join('|'),
      fault: 'tool',
      retryable: false,
    };

    it('round-trips NUL, lone surrogates, the escape marker and unicode through every write', async () => {
      const { run: created } = await store.createRun(
        newRun({ input: { texts, keyed }, metadata: { note: texts.join(''), keyed } }),
      );
      expect(created.input).toEqual({ texts, keyed });
      const run = await claimOne();
      expect(run.input).toEqual({ texts, keyed });
      expect(run.metadata).toEqual({ note: texts.join(''), keyed });
      const lease = leaseOf(run);

      for (const [index, text] of texts.entries()) {
        await store.appendTextDelta(lease, { seq: 1, attempt: 1, name: `model ${text}`, text: text || 'x' });
        await store.completeStep(
          lease,
          stepEnd(index + 1, {
            kind: 'tool',
            name: text || 'empty',
            output: { text, keyed: { [text]: text } },
            meta: { toolCallId: text },
            ...(index % 2 === 0 ? { status: 'failed', error, output: text } : {}),
          }),
        );
      }
      const deltas = await store.listTextDeltas(run.id, { seq: 0, idx: 0 });
      expect(deltas.map((delta) => delta.text)).toEqual(texts.map((text) => text || 'x'));
      expect(deltas[0]?.name).toBe(`model ${texts[0]}`);
      const steps = await store.loadSteps(run.id, { withOutputs: true });
      expect(steps.map((step) => [step.name, step.output, step.meta, step.error])).toEqual(
        texts.map((text, index) => [
          text || 'empty',
          index % 2 === 0 ? text : { text, keyed: { [text]: text } },
          { toolCallId: text },
          index % 2 === 0 ? error : null,
        ]),
      );

      const finished = await store.finishRun(lease, {
        stopReason: 'completed',
        output: { texts, keyed },
        error,
        usage: { inputTokens: 1, outputTokens: 1 },
        costUsd: 0,
        stepCount: texts.length,
      });
      for (const record of [finished, await store.getRun(run.id), (await store.listRuns()).runs[0]]) {
        expect(record?.output).toEqual({ texts, keyed });
        expect(record?.error).toEqual(error);
        expect(record?.input).toEqual({ texts, keyed });
      }
    });

    it('round-trips them through approvals (tool, arguments, reason)', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      const requested = await store.suspendForApproval(leaseOf(run), {
        approvals: texts.map((text, index) => ({
          stepSeq: index + 1,
          tool: text || 'empty',
          arguments: { text, keyed },
          ttlMs: null,
          step: {
            seq: index + 1,
            parentSeq: null,
            kind: 'approval',
            name: text || 'empty',
            inputHash: 'h',
            attempt: 1,
            startedAt: new Date(),
          },
        })),
      });
      expect(requested.map((approval) => [approval.tool, approval.arguments])).toEqual(
        texts.map((text) => [text || 'empty', { text, keyed }]),
      );
      expect((await store.loadSteps(run.id)).map((step) => step.name)).toEqual(
        texts.map((text) => text || 'empty'),
      );
      for (const [index, approval] of requested.entries()) {
        const decided = await store.decideApproval({
          approvalId: approval.id,
          decision: 'reject',
          reason: texts[index] ?? null,
          decidedBy: 'key_1',
        });
        expect(decided.reason).toBe(texts[index]);
      }
      const listed = await store.listApprovals({ runId: run.id });
      expect(listed.map((approval) => approval.reason).sort()).toEqual([...texts].sort());
    });

    it('stores ordinary text unchanged and escapes only what Postgres refuses', async () => {
      const { run: created } = await store.createRun(
        newRun({ input: { plain: 'emoji 😀 漢字 "q" \\', odd: 'a\u0000b' } }),
      );
      const stored = await client.query<{ plain: string; odd: string }>(
        `SELECT input->>'plain' AS plain, input->>'odd' AS odd FROM ${schema}.runs WHERE id = $1`,
        [created.id],
      );
      expect(stored.rows[0]).toEqual({ plain: 'emoji 😀 漢字 "q" \\', odd: `${ESCAPE_MARKER}"a\\u0000b"` });
    });

    it('round-trips any string (property)', async () => {
      await store.createRun(newRun());
      const lease = leaseOf(await claimOne());
      let seq = 0;
      await fc.assert(
        fc.asyncProperty(anyString, anyString, async (text, key) => {
          seq += 1;
          await store.completeStep(lease, stepEnd(seq, { output: { [key]: [text, { text }] } }));
          await store.appendTextDelta(lease, { seq, attempt: 1, name: 'model', text: text || 'x' });
          const [step] = await store
            .loadSteps(lease.runId, { withOutputs: { fromSeq: seq } })
            .then((all) => all.filter((record) => record.seq === seq));
          expect(step?.output).toEqual({ [key]: [text, { text }] });
          const [delta] = await store.listTextDeltas(lease.runId, { seq, idx: 0 }, { limit: 1 });
          expect(delta?.text).toBe(text || 'x');
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('dead runs and retries (migration 28)', () => {
    const endAs = async (stopReason: StopReason, error: SerializedError | null = null) => {
      const run = await claimOne();
      return store.finishRun(leaseOf(run), {
        stopReason,
        error,
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        stepCount: 0,
      });
    };
    const crashed: SerializedError = {
      code: 'too_many_attempts',
      message: 'claimed 4 times',
      fault: 'system',
      retryable: false,
    };

    it('lists runs that ended with stop reason error, combined with other filters and paged', async () => {
      const dead: RunRecord[] = [];
      for (let i = 0; i < 5; i++) {
        await store.createRun(newRun({ agent: i % 2 === 0 ? 'support' : 'billing', tenantId: 'acme' }));
        dead.push(await endAs('error', crashed));
        await store.createRun(newRun({ tenantId: 'acme' }));
        await endAs(i % 2 === 0 ? 'completed' : 'max_steps');
      }
      await store.createRun(newRun({ tenantId: 'other' }));
      await endAs('error', crashed);
      await store.createRun(newRun({ tenantId: 'acme' })); // queued: not dead
      const newestFirst = dead.map((run) => run.id).reverse();

      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns({
          tenantId: 'acme',
          dead: true,
          limit: 2,
          ...(cursor ? { cursor } : {}),
        });
        seen.push(...page.runs.map((run) => run.id));
        expect(
          page.runs.every((run) => run.stopReason === 'error' && run.error?.code === 'too_many_attempts'),
        ).toBe(true);
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(newestFirst);
      const billing = await store.listRuns({ tenantId: 'acme', dead: true, agent: 'billing' });
      expect(billing.runs.map((run) => run.id)).toEqual(
        dead
          .filter((run) => run.agent === 'billing')
          .map((run) => run.id)
          .reverse(),
      );
      expect((await store.listRuns({ dead: true, stopReason: 'completed' })).runs).toEqual([]);
      expect((await store.listRuns({ dead: true })).runs).toHaveLength(6);
      expect((await store.listRuns({ dead: false, tenantId: 'acme' })).runs).toHaveLength(11);
    });

    it('retries a dead run once, as a new queued run linked both ways, with an audit row', async () => {
      await store.createRun(
        newRun({
          sessionId: 's1',
          userId: 'u1',
          metadata: { ticket: 7 },
          promptVersion: 'code:old',
          trigger: 'api',
        }),
      );
      const dead = await endAs('error', crashed);
      const retry = await store.retryRun({
        runId: dead.id,
        tenantId: 'default',
        actor: 'key:key_1',
        createdBy: 'key_1',
        promptVersion: 'code:new',
      });
      expect(retry).toMatchObject({
        status: 'queued',
        agent: dead.agent,
        input: dead.input,
        sessionId: 's1',
        userId: 'u1',
        metadata: { ticket: 7 },
        trigger: 'retry',
        createdBy: 'key_1',
        promptVersion: 'code:new',
        retryOf: dead.id,
        retriedBy: null,
        attempts: 0,
      });
      expect(retry.id).not.toBe(dead.id);
      expect(await store.getRun(dead.id)).toMatchObject({ retriedBy: retry.id, retryOf: null });
      expect((await store.getRun(retry.id))?.retryOf).toBe(dead.id);
      expect((await store.listRuns({ dead: true })).runs.map((run) => [run.id, run.retriedBy])).toEqual([
        [dead.id, retry.id],
      ]);
      // The retry is claimable like any queued run.
      expect((await claimOne()).id).toBe(retry.id);

      const audit = await client.query<{
        actor: string;
        action: string;
        target: string;
        after: unknown;
        details: unknown;
      }>(`SELECT actor, action, target, after, details FROM ${schema}.audit_log WHERE action = 'run.retry'`);
      expect(audit.rows).toEqual([
        {
          actor: 'key:key_1',
          action: 'run.retry',
          target: `run:${dead.id}`,
          after: { retried_by: retry.id },
          details: { retry_run_id: retry.id, agent: dead.agent, error_code: 'too_many_attempts' },
        },
      ]);
      await expect(store.retryRun({ runId: dead.id, actor: 'cli:ops' })).rejects.toMatchObject({
        code: 'run_already_retried',
        details: { runId: dead.id, retriedBy: retry.id },
      });
    });

    it('keeps the dead run’s prompt version when none is given', async () => {
      await store.createRun(newRun({ promptVersion: 'code:old' }));
      const dead = await endAs('error');
      expect((await store.retryRun({ runId: dead.id, actor: 'cli:ops' })).promptVersion).toBe('code:old');
    });

    it('refuses runs that are not dead, unknown runs and other tenants’ runs, writing nothing', async () => {
      const { run: queued } = await store.createRun(newRun());
      await expect(store.retryRun({ runId: queued.id, actor: 'cli:ops' })).rejects.toMatchObject({
        code: 'run_not_dead',
        details: { status: 'queued', stopReason: null },
      });
      await claimOne();
      await expect(store.retryRun({ runId: queued.id, actor: 'cli:ops' })).rejects.toMatchObject({
        code: 'run_not_dead',
        details: { status: 'running' },
      });
      await store.createRun(newRun());
      const completed = await endAs('completed');
      await expect(store.retryRun({ runId: completed.id, actor: 'cli:ops' })).rejects.toMatchObject({
        code: 'run_not_dead',
        details: { status: 'completed', stopReason: 'completed' },
      });
      await store.createRun(newRun({ tenantId: 'acme' }));
      const dead = await endAs('error');
      await expect(
        store.retryRun({ runId: dead.id, tenantId: 'default', actor: 'cli:ops' }),
      ).rejects.toMatchObject({ code: 'run_not_found' });
      await expect(store.retryRun({ runId: 'run_nope', actor: 'cli:ops' })).rejects.toMatchObject({
        code: 'run_not_found',
      });
      const written = await client.query<{ runs: number; audits: number }>(
        `SELECT (SELECT count(*)::int FROM ${schema}.runs) AS runs,
           (SELECT count(*)::int FROM ${schema}.audit_log) AS audits`,
      );
      expect(written.rows[0]).toEqual({ runs: 3, audits: 0 });
    });

    it('creates one retry when two retries race', async () => {
      await store.createRun(newRun());
      const dead = await endAs('error');
      const results = await Promise.allSettled([
        store.retryRun({ runId: dead.id, actor: 'cli:a' }),
        store.retryRun({ runId: dead.id, actor: 'cli:b' }),
      ]);
      const created = results.filter((result) => result.status === 'fulfilled');
      const refused = results.filter((result) => result.status === 'rejected');
      expect(created).toHaveLength(1);
      expect(refused.map((result) => (result.reason as { code: string }).code)).toEqual([
        'run_already_retried',
      ]);
      expect((await store.listRuns({})).runs.filter((run) => run.retryOf === dead.id)).toHaveLength(1);
    });
  });

  describe('deleting a run', () => {
    it('deletes its steps and payloads', async () => {
      await store.createRun(newRun());
      const run = await claimOne();
      await store.completeStep(leaseOf(run), stepEnd(1));
      await client.query(`DELETE FROM ${schema}.runs WHERE id = $1`, [run.id]);
      const left = await client.query<{ count: number }>(
        `SELECT (SELECT count(*) FROM ${schema}.steps) + (SELECT count(*) FROM ${schema}.payloads) AS count`,
      );
      expect(Number(left.rows[0]?.count)).toBe(0);
    });
  });
}

describe('SqlJournalStore on PGlite (in memory)', () => {
  journalStoreContract(() => createPgliteClient());
});

describePostgres('SqlJournalStore on Postgres', (connectionString) => {
  journalStoreContract(async () => createPgClient({ connectionString, max: 8 }));
});

describe('pg client, database unreachable', () => {
  const closedPort = 'postgres://postgres@127.0.0.1:1/postgres';

  it('throws DatabaseUnavailableError (retryable) from queries and transactions', async () => {
    const client = createPgClient({ connectionString: closedPort, connectionTimeoutMillis: 2_000 });
    try {
      for (const attempt of [
        () => client.query('SELECT 1'),
        () => client.transaction((tx) => tx.query('SELECT 1')),
      ]) {
        const error: unknown = await attempt().catch((thrown: unknown) => thrown);
        expect(error).toBeInstanceOf(DatabaseUnavailableError);
        expect(error).toMatchObject({ code: 'database_unavailable', retryable: true });
      }
      const store = createSqlJournalStore({ client });
      await expect(store.claimRuns({ owner: 'w', limit: 1, leaseMs: 1_000 })).rejects.toBeInstanceOf(
        DatabaseUnavailableError,
      );
    } finally {
      await client.close();
    }
  });

  it('keeps a LISTEN subscription registered and cleans it up', async () => {
    const client = createPgClient({
      connectionString: closedPort,
      connectionTimeoutMillis: 2_000,
      reconnectDelayMs: { initial: 10, max: 50 },
    });
    const unsubscribe = await client.listen('keel_runnable', () => {});
    await unsubscribe();
    await client.close();
  });
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitUntil(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 5));
}
