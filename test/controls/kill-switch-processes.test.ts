/**
 * Kill switches across processes: a real `keel worker` process (dist/, as deployed) runs agent
 * `walker`, whose model calls `lookup` twice in sequence; the first call holds the run mid-flight.
 * Another real process, `keel tools disable lookup`, flips the switch: the run's next model step
 * no longer offers the tool, its second call gets a `tool_disabled` result (a failed tool step in
 * the journal, the tool never ran), and the run completes. Likewise `keel agents pause walker`
 * stops a running run at its next model step with stop reason `paused`, and `keel agents resume`
 * lets new runs run again.
 *
 * A run's gate opens once the change is visible in a third process (this one, listening for the
 * notification only) and at least 1 s (the propagation bound Keel documents) after the command
 * exited, so the test asserts the contract, not a race with the notification.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createControls, type Controls } from '../../src/controls/controls.js';
import { openStore } from '../../src/journal/open-store.js';
import type { JournalStore } from '../../src/journal/store.js';
import { waitForRun } from '../../src/runtime/run-agent.js';
import { describePostgres } from '../../src/testing/postgres.js';
import {
  assertBuilt,
  createKeelProcesses,
  createTestDatabase,
  waitFor,
  type KeelProcess,
} from '../keel-processes.js';

const CONFIG = fileURLToPath(new URL('./kill-switch-processes.config.mjs', import.meta.url));
/** How long a control change may take to reach every process (docs, `keel tools` usage). */
const PROPAGATION_BOUND_MS = 1_000;

