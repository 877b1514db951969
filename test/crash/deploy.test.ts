/**
 * Deploys with real processes: a worker running agent v1 (deploy-worker.mjs, dist/) holds two
 * runs in flight, each blocked inside its `append` tool; the deploy takes it down (SIGKILL, or
 * SIGTERM: a graceful stop that hands the runs back) and a worker running v2 (changed
 * instructions, `lookup` removed, `search` added) takes them over.
 *
 * - `deploy-agent` (onCodeChange left at `continue`) completes on v2: its recorded steps come from
 *   the journal (v2's model is not asked for them, the removed tool is not called again), the
 *   step in flight and the new steps run on v2's code, its effect happens once, and the version
 *   change is recorded on the run and shown by `keel trace` (a `keel` CLI process, as a user
 *   reads it).
 * - `strict-deploy-agent` (onCodeChange: 'fail') ends `nondeterminism` under the same deploy,
 *   without running anything on v2.
 *
 * On Postgres, and on PGlite, where one process owns the database: there the deploy is a restart
 * of that process on the new code.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type JournalStore, type SqlClient } from '../../src/index.js';
import { traceResponse } from '../../src/server/trace-schemas.js';
import { describePostgres } from '../../src/testing/postgres.js';
import { createKeelProcesses } from '../keel-processes.js';
import {
  createLedgerTables,
  readEntries,
  spawnWorker,
  useCrashStore,
  useScratchFolder,
  waitForExit,
  waitUntil,
} from './support.js';

const DEPLOY_WORKER = fileURLToPath(new URL('./deploy-worker.mjs', import.meta.url));
/** Generous: the machine running the tests may be busy. */
const WAIT_MS = 60_000;
const LEDGER_SCHEMA = 'test_ledger';

/** Where the scenario runs: worker environment, the CLI's, and the journal as the test reads it. */
interface Backend {
  /** Finds the journal and the ledger (KEEL_LEDGER_SCHEMA). */
  workerEnv: Record<string, string> & { KEEL_LEDGER_SCHEMA: string };
  cliEnv: Record<string, string>;
  /** The journal, for `read`'s duration (on PGlite no worker may hold the database meanwhile). */
  read<T>(reader: (opened: { store: JournalStore; client: SqlClient }) => Promise<T>): Promise<T>;
}

const keel = createKeelProcesses();
afterAll(() => keel.killAll());

/**
 * The deploy, checked end to end: v1 takes both runs to their `append` (seq 3), is stopped by
 * `stop`, v2 finishes them and exits once idle. `prepare` runs on the journal's database first.
 */
