/**
 * Shared plumbing of the process tests (crash, fencing, liveness, unknown outcomes, deploys,
 * approvals): worker child processes (scripts built on worker-kit.mjs), the journal and external
 * ledger each test gets and drops (`useCrashStore`), and condition waits. Every child spawned here
 * is tracked, so a test can kill whatever is left in `afterAll`, even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import {
  createEffectLedger,
  openStore,
  type JournalStore,
  type RunRecord,
  type SqlClient,
  type StepRecord,
} from '../../src/index.js';
import { createTestSchemaName } from '../../src/testing/postgres.js';
import { createTestDatabase } from '../keel-processes.js';

export const CRASH_WORKER_PATH = fileURLToPath(new URL('./crash-worker.mjs', import.meta.url));
const DIST_INDEX_PATH = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** The fault points of `src/runtime/fault-points.ts`, all of which the crash test cycles through. */
export const FAULT_POINTS = [
  'before-model-call',
  'after-model-call',
  'before-tool-call',
  'inside-tool',
  'after-tool-call',
  'during-journal-append',
  'before-run-end',
] as const;
export type CrashPoint = (typeof FAULT_POINTS)[number];

/**
 * The journal every run of `crash-agent` must end with (see CRASH_SCRIPT in crash-worker.mjs):
 * turn 1 one append, turn 2 two appends and a lookup in parallel, turn 3 one append, turn 4 the
 * answer.
 */
export const EXPECTED_STEPS: readonly { kind: string; name: string }[] = [
  { kind: 'model', name: 'builtin:crash-script' },
  { kind: 'tool', name: 'append' },
  { kind: 'model', name: 'builtin:crash-script' },
  { kind: 'tool', name: 'append' },
  { kind: 'tool', name: 'append' },
  { kind: 'tool', name: 'lookup' },
  { kind: 'model', name: 'builtin:crash-script' },
  { kind: 'tool', name: 'append' },
  { kind: 'model', name: 'builtin:crash-script' },
];
/** Seq of each `append` step, and the entry suffix it writes. */
export const EXPECTED_EFFECTS: readonly { seq: number; suffix: string }[] = [
  { seq: 1, suffix: 'a' },
  { seq: 3, suffix: 'b1' },
  { seq: 4, suffix: 'b2' },
  { seq: 7, suffix: 'c' },
];
export const CRASH_AGENT = 'crash-agent';

export interface WorkerEvent {
  event: string;
  worker?: string;
  pid?: number;
  [field: string]: unknown;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly pid: number;
  readonly tag: string;
  /** Parsed stdout lines, in order. */
  readonly events: WorkerEvent[];
  /** The first event named `name`, if it came yet. */
  event(name: string): WorkerEvent | undefined;
  /** The events named `name` so far (of one run: those whose `runId` it is). */
  eventsNamed(name: string, runId?: string): WorkerEvent[];
  readonly exited: Promise<WorkerExit>;
  /** The exit, once it happened. */
  exit(): WorkerExit | undefined;
  /** The last few KB of stderr (Keel's JSON log). */
  stderr(): string;
  signal(signal: NodeJS.Signals): void;
  /** One line for failure messages. */
  describe(): string;
}

const live = new Set<ChildProcess>();
const STDERR_TAIL = 16_384;

/** Throws unless the package was built: the children run dist/, like a deployed worker. */
export function assertBuilt(): void {
  if (!existsSync(DIST_INDEX_PATH)) {
    throw new Error(`${DIST_INDEX_PATH} is missing: run \`npm run build\` before the crash tests.`);
  }
}

