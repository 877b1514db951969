/**
 * Effects whose outcome is unknown, with real processes: a worker (unknown-outcome-worker.mjs,
 * running dist/) SIGKILLs itself right after a tool's effect committed and before the journal
 * write. A second worker then takes the run over: a tool with `reconcile` is asked, and its
 * effect is not repeated; a destructive tool without one waits for a person (the run holds no
 * worker), and runs again once the approval is granted.
 */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { RunRecord } from '../../src/index.js';
import { describePostgres } from '../../src/testing/postgres.js';
import {
  readEntries,
  spawnWorker,
  useCrashStore,
  waitForExit,
  waitUntil,
  type WorkerProcess,
} from './support.js';

const WORKER = fileURLToPath(new URL('./unknown-outcome-worker.mjs', import.meta.url));
/** Generous: the machine running the tests may be busy. */
const WAIT_MS = 30_000;

describePostgres(
  'unknown outcomes: a worker SIGKILLed between the effect and the journal write',
  (databaseUrl) => {
    const test = useCrashStore(databaseUrl, { per: 'file' });
    const env = (crash: boolean) => ({ ...test.workerEnv(), KEEL_CRASH: crash ? '1' : '0' });

    /** Submits a run and lets a crashing worker die right after its tool's effect. */
    async function crashAfterEffect(agent: string, tag: string): Promise<RunRecord> {
      const { run } = await test.store.createRun({ agent, input: 'go' });
      const doomed = spawnWorker(tag, env(true), WORKER);
      const exit = await waitForExit(doomed, WAIT_MS);
      expect(exit.signal, doomed.describe()).toBe('SIGKILL');
      expect(doomed.event('crash')).toMatchObject({ runId: run.id, seq: 1 });
      const steps = await test.store.loadSteps(run.id);
      expect(steps.map((step) => `${step.seq}:${step.kind}:${step.status}`)).toEqual([
        '0:model:completed',
        '1:tool:started',
      ]);
      const entries = (await readEntries(test.client, test.ledgerSchema)).filter(
        (entry) => entry.runId === run.id,
      );
      expect(entries.map((entry) => entry.key)).toEqual([`${run.id}:1`]);
      return run;
    }

    async function waitForStatus(runId: string, statuses: RunRecord['status'][], worker: WorkerProcess) {
      return waitUntil(
        async () => {
          const run = await test.store.getRun(runId);
          return run && statuses.includes(run.status) ? run : undefined;
        },
        {
          timeoutMs: WAIT_MS,
          intervalMs: 100,
          message: () => `run ${runId} never became ${statuses.join('/')}; ${worker.describe()}`,
        },
      );
    }

    async function stop(worker: WorkerProcess) {
      worker.signal('SIGTERM');
      await waitForExit(worker, WAIT_MS);
    }

    it('asks reconcile after the crash and does not repeat the effect', { timeout: 90_000 }, async () => {
      const run = await crashAfterEffect('reconcile-agent', 'doomed-1');
      const survivor = spawnWorker('survivor-1', env(false), WORKER);
      try {
        const finished = await waitForStatus(run.id, ['completed', 'failed'], survivor);
        expect(finished.status, survivor.describe()).toBe('completed');
        expect(finished.output).toBe('tool said: {"by":"doomed-1","charge":7,"reconciled":true}');
        const entries = (await readEntries(test.client, test.ledgerSchema)).filter(
          (entry) => entry.runId === run.id,
        );
        expect(entries.map((entry) => entry.worker)).toEqual(['doomed-1']);
        expect(survivor.events.filter((event) => event.event === 'reconcile')).toMatchObject([
          { key: `${run.id}:1`, found: 1 },
        ]);
        expect(survivor.events.filter((event) => event.event === 'effect')).toEqual([]);
        const tool = (await test.store.loadSteps(run.id, { withOutputs: true })).find(
          (step) => step.seq === 1,
        )!;
        expect(tool).toMatchObject({ status: 'completed', meta: { reconciled: true } });
      } finally {
        await stop(survivor);
      }
    });

    it(
      'holds a destructive tool without reconcile for a person, then runs it once approved',
      { timeout: 90_000 },
      async () => {
        const run = await crashAfterEffect('destructive-agent', 'doomed-2');
        const survivor = spawnWorker('survivor-2', env(false), WORKER);
        try {
          const waiting = await waitForStatus(run.id, ['awaiting_approval', 'completed', 'failed'], survivor);
          expect(waiting.status, survivor.describe()).toBe('awaiting_approval');
          expect(waiting.leaseOwner).toBeNull();
          const [approval] = await test.store.listApprovals({ runId: run.id, status: 'pending' });
          expect(approval).toMatchObject({
            tool: 'wipe',
            stepSeq: 1,
            arguments: { reason: 'unknown_outcome', idempotencyKey: `${run.id}:1`, arguments: { amount: 7 } },
          });
          // Nothing ran again while the run waited.
          expect(survivor.events.filter((event) => event.event === 'effect')).toEqual([]);

          await test.store.decideApproval({
            approvalId: approval!.id,
            decision: 'approve',
            decidedBy: 'operator',
          });
          const finished = await waitForStatus(run.id, ['completed', 'failed'], survivor);
          expect(finished.status, survivor.describe()).toBe('completed');
          expect(finished.output).toBe('tool said: {"by":"survivor-2","wipe":7}');
          const entries = (await readEntries(test.client, test.ledgerSchema)).filter(
            (entry) => entry.runId === run.id,
          );
          // Approve means "run it again": the operator accepted the repeat.
          expect(entries.map((entry) => entry.worker)).toEqual(['doomed-2', 'survivor-2']);
          const tool = (await test.store.loadSteps(run.id, { withOutputs: true })).find(
            (step) => step.seq === 1,
          )!;
          expect(tool).toMatchObject({
            status: 'completed',
            meta: { unknownOutcome: { approvalId: approval!.id, decision: 'approved' } },
          });
        } finally {
          await stop(survivor);
        }
      },
    );
  },
);
