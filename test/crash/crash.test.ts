/**
 * The crash test: real worker processes (crash-worker.mjs, running dist/) SIGKILL themselves at
 * every named fault point, over and over, while runs with effects are in flight. Then a clean
 * worker finishes whatever is left, and the test checks the exactly-once contract end to end:
 * every run completed, the external ledger holds every effect exactly once, every journal is
 * gapless and finished, and it matches the script.
 *
 * KEEL_CRASH_SEED=<seed printed in the summary> gives every worker the same crash point, hit and
 * append delay again (the timing of course differs).
 */
import { afterAll, expect, it } from 'vitest';
import type { RunRecord } from '../../src/index.js';
import { describePostgres } from '../../src/testing/postgres.js';
import {
  appendOutput,
  CRASH_AGENT,
  EXPECTED_EFFECTS,
  EXPECTED_STEPS,
  FAULT_POINTS,
  readEffectKeys,
  readEntries,
  seededRandom,
  spawnWorker,
  useCrashStore,
  waitForExit,
  type CrashPoint,
  type WorkerProcess,
} from './support.js';

const INITIAL_RUNS = 12;
/** Runs added whenever fewer than LOW_WATER are live, so every worker finds work to die in. */
const TOP_UP_RUNS = 4;
const LOW_WATER = 8;
const TARGET_KILLS = 50;
const MAX_SPAWNS = 150;
const INSIDE_TOOL_POSITIONS = ['before-ledger', 'in-ledger-transaction', 'after-ledger'] as const;
const WORKERS_AT_ONCE = 2;
/** Hits per run of each point (see the script): crash-at is drawn within a run or two of work. */
const MAX_HIT: Record<CrashPoint, number> = {
  'before-model-call': 5,
  'after-model-call': 5,
  'before-tool-call': 6,
  'inside-tool': 4, // per position
  'after-tool-call': 6,
  'during-journal-append': 10,
  'before-run-end': 2,
};
/** How long an in-flight append gets before the kill (-1: one setImmediate). */
const APPEND_DELAYS_MS = [-1, 0, 1, 3];