/** Spawns `script` (crash-worker.mjs by default) with `env` on top of this process's environment. */
export function spawnWorker(
  tag: string,
  env: Record<string, string | number | undefined>,
  script: string = CRASH_WORKER_PATH,
): WorkerProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'warn', KEEL_WORKER_TAG: tag };
  delete childEnv.NODE_OPTIONS; // vitest's loader flags have no business in the child
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = String(value);
  }
  const child = spawn(process.execPath, [script], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const events: WorkerEvent[] = [];
  let stdoutBuffer = '';
  let stderrTail = '';
  let exitInfo: WorkerExit | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdoutBuffer += chunk;
    let newline: number;
    while ((newline = stdoutBuffer.indexOf('\n')) >= 0) {
      const line = stdoutBuffer.slice(0, newline).trim();
      stdoutBuffer = stdoutBuffer.slice(newline + 1);
      if (line === '') continue;
      try {
        events.push(JSON.parse(line) as WorkerEvent);
      } catch {
        events.push({ event: 'text', text: line });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL);
  });
  const exited = new Promise<WorkerExit>((resolve, reject) => {
    child.once('error', reject);
    // 'close' (not 'exit') so every stdout line has been read when the exit is reported.
    child.once('close', (code, signal) => {
      live.delete(child);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${script}`);
  const pid = child.pid;
  return {
    pid,
    tag,
    events,
    event: (name) => events.find((event) => event.event === name),
    eventsNamed: (name, runId) =>
      events.filter((event) => event.event === name && (runId === undefined || event.runId === runId)),
    exited,
    exit: () => exitInfo,
    stderr: () => stderrTail,
    signal: (signal) => {
      if (exitInfo === undefined) child.kill(signal);
    },
    describe: () =>
      `worker ${tag} (pid ${pid}, exit ${JSON.stringify(exitInfo ?? 'none yet')}); events: ` +
      `${JSON.stringify(events.slice(-10))}; stderr tail: ${stderrTail.slice(-2_000)}`,
  };
}

/** Waits for a worker to exit; on timeout kills it and fails with what it printed. */
export async function waitForExit(worker: WorkerProcess, timeoutMs: number): Promise<WorkerExit> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([worker.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    const description = worker.describe();
    worker.signal('SIGKILL');
    await worker.exited;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
  }
  return result;
}

/** SIGKILLs every child still alive (also stopped ones) and waits for them. */
export async function killAllWorkers(): Promise<void> {
  const children = [...live];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('close', () => resolve());
        }),
    ),
  );
}

/**
 * Polls `probe` until it returns something other than `undefined`/`false`, and returns that.
 * Fails after `timeoutMs` with `message` (a function, so it can describe the latest state).
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 50, message }: { timeoutMs: number; intervalMs?: number; message: () => string },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message()}`);
    await sleep(intervalMs);
  }
}

/**
 * Registers the hooks that give each test (`per: 'test'`) or the file (`per: 'file'`) a scratch
 * folder of its own: before, the package must be built and the folder is made; after, every
 * worker still alive is killed and the folder removed. The answer's `path` is set once the
 * hooks ran.
 */
export function useScratchFolder({ per = 'test' }: { per?: 'test' | 'file' } = {}): { path: string } {
  const folder = { path: '' };
  const [before, after] = per === 'test' ? [beforeEach, afterEach] : [beforeAll, afterAll];
  before(() => {
    assertBuilt();
    folder.path = mkdtempSync(join(tmpdir(), 'keel-process-test-'));
  });
  after(async () => {
    await killAllWorkers();
    if (folder.path) rmSync(folder.path, { recursive: true, force: true });
  });
  if (per === 'test') afterAll(killAllWorkers);
  return folder;
}

/** The journal and the external ledger of a process test, as `useCrashStore` sets them up. */
export interface CrashStore {
  /** Postgres URL of the database (the test's own with `ownDatabase`). */
  databaseUrl: string;
  /** The journal's schema: `keel` in a database of the test's own, else a fresh one. */
  schema: string;
  /** The external ledger's schema (`createLedgerTables`). */
  ledgerSchema: string;
  store: JournalStore;
  client: SqlClient;
  /** A folder of the test's own (block files), removed after it. */
  scratch: string;
  /** The environment a worker script (worker-kit.mjs) finds the journal and the ledger by. */
  workerEnv(): { DATABASE_URL: string; KEEL_SCHEMA: string; KEEL_LEDGER_SCHEMA: string };
}

/**
 * Registers the hooks of a process test on the Postgres of `connectionString`: before each test
 * (`per: 'test'`) or once for the file (`per: 'file'`), a fresh journal schema (migrated), the
 * ledger's tables and a scratch folder (`useScratchFolder`); after, every worker still alive is
 * killed, then both schemas are dropped. `ownDatabase`: the journal is the default `keel` schema
 * of a database made for the test (so `keel` CLI processes, which use that schema, see it),
 * dropped after it. The answer is filled in by the hooks: read its fields inside the tests.
 */
export function useCrashStore(
  connectionString: string,
  { per = 'test', ownDatabase = false }: { per?: 'test' | 'file'; ownDatabase?: boolean } = {},
): CrashStore {
  const [before, after] = per === 'test' ? [beforeEach, afterEach] : [beforeAll, afterAll];
  const folder = useScratchFolder({ per });
  const current = {
    workerEnv: () => ({
      DATABASE_URL: current.databaseUrl,
      KEEL_SCHEMA: current.schema,
      KEEL_LEDGER_SCHEMA: current.ledgerSchema,
    }),
  } as CrashStore;
  let drop: (() => Promise<void>) | undefined;

  before(async () => {
    const database = ownDatabase ? await createTestDatabase(connectionString) : undefined;
    const databaseUrl = database?.url ?? connectionString;
    const schema = database ? 'keel' : createTestSchemaName();
    const ledgerSchema = database ? 'test_ledger' : `${schema}_ledger`;
    const { store, client } = await openStore({ databaseUrl, schema });
    drop = async () => {
      if (!database) await dropSchemas(client, schema, ledgerSchema);
      await store.close();
      await database?.drop();
    };
    await createLedgerTables(client, ledgerSchema);
    Object.assign(current, { databaseUrl, schema, ledgerSchema, store, client, scratch: folder.path });
  }, 60_000);
  // Registered after useScratchFolder's hooks, so it runs before its after hook (after hooks run
  // in reverse): the workers die before their schemas are dropped.
  after(async () => {
    await killAllWorkers();
    await drop?.();
    drop = undefined;
  }, 60_000);

  return current;
}

/**
 * Submits a `crash-agent` run and spawns crash worker `A` (concurrency 1, `env` on top), which
 * claims it and blocks inside its first `append` (seq 1) at `blockAt`, until `releaseFile`
 * exists. Answers A, the run as A holds it, and the release file.
 */
export async function blockWorkerInFirstAppend(
  test: CrashStore,
  {
    input,
    blockAt = 'before-ledger',
    env = {},
  }: { input: string; blockAt?: 'before-ledger' | 'after-ledger'; env?: Record<string, string | number> },
): Promise<{ run: RunRecord; a: WorkerProcess; heldByA: RunRecord; releaseFile: string }> {
  const { run } = await test.store.createRun({ agent: CRASH_AGENT, input });
  const releaseFile = join(test.scratch, 'release');
  const a = spawnWorker('A', {
    ...test.workerEnv(),
    KEEL_CONCURRENCY: 1,
    ...env,
    KEEL_BLOCK_FILE: releaseFile,
    KEEL_BLOCK_AT: blockAt,
  });
  await waitUntil(() => a.event('blocked'), {
    timeoutMs: 30_000,
    message: () => `A never blocked: ${a.describe()}`,
  });
  const heldByA = (await test.store.getRun(run.id))!;
  expect(heldByA).toMatchObject({ status: 'running', leaseOwner: `A:${a.pid}`, attempts: 1 });
  expect(a.event('claimed')?.runs).toEqual([{ id: run.id, fence: heldByA.fence, attempts: 1 }]);
  return { run, a, heldByA, releaseFile };
}

/**
 * Checks that a `crash-agent` run's journal is the whole script, finished, with every `append`
 * output written by `worker`, and that the ledger holds each of its effects once, under the
 * entry its step's output names. Answers the journal and the ledger's entries.
 */
export async function expectScriptFinishedBy(
  test: CrashStore,
  runId: string,
  worker: string,
): Promise<{ journal: StepRecord[]; entries: LedgerEntry[] }> {
  const journal = await test.store.loadSteps(runId, { withOutputs: true });
  expect(journal.map((step) => ({ kind: step.kind, name: step.name, status: step.status }))).toEqual(
    EXPECTED_STEPS.map((expected) => ({ ...expected, status: 'completed' })),
  );
  for (const { seq } of EXPECTED_EFFECTS) expect(appendOutput(journal[seq]!).by, `seq ${seq}`).toBe(worker);
  const entries = await readEntries(test.client, test.ledgerSchema);
  expect(entries.map((entry) => entry.key).sort()).toEqual(
    EXPECTED_EFFECTS.map(({ seq }) => `${runId}:${seq}`).sort(),
  );
  for (const { seq } of EXPECTED_EFFECTS) {
    const entry = entries.find((candidate) => candidate.key === `${runId}:${seq}`)!;
    expect(appendOutput(journal[seq]!).entryId, `entry of seq ${seq}`).toBe(entry.id);
  }
  return { journal, entries };
}

/**
 * The external ledger the `append` tool writes: `entries`, the effect itself (no unique key, so
 * a duplicate append would be visible), and the effect ledger's own `effects` table.
 */
export async function createLedgerTables(client: SqlClient, ledgerSchema: string): Promise<void> {
  await client.exec(`
    CREATE SCHEMA IF NOT EXISTS ${ledgerSchema};
    CREATE TABLE ${ledgerSchema}.entries (
      id bigserial PRIMARY KEY,
      key text NOT NULL,
      run_id text NOT NULL,
      seq int NOT NULL,
      entry text NOT NULL,
      worker text NOT NULL,
      pid int NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);
  await createEffectLedger({ client, schema: ledgerSchema }).ensureTable();
}

export interface LedgerEntry {
  id: number;
  key: string;
  runId: string;
  seq: number;
  entry: string;
  worker: string;
}

export async function readEntries(client: SqlClient, ledgerSchema: string): Promise<LedgerEntry[]> {
  const result = await client.query<{
    id: number;
    key: string;
    run_id: string;
    seq: number;
    entry: string;
    worker: string;
  }>(`SELECT id, key, run_id, seq, entry, worker FROM ${ledgerSchema}.entries ORDER BY id`);
  return result.rows.map((row) => ({
    id: Number(row.id),
    key: row.key,
    runId: row.run_id,
    seq: row.seq,
    entry: row.entry,
    worker: row.worker,
  }));
}

export async function readEffectKeys(client: SqlClient, ledgerSchema: string): Promise<Map<string, unknown>> {
  const result = await client.query<{ key: string; result: unknown }>(
    `SELECT key, result FROM ${ledgerSchema}.effects`,
  );
  return new Map(result.rows.map((row) => [row.key, row.result]));
}

export async function dropSchemas(client: SqlClient, ...schemas: string[]): Promise<void> {
  for (const schema of schemas) await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** The `append` output stored in a step, as the worker returns it. */
export function appendOutput(step: StepRecord): { entryId: number; entry: string; by: string } {
  return step.output as { entryId: number; entry: string; by: string };
}

/** A small seeded PRNG (mulberry32), so a failing crash schedule can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