describePostgres('kill switches flipped by one process reach a run in another', (connectionString) => {
  const keel = createKeelProcesses();
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let store: JournalStore;
  /** This process's view of the controls, refreshed by notifications only (no poll in the test's time). */
  let observer: Controls | undefined;
  let worker: KeelProcess;
  let gateDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase(connectionString);
    let client;
    ({ store, client } = await openStore({ databaseUrl: database.url, maxConnections: 4 }));
    observer = createControls({ client, env: {}, pollMs: 600_000 });
    await observer.start();
    gateDir = mkdtempSync(join(tmpdir(), 'keel-gates-'));
    env = { DATABASE_URL: database.url, GATE_DIR: gateDir };
    worker = await keel.startWorker(['--config', CONFIG, '--concurrency', '4'], env);
  }, 60_000);

  afterAll(async () => {
    await keel.killAll();
    await observer?.close();
    await store?.close();
    await database?.drop();
    if (gateDir) rmSync(gateDir, { recursive: true, force: true });
  }, 60_000);

  /** The `lookup` calls the worker's tool made (its stdout lines), for one run. */
  const lookupsOf = (runId: string) =>
    worker
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event: string; runId: string; n: number })
      .filter((line) => line.event === 'lookup' && line.runId === runId)
      .map((line) => line.n);

  /** Starts a run and waits until it is inside its first (held) `lookup`. */
  async function runHeldInFirstLookup(): Promise<string> {
    const { run } = await store.createRun({ agent: 'walker', input: 'look up two entries' });
    await waitFor(
      'the run entered its first lookup',
      () => lookupsOf(run.id),
      (calls) => calls.includes(1) || worker.child.exitCode !== null,
      30_000,
    );
    expect(worker.child.exitCode, worker.stderr()).toBeNull();
    return run.id;
  }

  /**
   * Runs a control command in its own process; waits until this process sees the change through
   * the notification, then until the propagation bound has passed since the command exited.
   * Answers how long the notification took to arrive here.
   */
  async function flip(args: string[], visible: () => boolean): Promise<number> {
    await keel.runKeel(args, { DATABASE_URL: database!.url });
    const exitedAt = Date.now();
    await waitFor(`${args.join(' ')} visible in another process`, visible, Boolean, 5_000, 5);
    const noticedMs = Date.now() - exitedAt;
    await sleep(Math.max(0, exitedAt + PROPAGATION_BOUND_MS - Date.now()));
    return noticedMs;
  }

  const openGate = (runId: string) => {
    writeFileSync(join(gateDir, runId), '');
    return Date.now();
  };

  it('keel tools disable: the running run gets tool_disabled at its next call of the tool, and completes', async () => {
    const runId = await runHeldInFirstLookup();
    const noticedMs = await flip(
      ['tools', 'disable', 'lookup', '--reason', 'kill switch test'],
      () => observer!.toolDisabled({ tool: 'lookup', agent: 'walker', tenantId: 'default' }) !== undefined,
    );
    const openedAt = openGate(runId);

    const ended = await waitForRun({ store, runId, pollMs: 50 });
    expect(ended.stopReason, JSON.stringify(ended.error)).toBe('completed');
    expect(JSON.stringify(ended.output)).toContain('tool_disabled');
    const steps = await store.loadSteps(runId);
    const tools = steps.filter((step) => step.kind === 'tool');
    expect(tools.map((step) => step.status)).toEqual(['completed', 'failed']);
    expect(tools[1]!.error?.code).toBe('tool_disabled');
    // The tool itself ran once: the refused call never reached it.
    expect(lookupsOf(runId)).toEqual([1]);
    // The model steps after the switch no longer offered the tool.
    const models = steps.filter((step) => step.kind === 'model');
    expect(models).toHaveLength(3);
    expect(JSON.stringify(models[0]!.meta)).not.toContain('tool_disabled');
    for (const step of models.slice(1)) expect(JSON.stringify(step.meta)).toContain('tool_disabled');

    const effectMs = tools[1]!.startedAt.getTime() - openedAt;
    console.log(
      JSON.stringify({
        switch: 'tools disable',
        noticedInOtherProcessMs: noticedMs,
        effectAfterGateMs: effectMs,
      }),
    );

    await flip(
      ['tools', 'enable', 'lookup'],
      () => observer!.toolDisabled({ tool: 'lookup', agent: 'walker', tenantId: 'default' }) === undefined,
    );
  }, 60_000);

  it('keel agents pause stops a running run at its next model step; keel agents resume lets new runs run', async () => {
    const runId = await runHeldInFirstLookup();
    const noticedMs = await flip(
      ['agents', 'pause', 'walker', '--reason', 'pause test'],
      () => observer!.agentHold({ agent: 'walker', tenantId: 'default' }) !== undefined,
    );
    const openedAt = openGate(runId);

    const paused = await waitForRun({ store, runId, pollMs: 50 });
    expect(paused.stopReason).toBe('paused');
    expect(paused.error?.code).toBe('agent_paused');
    const steps = await store.loadSteps(runId);
    // The first lookup finished; no model call was made after it.
    expect(steps.filter((step) => step.kind === 'model')).toHaveLength(1);
    expect(steps.filter((step) => step.kind === 'tool').map((step) => step.status)).toEqual(['completed']);
    const effectMs = (paused.endedAt?.getTime() ?? Number.NaN) - openedAt;
    console.log(
      JSON.stringify({
        switch: 'agents pause',
        noticedInOtherProcessMs: noticedMs,
        stoppedAfterGateMs: effectMs,
      }),
    );

    await flip(
      ['agents', 'resume', 'walker'],
      () => observer!.agentHold({ agent: 'walker', tenantId: 'default' }) === undefined,
    );
    const { run: next } = await store.createRun({ agent: 'walker', input: 'look up two entries' });
    openGate(next.id);
    const resumed = await waitForRun({ store, runId: next.id, pollMs: 50 });
    expect(resumed.stopReason, JSON.stringify(resumed.error)).toBe('completed');
    expect(JSON.stringify(resumed.output)).not.toContain('tool_disabled');
    expect(lookupsOf(next.id)).toEqual([1, 2]);
  }, 60_000);
});