describePostgres('crash recovery: workers SIGKILLed at every fault point', (databaseUrl) => {
  const test = useCrashStore(databaseUrl, { per: 'file' });
  const workers: WorkerProcess[] = [];
  /** Set when the test fails or times out, so no loop spawns a worker after cleanup. */
  let stopSpawning = false;
  // Registered after useCrashStore's hooks, so it runs before them (after hooks run in reverse).
  afterAll(() => {
    stopSpawning = true;
  });

  it(
    'keeps every effect exactly once and finishes every run through 50+ kills',
    { timeout: 240_000 },
    async () => {
      const startedAt = Date.now();
      const seed = Number(process.env.KEEL_CRASH_SEED ?? Date.now() % 1_000_000);
      const { store, client, schema, ledgerSchema } = test;
      const workerEnv = test.workerEnv();
      const inputs: string[] = [];
      const submit = async (count: number) => {
        for (let i = 0; i < count; i++) {
          const input = `job-${inputs.length}`;
          inputs.push(input);
          await store.createRun({ agent: CRASH_AGENT, input });
        }
      };
      const liveRuns = async () =>
        (
          await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${schema}.runs WHERE status IN ('queued', 'running')`,
          )
        ).rows[0]!.n;

      await submit(INITIAL_RUNS);

      // Phase 1: kill workers until TARGET_KILLS kills really happened. Two workers live at a time,
      // so runs abandoned by a dead worker are also recovered by a live one, mid-flight.
      const killsByPoint = new Map<string, number>();
      /** inside-tool kills by position: before, inside (uncommitted) or after the ledger transaction. */
      const killsInsideTool = new Map<string, number>();
      let kills = 0;
      let idleExits = 0;
      let spawned = 0;
      const crashLoop = async () => {
        while (kills < TARGET_KILLS && !stopSpawning) {
          const index = spawned++;
          expect(index, `only ${kills} kills after ${MAX_SPAWNS} workers`).toBeLessThan(MAX_SPAWNS);
          if ((await liveRuns()) < LOW_WATER) await submit(TOP_UP_RUNS);
          // Each worker's point, hit and delay derive from the seed and its index alone.
          const random = seededRandom(seed * 1_000 + index);
          const point = FAULT_POINTS[index % FAULT_POINTS.length]!;
          // inside-tool kills rotate over the positions around the ledger transaction.
          const where =
            point === 'inside-tool'
              ? INSIDE_TOOL_POSITIONS[Math.floor(index / FAULT_POINTS.length) % 3]
              : undefined;
          const crashAt = 1 + Math.floor(random() * MAX_HIT[point]);
          const delayMs =
            point === 'during-journal-append'
              ? APPEND_DELAYS_MS[Math.floor(random() * APPEND_DELAYS_MS.length)]!
              : -1;
          if (stopSpawning) return;
          const worker = spawnWorker(`crash-${index}`, {
            ...workerEnv,
            KEEL_CRASH_POINT: point,
            KEEL_CRASH_AT: crashAt,
            KEEL_CRASH_WHERE: where,
            KEEL_CRASH_DELAY_MS: delayMs,
          });
          workers.push(worker);
          const exit = await waitForExit(worker, 60_000);
          if (exit.signal === 'SIGKILL') {
            // Killed by itself at the point it was given, not by anything else.
            const crash = worker.events.find((event) => event.event === 'crash');
            expect(crash, worker.describe()).toMatchObject({ point, hit: crashAt, where: where ?? null });
            kills++;
            killsByPoint.set(point, (killsByPoint.get(point) ?? 0) + 1);
            if (typeof crash?.where === 'string')
              killsInsideTool.set(crash.where, (killsInsideTool.get(crash.where) ?? 0) + 1);
          } else {
            // The only other acceptable end: it ran out of work before reaching its hit.
            expect(exit, worker.describe()).toEqual({ code: 0, signal: null });
            expect(
              worker.events.some((event) => event.event === 'idle-exit'),
              worker.describe(),
            ).toBe(true);
            idleExits++;
          }
        }
      };
      const guarded = () =>
        crashLoop().catch((error: unknown) => {
          stopSpawning = true; // the other loop stops spawning too
          throw error;
        });
      await Promise.all(Array.from({ length: WORKERS_AT_ONCE }, guarded));
      const killPhaseMs = Date.now() - startedAt;

      // Phase 2: a clean worker recovers and finishes everything.
      const finisher = spawnWorker('finisher', workerEnv);
      workers.push(finisher);
      expect(await waitForExit(finisher, 120_000), finisher.describe()).toEqual({ code: 0, signal: null });
      expect(await liveRuns()).toBe(0);

      // Every run completed with the scripted answer.
      const runs: RunRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns({ limit: 500, ...(cursor ? { cursor } : {}) });
        runs.push(...page.runs);
        cursor = page.nextCursor;
      } while (cursor);
      expect(runs).toHaveLength(inputs.length);
      for (const run of runs) {
        expect(run, `run ${run.id}`).toMatchObject({
          status: 'completed',
          stopReason: 'completed',
          output: `done: ${String(run.input)}`,
          error: null,
          leaseOwner: null,
          stepCount: EXPECTED_STEPS.length,
        });
        // Every claim moves the fence and counts an attempt; nothing else does.
        expect(run.fence).toBe(run.attempts);
      }

      // The external ledger: each effect exactly once, keyed by (run, step).
      const entries = await readEntries(client, ledgerSchema);
      const effects = await readEffectKeys(client, ledgerSchema);
      const entriesByKey = new Map<string, typeof entries>();
      for (const entry of entries)
        entriesByKey.set(entry.key, [...(entriesByKey.get(entry.key) ?? []), entry]);
      const duplicates = [...entriesByKey].filter(([, rows]) => rows.length > 1);
      expect(duplicates, 'effects applied more than once').toEqual([]);
      expect(entries).toHaveLength(runs.length * EXPECTED_EFFECTS.length);
      const expectedKeys = runs.flatMap((run) => EXPECTED_EFFECTS.map(({ seq }) => `${run.id}:${seq}`));
      expect(new Set(entriesByKey.keys())).toEqual(new Set(expectedKeys));
      expect(new Set(effects.keys())).toEqual(new Set(expectedKeys));

      // Each journal: gapless, finished, the script's steps, and agreeing with the ledger.
      let reexecutedToolSteps = 0;
      for (const run of runs) {
        const steps = await store.loadSteps(run.id, { withOutputs: true });
        expect(
          steps.map((step) => ({ seq: step.seq, kind: step.kind, name: step.name, status: step.status })),
          `journal of ${run.id}`,
        ).toEqual(EXPECTED_STEPS.map((expected, seq) => ({ seq, ...expected, status: 'completed' })));
        for (const { seq, suffix } of EXPECTED_EFFECTS) {
          const step = steps[seq]!;
          const key = `${run.id}:${seq}`;
          const [entry] = entriesByKey.get(key)!;
          expect(entry!.entry).toBe(`${String(run.input)}/${suffix}`);
          // The journal records the effect that happened, and the ledger replays that same one.
          expect(appendOutput(step).entryId, `step ${key}`).toBe(entry!.id);
          expect(effects.get(key)).toEqual({ entryId: entry!.id });
          if (step.attempt > 1) reexecutedToolSteps++;
        }
      }

      const recovered = runs.filter((run) => run.attempts > 1).length;
      const maxAttempts = Math.max(...runs.map((run) => run.attempts));
      const allEvents = workers.flatMap((worker) => worker.events);
      const ledgerReplays = allEvents.filter((event) => event.event === 'ledger-replayed').length;
      const refusedWrites = allEvents.filter((event) => event.event === 'write-refused');
      console.log(
        `crash test: seed ${seed}; ${kills} kills (${JSON.stringify(Object.fromEntries(killsByPoint))}; inside-tool: ` +
          `${JSON.stringify(Object.fromEntries(killsInsideTool))}), ` +
          `${idleExits} idle exits, ${workers.length} workers; ${runs.length} runs, ${recovered} recovered ` +
          `(max attempts ${maxAttempts}); ${entries.length} effects; ${reexecutedToolSteps} tool steps re-executed, ` +
          `${ledgerReplays} ledger replays, ${refusedWrites.length} fenced writes refused; ` +
          `kill phase ${(killPhaseMs / 1000).toFixed(1)} s, total ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
      );

      expect(kills).toBeGreaterThanOrEqual(TARGET_KILLS);
      for (const point of FAULT_POINTS)
        expect(killsByPoint.get(point), `kills at ${point}`).toBeGreaterThan(0);
      for (const where of INSIDE_TOOL_POSITIONS)
        expect(killsInsideTool.get(where), `inside-tool kills ${where}`).toBeGreaterThan(0);
      // Recovery really happened, and the idempotent re-execution path was really taken.
      expect(recovered).toBeGreaterThanOrEqual(Math.ceil(runs.length / 2));
      expect(reexecutedToolSteps).toBeGreaterThan(0);
      expect(ledgerReplays).toBeGreaterThan(0);
      // A write is refused only when a stalled heartbeat let the lease go to another claim; then
      // it must be the fence that refused it.
      for (const refused of refusedWrites) expect(refused.code).toBe('lease_lost');
    },
  );
});
