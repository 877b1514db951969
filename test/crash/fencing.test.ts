/**
 * Fencing: a worker that is paused past its lease (SIGSTOP: a GC pause, a frozen VM, a network
 * partition) must not write to the journal once another worker claimed the run, whatever it was
 * doing when it froze. Worker A (a child process) blocks inside the run's first tool; the test
 * freezes it until its lease expires; worker B claims the run (new fence) and finishes it; then A
 * is thawed. The journal and the external ledger must show B's execution only, and the effect
 * once.
 */
import { writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LeaseLostError, type RunRecord } from '../../src/index.js';
import type { Lease, StepEnd } from '../../src/journal/types.js';
import { describePostgres } from '../../src/testing/postgres.js';
import {
  blockWorkerInFirstAppend,
  EXPECTED_STEPS,
  expectScriptFinishedBy,
  readEntries,
  spawnWorker,
  useCrashStore,
  waitForExit,
  waitUntil,
  type WorkerEvent,
  type WorkerProcess,
} from './support.js';

describePostgres('fencing: a worker paused past its lease cannot write', (databaseUrl) => {
  const test = useCrashStore(databaseUrl);

  const leaseExpired = async (runId: string) =>
    (
      await test.client.query<{ expired: boolean }>(
        `SELECT lease_expires_at < now() AS expired FROM ${test.schema}.runs WHERE id = $1`,
        [runId],
      )
    ).rows[0]?.expired === true;

  /**
   * The scenario, up to A thawed and exited, with its common checks. `blockAt`: where A's tool
   * freezes relative to its ledger transaction. `leaseMs`/`heartbeatMs`: A's lease settings (an
   * hour-long heartbeat period means A never learns of the lost lease from a heartbeat, so the
   * fence on its next append is what stops it).
   */
  async function pausedWorkerScenario({
    blockAt,
    leaseMs,
    heartbeatMs,
  }: {
    blockAt: 'before-ledger' | 'after-ledger';
    leaseMs: number;
    heartbeatMs: number;
  }) {
    // A claims the run and blocks inside the first `append`.
    const { run, a, heldByA, releaseFile } = await blockWorkerInFirstAppend(test, {
      input: 'fenced',
      blockAt,
      env: { KEEL_LEASE_MS: leaseMs, KEEL_HEARTBEAT_MS: heartbeatMs },
    });
    const stepsOfA = await test.store.loadSteps(run.id);
    expect(stepsOfA.map((step) => [step.seq, step.status])).toEqual([
      [0, 'completed'],
      [1, 'started'],
    ]);

    // Freeze A until its lease has expired by the database's clock.
    a.signal('SIGSTOP');
    await waitUntil(() => leaseExpired(run.id), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: () => 'the lease never expired',
    });

    // B claims the run with a newer fence and finishes it while A is frozen.
    const b = spawnWorker('B', { ...test.workerEnv(), KEEL_CONCURRENCY: 1 });
    expect(await waitForExit(b, 60_000), b.describe()).toEqual({ code: 0, signal: null });
    expect(b.event('claimed')?.runs).toEqual([{ id: run.id, fence: heldByA.fence + 1, attempts: 2 }]);
    const finishedByB = (await test.store.getRun(run.id))!;
    expect(finishedByB).toMatchObject({
      status: 'completed',
      output: 'done: fenced',
      fence: heldByA.fence + 1,
      leaseOwner: null,
      stepCount: EXPECTED_STEPS.length,
    });
    // The journal is the whole script, each output B's and each effect once.
    const { journal: journalOfB, entries: entriesAfterB } = await expectScriptFinishedBy(test, run.id, 'B');

    // Thaw A: it must notice it lost the run, write nothing, and exit cleanly.
    writeFileSync(releaseFile, '');
    a.signal('SIGCONT');
    expect(await waitForExit(a, 60_000), a.describe()).toEqual({ code: 0, signal: null });
    expect(a.event('idle-exit'), a.describe()).toBeDefined();
    expect(a.stderr()).toContain('lease lost; abandoning run to its new owner');

    // Nothing changed after A woke up: the journal, the run and the ledger are B's.
    expect(await test.store.loadSteps(run.id, { withOutputs: true })).toEqual(journalOfB);
    expect(await test.store.getRun(run.id)).toEqual(finishedByB);
    expect(await readEntries(test.client, test.ledgerSchema)).toEqual(entriesAfterB);

    // The step A left `started` was re-executed by B (attempt 2).
    expect(journalOfB[1]!.attempt).toBe(2);
    return { run, a, b, heldByA, entries: entriesAfterB };
  }

  const refusals = (worker: WorkerProcess): WorkerEvent[] =>
    worker.events.filter((event) => event.event === 'write-refused');

  it(
    'refuses the append of a worker that resumes after its lease moved on',
    { timeout: 90_000 },
    async () => {
      // A's heartbeat never fires: A finds out only when the fence refuses its append. A froze
      // after its ledger transaction committed, so the effect is A's, and B replays it.
      const { run, a, heldByA, entries } = await pausedWorkerScenario({
        blockAt: 'after-ledger',
        leaseMs: 1_500,
        heartbeatMs: 3_600_000,
      });

      expect(a.event('unblocked')).toBeDefined();
      expect(refusals(a)).toEqual([
        expect.objectContaining({
          method: 'completeStep',
          code: 'lease_lost',
          runId: run.id,
          fence: heldByA.fence,
        }),
      ]);
      expect(entries.find((entry) => entry.seq === 1)?.worker).toBe('A');
      expect(entries.filter((entry) => entry.seq !== 1).every((entry) => entry.worker === 'B')).toBe(true);
    },
  );

  it('makes a worker with live heartbeats abandon the run when it thaws', { timeout: 90_000 }, async () => {
    // A froze before its ledger transaction: B does the effect. On thawing, A learns of the lost
    // lease from its heartbeat or from the fence on its next write, whichever comes first; its
    // tool, deaf to cancellation, may still reach the ledger, which replays B's effect.
    const { a, entries } = await pausedWorkerScenario({
      blockAt: 'before-ledger',
      leaseMs: 600,
      heartbeatMs: 150,
    });

    for (const refusal of refusals(a)) expect(refusal.code).toBe('lease_lost');
    expect(entries.every((entry) => entry.worker === 'B')).toBe(true);
  });

  it('refuses every fenced write made with a stale fence, also by the same owner', async () => {
    const { run } = await test.store.createRun({ agent: 'fence-probe', input: null });
    const [first] = await test.store.claimRuns({ owner: 'worker-x', limit: 1, leaseMs: 50 });
    expect(first).toMatchObject({ id: run.id });
    await waitUntil(() => leaseExpired(run.id), {
      timeoutMs: 10_000,
      message: () => 'the lease never expired',
    });
    // The same owner claims again: only the fence tells the two executions apart.
    const [second] = await test.store.claimRuns({ owner: 'worker-x', limit: 1, leaseMs: 60_000 });
    expect(second).toMatchObject({ id: run.id, fence: first!.fence + 1, attempts: 2 });

    const stale: Lease = { runId: run.id, owner: 'worker-x', fence: first!.fence };
    const current: Lease = { runId: run.id, owner: 'worker-x', fence: second!.fence };
    const step: StepEnd = {
      seq: 0,
      parentSeq: null,
      kind: 'tool',
      name: 'probe',
      inputHash: 'hash',
      attempt: 1,
      startedAt: new Date(),
      status: 'completed',
      endedAt: new Date(),
      output: { by: 'stale' },
    };
    const end = {
      stopReason: 'completed' as const,
      output: 'stale',
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      stepCount: 1,
    };
    const expectLeaseLost = async (write: Promise<unknown>, fence = first!.fence) => {
      const error = await write.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toMatchObject({ code: 'lease_lost', details: { runId: run.id, fence } });
    };

    await expectLeaseLost(test.store.startStep(stale, step));
    await expectLeaseLost(test.store.completeStep(stale, step));
    await expectLeaseLost(test.store.finishRun(stale, end));
    await expectLeaseLost(test.store.releaseRun(stale));
    expect(await test.store.heartbeat({ leases: [stale], leaseMs: 60_000 })).toEqual([
      { runId: run.id, held: false, cancelRequested: false },
    ]);
    expect(await test.store.loadSteps(run.id)).toEqual([]);

    // The current holder writes; the stale one still cannot overwrite it, nor end the run.
    await test.store.completeStep(current, { ...step, output: { by: 'current' } });
    await expectLeaseLost(test.store.completeStep(stale, { ...step, seq: 1 }));
    await expectLeaseLost(test.store.finishRun(stale, end));
    const steps = await test.store.loadSteps(run.id, { withOutputs: true });
    expect(steps.map((recorded) => [recorded.seq, recorded.output])).toEqual([[0, { by: 'current' }]]);
    const finished: RunRecord = await test.store.finishRun(current, { ...end, output: 'current' });
    expect(finished).toMatchObject({ status: 'completed', output: 'current', fence: second!.fence });
    // A finished run takes no more appends, even under the last fence.
    await expectLeaseLost(test.store.completeStep(current, { ...step, seq: 2 }), second!.fence);
  });
});
