/**
 * The approval crash test: worker A (a real process running dist/) suspends a run on an
 * approval and is SIGKILLed; the approval is decided with no worker alive; worker B resumes the
 * run and completes it, with the approved effect applied exactly once.
 */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describePostgres } from '../../src/testing/postgres.js';
import { readEntries, spawnWorker, useCrashStore, waitForExit, waitUntil } from '../crash/support.js';

const WORKER_PATH = fileURLToPath(new URL('./approval-worker.mjs', import.meta.url));

describePostgres('approvals across a worker crash', (databaseUrl) => {
  const test = useCrashStore(databaseUrl, { per: 'file' });

  it('completes on another worker after the pausing worker was killed', { timeout: 150_000 }, async () => {
    const { store, client, ledgerSchema } = test;
    const env = test.workerEnv();
    const { run } = await store.createRun({ agent: 'approval-agent', input: 'pay please' });

    const workerA = spawnWorker('A', env, WORKER_PATH);
    await waitUntil(() => workerA.event('suspended'), {
      timeoutMs: 60_000,
      message: () => `worker A never suspended: ${workerA.describe()}`,
    });
    const waiting = await store.getRun(run.id);
    expect(waiting).toMatchObject({ status: 'awaiting_approval', leaseOwner: null });
    workerA.signal('SIGKILL');
    expect(await waitForExit(workerA, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });

    // Decided while no worker is alive: the decision waits in the database.
    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(approval).toMatchObject({ tool: 'pay', arguments: { amount: 42 } });
    await store.decideApproval({
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'ops@example.com',
    });
    expect((await store.getRun(run.id))?.status).toBe('queued');

    const workerB = spawnWorker('B', env, WORKER_PATH);
    const finished = await waitUntil(
      async () => {
        const current = await store.getRun(run.id);
        return current?.status === 'completed' ? current : undefined;
      },
      { timeoutMs: 60_000, message: () => `run not completed; worker B: ${workerB.describe()}` },
    );
    expect(finished.output).toBe('done: {"by":"B","paid":42}');
    expect(finished.attempts).toBe(2);

    const entries = await readEntries(client, ledgerSchema);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ runId: run.id, worker: 'B', entry: 'pay 42' });
    expect(workerA.events.some((event) => event.event === 'paid')).toBe(false);

    const steps = await store.loadSteps(run.id, { withOutputs: true });
    expect(steps.map((step) => `${step.kind}:${step.name}:${step.status}`)).toEqual([
      'model:builtin:approval-script:completed',
      'approval:pay:completed',
      'tool:pay:completed',
      'model:builtin:approval-script:completed',
    ]);
    expect(steps[1]!.output).toMatchObject({ status: 'approved', decidedBy: 'ops@example.com' });
    expect(await store.getApproval(approval!.id)).toMatchObject({
      status: 'approved',
      decidedBy: 'ops@example.com',
    });
    workerB.signal('SIGTERM');
    expect(await waitForExit(workerB, 30_000)).toEqual({ code: 0, signal: null });
  });
});