async function deployMidTool(
  backend: Backend,
  stop: 'SIGKILL' | 'SIGTERM',
  scratch: string,
  prepare?: (client: SqlClient) => Promise<void>,
) {
  const { run, strict } = await backend.read(async ({ store, client }) => {
    await prepare?.(client);
    return {
      run: (await store.createRun({ agent: 'deploy-agent', input: 'deploy' })).run,
      strict: (await store.createRun({ agent: 'strict-deploy-agent', input: 'strict' })).run,
    };
  });

  const v1 = spawnWorker(
    'v1',
    {
      ...backend.workerEnv,
      KEEL_AGENT_VERSION: 'v1',
      KEEL_BLOCK_FILE: join(scratch, 'never-created'),
      KEEL_DRAIN_MS: 200,
    },
    DEPLOY_WORKER,
  );
  await waitUntil(() => v1.eventsNamed('blocked').length === 2, {
    timeoutMs: WAIT_MS,
    message: () => `v1 never blocked in both runs: ${v1.describe()}`,
  });
  expect(
    v1
      .eventsNamed('blocked')
      .map((event) => [event.runId, event.seq])
      .sort(),
  ).toEqual(
    [
      [run.id, 3],
      [strict.id, 3],
    ].sort(),
  );

  // The deploy takes v1 down.
  v1.signal(stop);
  expect(await waitForExit(v1, WAIT_MS), v1.describe()).toEqual(
    stop === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 0, signal: null },
  );
  if (stop === 'SIGTERM') expect(v1.eventsNamed('gave-up')).toHaveLength(2);

  const left = await backend.read(async ({ store }) => ({
    run: (await store.getRun(run.id))!,
    strict: (await store.getRun(strict.id))!,
    steps: await store.loadSteps(run.id),
  }));
  // SIGKILL leaves the run to its dead owner; SIGTERM hands it back.
  expect(left.run).toMatchObject(
    stop === 'SIGKILL' ? { status: 'running', attempts: 1 } : { status: 'queued', leaseOwner: null },
  );
  expect(left.steps.map((step) => `${step.seq}:${step.kind}:${step.name}:${step.status}`)).toEqual([
    '0:model:builtin:deploy-script:completed',
    '1:tool:lookup:completed',
    '2:model:builtin:deploy-script:completed',
    '3:tool:append:started',
  ]);
  const v1Version = left.run.agentVersion!;
  expect(v1Version).toMatchObject({ tools: ['lookup', 'append'], model: 'builtin:deploy-script' });
  expect(left.strict.agentVersion).toMatchObject({ tools: ['lookup', 'append'] });
  expect(left.run.versionChanges).toEqual([]);

  // v2 takes over and leaves once nothing is live.
  const v2 = spawnWorker(
    'v2',
    { ...backend.workerEnv, KEEL_AGENT_VERSION: 'v2', KEEL_EXIT_WHEN_IDLE: '1' },
    DEPLOY_WORKER,
  );
  expect(await waitForExit(v2, WAIT_MS), v2.describe()).toEqual({ code: 0, signal: null });
  expect(v2.event('idle-exit'), v2.describe()).toBeDefined();

  const { finished, finishedStrict, steps, strictSteps, entries } = await backend.read(
    async ({ store, client }) => ({
      finished: (await store.getRun(run.id))!,
      finishedStrict: (await store.getRun(strict.id))!,
      steps: await store.loadSteps(run.id, { withOutputs: true }),
      strictSteps: await store.loadSteps(strict.id),
      entries: await readEntries(client, backend.workerEnv.KEEL_LEDGER_SCHEMA),
    }),
  );

  // The default agent's run completed on v2.
  expect(finished, v2.describe()).toMatchObject({
    status: 'completed',
    stopReason: 'completed',
    output: 'v2 done: deploy',
    attempts: 2,
  });
  expect(steps.map((step) => `${step.seq}:${step.kind}:${step.name}:${step.status}:${step.attempt}`)).toEqual(
    [
      '0:model:builtin:deploy-script:completed:1',
      '1:tool:lookup:completed:1',
      '2:model:builtin:deploy-script:completed:1',
      '3:tool:append:completed:2',
      '4:model:builtin:deploy-script:completed:1',
      '5:tool:search:completed:1',
      '6:model:builtin:deploy-script:completed:1',
    ],
  );
  // v1's recorded steps are v1's: its lookup's output, and the append v1's model asked for.
  expect(steps[1]!.output).toEqual({ found: 'deploy', by: 'v1', version: 'v1' });
  // The step in flight ran again on v2's code, with the arguments v1's recorded reply gave it.
  expect(steps[3]!.output).toMatchObject({ entry: 'deploy/v1', by: 'v2', version: 'v2' });
  expect(steps[5]!.output).toEqual({ hits: ['deploy/more'], by: 'v2', version: 'v2' });
  // v2's model was asked only for the new turns, with v2's instructions and tools over v1's
  // recorded conversation; v2 never ran the tool it removed.
  const v2Requests = v2.eventsNamed('model-request').filter((event) => event.agent === 'deploy-agent');
  expect(v2Requests.map((event) => event.turn)).toEqual([2, 3]);
  expect(v2Requests[0]).toMatchObject({
    system: 'You are version two.',
    tools: ['append', 'search'],
    toolResults: ['lookup', 'append'],
  });
  expect(v1.eventsNamed('tool', run.id).map((event) => event.tool)).toEqual(['lookup', 'append']);
  expect(v2.eventsNamed('tool', run.id).map((event) => event.tool)).toEqual(['append', 'search']);
  // The effect once, by v2 (v1 was stopped before its ledger write).
  expect(entries.filter((entry) => entry.runId === run.id)).toMatchObject([
    { key: `${run.id}:3`, entry: 'deploy/v1', worker: 'v2' },
  ]);

  // The version change, on the run.
  const v2Version = finished.agentVersion!;
  expect(v2Version).toMatchObject({ tools: ['append', 'search'], model: 'builtin:deploy-script' });
  expect(v2Version.version).not.toBe(v1Version.version);
  expect(v2Version.instructions).not.toBe(v1Version.instructions);
  const change = {
    from: v1Version.version,
    to: v2Version.version,
    atSeq: 3,
    at: expect.any(String),
    instructionsChanged: true,
    toolsAdded: ['search'],
    toolsRemoved: ['lookup'],
  };
  expect(finished.versionChanges).toEqual([change]);

  // The strict agent's run ended nondeterminism, with the change recorded and nothing run on v2.
  expect(finishedStrict).toMatchObject({
    status: 'failed',
    stopReason: 'error',
    error: { code: 'nondeterminism' },
    versionChanges: [change],
  });
  expect(strictSteps.map((step) => `${step.seq}:${step.status}`)).toEqual([
    '0:completed',
    '1:completed',
    '2:completed',
    '3:started',
  ]);
  expect(v2.eventsNamed('tool', strict.id)).toEqual([]);
  expect(v2.eventsNamed('model-request').filter((event) => event.agent === 'strict-deploy-agent')).toEqual(
    [],
  );
  expect(entries.filter((entry) => entry.runId === strict.id)).toEqual([]);

  // The trace, as a user reads it with the CLI.
  const traced = await keel.runKeel(['trace', run.id, '--json'], backend.cliEnv);
  const trace = traceResponse.parse(JSON.parse(traced.stdout()));
  expect(trace.version_changes).toEqual([
    {
      from: v1Version.version,
      to: v2Version.version,
      at_seq: 3,
      at: finished.versionChanges[0]!.at,
      instructions_changed: true,
      tools_added: ['search'],
      tools_removed: ['lookup'],
      model_changed: null,
    },
  ]);
  const tree = await keel.runKeel(['trace', run.id], backend.cliEnv);
  expect(tree.stdout()).toContain(
    `deploy    ${v1Version.version} → ${v2Version.version} from #3 · instructions changed · ` +
      'tools added: search · tools removed: lookup\n',
  );
  // The step in flight shows both executions: v1's, cut short, and v2's.
  expect(trace.steps.find((step) => step.seq === 3)?.executions).toHaveLength(2);
}

