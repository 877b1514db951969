/**
 * Liveness locks on Postgres, with real processes: a worker that dies (SIGKILL) loses its
 * liveness lock with its connection, and another worker takes its run over without waiting for
 * the lease; a worker that only stalls (SIGSTOP) keeps its connection and its lock, so its run
 * waits for the lease as before, and the fence still keeps it from writing when it comes back.
 * Both workers are crash-worker.mjs processes blocked inside the run's first `append`.
 */
import { writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LIVENESS_LOCK_NAMESPACE } from '../../src/journal/worker-liveness.js';
import { describePostgres } from '../../src/testing/postgres.js';
import {
  blockWorkerInFirstAppend,
  expectScriptFinishedBy,
  readEntries,
  spawnWorker,
  useCrashStore,
  waitForExit,
  waitUntil,
} from './support.js';

describePostgres(
  'liveness: a dead worker is recovered at once, a stalled one after its lease',
  (databaseUrl) => {
    const test = useCrashStore(databaseUrl);
    const env = () => ({ ...test.workerEnv(), KEEL_CONCURRENCY: 1 });
    const holdsLivenessLock = async (owner: string) =>
      (
        await test.client.query<{ held: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int4::oid
           AND objid = hashtext($2)::oid AND objsubid = 2 AND granted) AS held`,
          [LIVENESS_LOCK_NAMESPACE, owner],
        )
      ).rows[0]?.held === true;

    /** A blocked inside the run's first `append`, holding its liveness lock. */
    async function blockedWorkerA(leaseEnv: Record<string, string | number>) {
      const blocked = await blockWorkerInFirstAppend(test, { input: 'liveness', env: leaseEnv });
      expect(await holdsLivenessLock(`A:${blocked.a.pid}`)).toBe(true);
      return blocked;
    }

    /** B's journal is the whole script, every effect once and B's. */
    async function expectFinishedByB(runId: string) {
      const { journal, entries } = await expectScriptFinishedBy(test, runId, 'B');
      expect(entries.every((entry) => entry.worker === 'B')).toBe(true);
      return journal;
    }

    it('lets another worker resume the run of a worker SIGKILLed mid-tool before its lease expires', async () => {
      // A 30 s lease, renewed by A's heartbeats until it dies: only the liveness lock can explain
      // a takeover while it is still running.
      const leaseEnv = { KEEL_LEASE_MS: 30_000, KEEL_HEARTBEAT_MS: 1_000 };
      const { run, a, heldByA } = await blockedWorkerA(leaseEnv);
      const b = spawnWorker('B', { ...env(), ...leaseEnv });
      await waitUntil(() => b.event('ready'), {
        timeoutMs: 30_000,
        message: () => `B never started: ${b.describe()}`,
      });

      a.signal('SIGKILL');
      expect(await waitForExit(a, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
      expect(await waitForExit(b, 60_000), b.describe()).toEqual({ code: 0, signal: null });

      expect(b.event('claimed')?.runs).toEqual([{ id: run.id, fence: heldByA.fence + 1, attempts: 2 }]);
      expect(await test.store.getRun(run.id)).toMatchObject({
        status: 'completed',
        fence: heldByA.fence + 1,
      });
      // B claimed, ran and finished the run while A's last lease was still running (database clock).
      const leaseStillRunning = await test.client.query<{ running: boolean }>(
        'SELECT now() < $1::timestamptz AS running',
        [heldByA.leaseExpiresAt!.toISOString()],
      );
      expect(leaseStillRunning.rows[0]?.running).toBe(true);
      expect(await holdsLivenessLock(`A:${a.pid}`)).toBe(false);
      const journal = await expectFinishedByB(run.id);
      // A died with seq 1 `started` and before its ledger transaction: B executed it again.
      expect(journal[1]!.attempt).toBe(2);
    }, 120_000);

    it('keeps the run of a SIGSTOPped worker (its lock held) until its lease expires, then fences it out', async () => {
      // No heartbeat: A's lease ends 4 s after its claim, wherever it is frozen.
      const { run, a, heldByA, releaseFile } = await blockedWorkerA({
        KEEL_LEASE_MS: 4_000,
        KEEL_HEARTBEAT_MS: 3_600_000,
      });
      a.signal('SIGSTOP');
      // Frozen, A's connection stays open, and with it its liveness lock.
      expect(await holdsLivenessLock(`A:${a.pid}`)).toBe(true);

      // B polls from before the lease ends; it may take the run over only once it has.
      const b = spawnWorker('B', env());
      expect(await waitForExit(b, 60_000), b.describe()).toEqual({ code: 0, signal: null });
      const claimedByB = b.event('claimed');
      expect(claimedByB?.runs).toEqual([{ id: run.id, fence: heldByA.fence + 1, attempts: 2 }]);
      expect(claimedByB?.at as number).toBeGreaterThanOrEqual(heldByA.leaseExpiresAt!.getTime());
      expect(await holdsLivenessLock(`A:${a.pid}`)).toBe(true);
      const journalOfB = await expectFinishedByB(run.id);
      const finishedByB = await test.store.getRun(run.id);
      const entriesAfterB = await readEntries(test.client, test.ledgerSchema);

      // Thawed, A goes on with its tool (the ledger replays B's effect) and is refused its write.
      writeFileSync(releaseFile, '');
      a.signal('SIGCONT');
      expect(await waitForExit(a, 60_000), a.describe()).toEqual({ code: 0, signal: null });
      expect(a.events.filter((event) => event.event === 'write-refused')).toEqual([
        expect.objectContaining({
          method: 'completeStep',
          code: 'lease_lost',
          runId: run.id,
          fence: heldByA.fence,
        }),
      ]);
      expect(await test.store.loadSteps(run.id, { withOutputs: true })).toEqual(journalOfB);
      expect(await test.store.getRun(run.id)).toEqual(finishedByB);
      expect(await readEntries(test.client, test.ledgerSchema)).toEqual(entriesAfterB);
    }, 120_000);
  },
);
