// Child process of the recovery benchmark: `node recovery/measure.js keel|dbos`.
//
// keel: worker A (a `keel worker` process) claims a run and starts its slow tool; worker B
// starts and idles; A gets SIGKILL. Measured from the kill: until B reclaims the run (its fencing
// token moves) and until B writes its first journal entry. Target: at most 1 s with the default
// 5 s lease unchanged (A's liveness lock dies with it; the lease is for stalled workers).
//
// dbos (context): DBOS recovers only the workflows of its own executor id, when a process with
// that id launches. Worker A (executor worker-a) runs a workflow with a slow step and gets
// SIGKILL while worker B (executor worker-b) runs: checked that B does not recover it within
// DBOS_WAIT_MS; then a new process with executor id worker-a starts and the time from its spawn
// until it has recovered the workflow is measured.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { childMain } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { KeelUnavailableError } from '../lib/keel.js';

const POLL_MS = 10;
const DBOS_WAIT_MS = Number(process.env.KEEL_BENCH_DBOS_WAIT_MS ?? 12_000);

/** Spawns a node process; keeps its output for error messages. */
function startProcess(label, args, env) {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const proc = { label, child, output: '', exited: false, code: null };
  child.stdout.on('data', (d) => (proc.output += d));
  child.stderr.on('data', (d) => (proc.output += d));
  proc.done = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.code = signal ?? code;
      resolve();
    }),
  );
  proc.tail = () => proc.output.trim().split('\n').slice(-8).join('\n');
  return proc;
}

/** SIGTERM, then SIGKILL after graceMs. */
async function stopProcess(proc, graceMs = 5000) {
  if (!proc || proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.done;
  clearTimeout(timer);
}

/** Polls `check` (async, returns a value or undefined) until it returns a value or timeoutMs passes. */
async function waitFor(check, timeoutMs, what, procs = []) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    const dead = procs.find((p) => p.exited);
    if (dead)
      throw new Error(`${dead.label} exited (${dead.code}) while waiting for ${what}:\n${dead.tail()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

async function measureKeel() {
  const keel = await import('./keel.js');
  const db = benchDatabase('keel_bench_recovery_keel');
  const databaseUrl = await freshDatabase(db);
  const procs = [];
  let k;
  try {
    k = await keel.open({ databaseUrl });
    const start = (label, toolSleepMs) => {
      const { args, env } = keel.workerCommand({ databaseUrl, toolSleepMs });
      const proc = startProcess(label, args, env);
      procs.push(proc);
      return proc;
    };
    const a = start('worker A', 60_000);
    const runId = await k.submit();
    let claimed;
    try {
      claimed = await waitFor(
        async () => {
          const s = await k.state(runId);
          return s.owner && s.status === 'running' ? s : undefined;
        },
        20_000,
        'worker A to claim the run',
        [a],
      );
    } catch (error) {
      if (a.exited)
        throw new KeelUnavailableError(`the keel worker does not run: ${a.tail().split('\n').at(-1)}`);
      throw error;
    }
    const leaseMs = claimed.leaseRemainingMs;
    // Kill A while its tool runs (journaled `started`), the worst place to die; failing that,
    // (no started entry within 5 s) wherever it is.
    const inTool = await waitFor(
      async () => /:tool:started:/.test((await k.state(runId)).steps),
      5_000,
      'the tool step',
      [a],
    ).catch((error) => {
      if (a.exited) throw error;
      return false;
    });

    const b = start('worker B', 0);
    // B is up and idle (the run is A's) before A dies.
    await waitFor(async () => keel.READY.test(b.output), 15_000, 'worker B to start', [b]);

    const before = await k.state(runId);
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    let reclaimMs;
    let firstStepMs;
    await waitFor(
      async () => {
        const s = await k.state(runId);
        const now = performance.now() - killedAt;
        if (reclaimMs === undefined && s.fence > before.fence) reclaimMs = now;
        if (firstStepMs === undefined && s.steps !== before.steps) firstStepMs = now;
        return reclaimMs !== undefined && firstStepMs !== undefined;
      },
      60_000,
      'worker B to recover the run',
      [b],
    );
    const finished = await waitFor(
      async () => {
        const s = await k.state(runId);
        return ['completed', 'failed', 'cancelled'].includes(s.status) ? s : undefined;
      },
      15_000,
      'the recovered run to finish',
      [b],
    );
    return {
      system: keel.name,
      leaseMs,
      leaseRemainingAtKillMs: before.leaseRemainingMs,
      reclaimMs,
      firstStepMs,
      killedInTool: inTool,
      finalStatus: finished.status,
      attempts: finished.attempts,
    };
  } finally {
    for (const p of procs) await stopProcess(p);
    await k?.close().catch(() => {});
    await dropDatabase(db);
  }
}

async function measureDbos() {
  const db = benchDatabase('keel_bench_recovery_dbos');
  const databaseUrl = await freshDatabase(db);
  const worker = fileURLToPath(new URL('./dbos-worker.js', import.meta.url));
  const procs = [];
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const start = (label, env) => {
    const proc = startProcess(label, [worker], { DATABASE_URL: databaseUrl, ...env });
    procs.push(proc);
    return proc;
  };
  const ready = (proc) =>
    waitFor(async () => proc.output.includes('ready'), 30_000, `${proc.label} to launch`, [proc]);
  const workflow = async () => {
    const { rows } = await client.query(
      `SELECT status, executor_id, recovery_attempts::int AS recovery_attempts,
              (SELECT count(*)::int FROM dbos.operation_outputs o WHERE o.workflow_uuid = w.workflow_uuid) AS steps
         FROM dbos.workflow_status w WHERE workflow_uuid = 'recovery-1'`,
    );
    return rows[0];
  };
  try {
    const a = start('DBOS worker-a', {
      DBOS_BENCH_EXECUTOR: 'worker-a',
      KEEL_BENCH_TOOL_SLEEP_MS: '60000',
      DBOS_BENCH_START: '1',
    });
    await ready(a);
    await waitFor(async () => (await workflow())?.steps >= 1, 10_000, 'the slow step', [a]);
    const b = start('DBOS worker-b', { DBOS_BENCH_EXECUTOR: 'worker-b', KEEL_BENCH_TOOL_SLEEP_MS: '0' });
    await ready(b);
    const before = await workflow();
    a.child.kill('SIGKILL');
    await a.done;
    const killedAt = performance.now();
    let recoveredByOther = false;
    while (performance.now() - killedAt < DBOS_WAIT_MS) {
      const w = await workflow();
      if (
        w.status !== before.status ||
        w.recovery_attempts !== before.recovery_attempts ||
        w.steps !== before.steps
      ) {
        recoveredByOther = true;
        break;
      }
      await sleep(50);
    }
    const spawnedAt = performance.now();
    const a2 = start('DBOS worker-a (restarted)', {
      DBOS_BENCH_EXECUTOR: 'worker-a',
      KEEL_BENCH_TOOL_SLEEP_MS: '0',
    });
    await waitFor(
      async () => (await workflow()).steps > before.steps,
      30_000,
      'the restarted worker-a to recover',
      [a2],
    );
    const restartRecoveryMs = performance.now() - spawnedAt;
    return {
      system: 'DBOS Transact',
      recoveredByOther,
      watchedMs: DBOS_WAIT_MS,
      restartRecoveryMs,
    };
  } finally {
    for (const p of procs) await stopProcess(p);
    await client.end();
    await dropDatabase(db);
  }
}

await childMain(async ([system]) => {
  if (system === 'keel') return measureKeel();
  if (system === 'dbos') return measureDbos();
  throw new Error(`unknown system ${system}`);
});