describePostgres('deploys on Postgres: runs in flight on v1 finish on v2', (connectionString) => {
  const test = useCrashStore(connectionString, { ownDatabase: true });
  const backend = (): Backend => ({
    workerEnv: test.workerEnv(),
    cliEnv: { DATABASE_URL: test.databaseUrl },
    read: (reader) => reader({ store: test.store, client: test.client }),
  });

  it('resumes on v2 the runs of a v1 worker SIGKILLed mid-tool', async () => {
    await deployMidTool(backend(), 'SIGKILL', test.scratch);
  }, 180_000);

  it('resumes on v2 the runs a v1 worker handed back when stopped gracefully', async () => {
    await deployMidTool(backend(), 'SIGTERM', test.scratch);
  }, 180_000);
});

describe('deploys on PGlite: a restart of the owning process on v2', () => {
  const scratch = useScratchFolder();

  it('resumes on v2 the runs of a v1 process SIGKILLed mid-tool', async () => {
    const keelDir = scratch.path;
    const backend: Backend = {
      workerEnv: { KEEL_DATA_DIR: keelDir, KEEL_LEDGER_SCHEMA: LEDGER_SCHEMA },
      cliEnv: { KEEL_DATA_DIR: keelDir },
      async read(reader) {
        // Where Keel keeps the database of a Keel folder, as the workers and the CLI open it.
        const opened = await openStore({ dataDir: join(keelDir, 'data') });
        try {
          return await reader(opened);
        } finally {
          await opened.store.close();
        }
      },
    };
    await deployMidTool(backend, 'SIGKILL', scratch.path, (client) =>
      createLedgerTables(client, LEDGER_SCHEMA),
    );
  }, 300_000);
});
