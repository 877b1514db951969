/**
 * The approval crash test: worker A (a real process running dist/) suspends a run on an
 * approval and is SIGKILLed; the approval is decided with no worker alive; worker B resumes the
 * run and completes it, with the approved effect applied exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type JournalStore, type SqlClient } from '../../src/index.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { assertBuilt, createLedgerTables, dropSchemas, readEntries, waitUntil } from '../crash/support.js';

const WORKER_PATH = fileURLToPath(new URL('./approval-worker.mjs', import.meta.url));

interface Child {
  process: ChildProcess;
  events: Record<string, unknown>[];
  exited: Promise<void>;
}

const children: Child[] = [];

function spawnWorker(tag: string, env: Record<string, string>): Child {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    KEEL_LOG_LEVEL: 'warn',
    KEEL_WORKER_TAG: tag,
  };
  delete childEnv.NODE_OPTIONS;
  const child = spawn(process.execPath, [WORKER_PATH], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const entry = { process: child, events, exited };
  children.push(entry);
  return entry;
}

describePostgres('approvals across a worker crash', (databaseUrl) => {
  const schema = createTestSchemaName();
  const ledgerSchema = `${schema}_ledger`;
  let store: JournalStore;
  let client: SqlClient;

  beforeAll(async () => {
    assertBuilt();
    ({ store, client } = await openStore({ databaseUrl, schema }));
    await createLedgerTables(client, ledgerSchema);
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
      await child.exited;
    }
    if (client) await dropSchemas(client, schema, ledgerSchema);
    await store?.close();
  });

  it('completes on another worker after the pausing worker was killed', { timeout: 150_000 }, async () => {
    const env = { DATABASE_URL: databaseUrl, KEEL_SCHEMA: schema, KEEL_LEDGER_SCHEMA: ledgerSchema };
    const { run } = await store.createRun({ agent: 'approval-agent', input: 'pay please' });

    const workerA = spawnWorker('A', env);
    await waitUntil(() => workerA.events.find((event) => event.event === 'suspended'), {
      timeoutMs: 60_000,
      message: () => `worker A never suspended: ${JSON.stringify(workerA.events)}`,
    });
    const waiting = await store.getRun(run.id);
    expect(waiting).toMatchObject({ status: 'awaiting_approval', leaseOwner: null });
    workerA.process.kill('SIGKILL');
    await workerA.exited;

    // Decided while no worker is alive: the decision waits in the database.
    const [approval] = await store.listApprovals({ runId: run.id, status: 'pending' });
    expect(approval).toMatchObject({ tool: 'pay', arguments: { amount: 42 } });
    await store.decideApproval({
      approvalId: approval!.id,
      decision: 'approve',
      decidedBy: 'ops@example.com',
    });
    expect((await store.getRun(run.id))?.status).toBe('queued');

    const workerB = spawnWorker('B', env);
    const finished = await waitUntil(
      async () => {
        const current = await store.getRun(run.id);
        return current?.status === 'completed' ? current : undefined;
      },
      { timeoutMs: 60_000, message: () => `run not completed; worker B: ${JSON.stringify(workerB.events)}` },
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
    workerB.process.kill('SIGTERM');
    await workerB.exited;
  });
});
