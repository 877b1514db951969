// The API benchmark (run by run.js as a child process): end-to-end runs/s (submit → completed)
// of a 3-step agent (model, tool, model; instant model, no-op tool) through `keel serve`'s HTTP
// API, with PGlite and with Postgres, against a DBOS queue running the same 3 steps.
//
// Per system and concurrency C (KEEL_BENCH_API_CONCURRENCY, default 1,32): a closed loop of C
// submitters (loop.js) for KEEL_BENCH_API_WARMUP (1) + KEEL_BENCH_API_SECONDS (4) seconds, after
// KEEL_BENCH_API_PREWARM (1) untimed seconds at the highest C. Keel: `keel serve --workers N`
// for each N of KEEL_BENCH_API_WORKERS (default 4,16), load from a process of its own
// (load.js, `POST /v1/runs?wait=30`). DBOS (dbos.js): enqueue + wait from the DBOS process,
// queue dispatch poll KEEL_BENCH_API_DBOS_POLL_MS (default 10 ms; DBOS's default is 1000).
// Latencies per run come from the database afterwards (submit → first step started,
// submit → run ended), not from the client, whose view includes the completion polling.
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { childMain, RESULT_PREFIX } from '../lib/child.js';
import { freePort, killAllNow, startProcess, stopAll } from '../gateway/procs.js';
import { timesSummary } from './loop.js';

const LOAD = fileURLToPath(new URL('./load.js', import.meta.url));
const DBOS = fileURLToPath(new URL('./dbos.js', import.meta.url));
const list = (text) =>
  text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const SECONDS = Number(process.env.KEEL_BENCH_API_SECONDS ?? 4);
const WARMUP = Number(process.env.KEEL_BENCH_API_WARMUP ?? 1);
const PREWARM = Number(process.env.KEEL_BENCH_API_PREWARM ?? 1);
const CONCURRENCY = list(process.env.KEEL_BENCH_API_CONCURRENCY ?? '1,32').map(Number);
const WORKERS = list(process.env.KEEL_BENCH_API_WORKERS ?? '4,16').map(Number);
const STORES = list(process.env.KEEL_BENCH_API_STORES ?? 'pglite,postgres');
const SYSTEMS = list(process.env.KEEL_BENCH_API_SYSTEMS ?? 'keel,dbos');
const DBOS_POLL_MS = Number(process.env.KEEL_BENCH_API_DBOS_POLL_MS ?? 10);

/** Runs `node <script> <spec>` (orphan-guarded) and returns its reported result. */
async function runReporting(label, script, spec, timeoutMs) {
  const proc = startProcess(label, [script, JSON.stringify(spec)]);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  await proc.done;
  clearTimeout(timer);
  const at = proc.output.lastIndexOf(RESULT_PREFIX);
  if (at < 0) return { error: `${label} exited (${proc.code}): ${proc.tail(6)}` };
  return JSON.parse(proc.output.slice(at + RESULT_PREFIX.length).split('\n')[0]);
}

const loadTimeout = (seconds, warmupSeconds) => (seconds + warmupSeconds + 45) * 1000;

/** One `keel serve` (store, workers): prewarm, a cell per concurrency, then times from the journal. */
async function keelConfig(keel, store, workers) {
  const port = await freePort();
  const server = await keel.start({ port, store, workers });
  const cells = {};
  const ids = {};
  try {
    const base = { url: server.url, key: server.key, agent: keel.AGENT };
    if (PREWARM > 0) {
      const c = Math.max(...CONCURRENCY);
      const got = await runReporting(
        'load (prewarm)',
        LOAD,
        { ...base, concurrency: c, seconds: PREWARM, warmupSeconds: 0 },
        loadTimeout(PREWARM, 0),
      );
      if (got.error) throw new Error(`prewarm: ${got.error}`);
      if (!got.runs) throw new Error(`prewarm: no run completed (${got.errorSample ?? 'no error'})`);
    }
    for (const c of CONCURRENCY) {
      const got = await runReporting(
        `load C=${c}`,
        LOAD,
        { ...base, concurrency: c, seconds: SECONDS, warmupSeconds: WARMUP },
        loadTimeout(SECONDS, WARMUP),
      );
      if (server.proc.exited) got.error ??= `keel serve exited (${server.proc.code}): ${server.proc.tail(4)}`;
      ids[c] = got.ids ?? [];
      delete got.ids;
      cells[c] = got;
    }
  } finally {
    await server.stop();
  }
  try {
    for (const c of CONCURRENCY) {
      if (ids[c].length) cells[c].db = timesSummary(await server.times(ids[c]));
    }
  } finally {
    await server.close();
  }
  return { system: `Keel (${store === 'postgres' ? 'Postgres' : 'PGlite'})`, store, workers, cells };
}

async function main() {
  const started = Date.now();
  const loadStart = loadavg()[0];
  const results = {};
  if (SYSTEMS.includes('keel')) {
    let keel;
    try {
      keel = await import('./keel.js');
    } catch (error) {
      keel = { error };
    }
    for (const store of STORES) {
      for (const workers of WORKERS) {
        const key = `keel-${store}-w${workers}`;
        try {
          if (keel.error) throw keel.error;
          results[key] = await keelConfig(keel, store, workers);
        } catch (error) {
          results[key] = error?.keelUnavailable
            ? { unavailable: error.message, store, workers }
            : { error: error?.stack ?? String(error), store, workers };
        }
      }
    }
  }
  if (SYSTEMS.includes('dbos')) {
    const spec = {
      concurrency: CONCURRENCY,
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      prewarmSeconds: PREWARM,
      pollMs: DBOS_POLL_MS,
    };
    results.dbos = await runReporting(
      'DBOS',
      DBOS,
      spec,
      CONCURRENCY.length * loadTimeout(SECONDS, WARMUP) + (PREWARM + 60) * 1000,
    );
  }
  return {
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    prewarmSeconds: PREWARM,
    concurrency: CONCURRENCY,
    workers: WORKERS,
    dbosQueuePollMs: DBOS_POLL_MS,
    cpus: cpus().length,
    loadavg: { start: loadStart, end: loadavg()[0] },
    elapsedSeconds: (Date.now() - started) / 1000,
    systems: results,
  };
}

// Leave nothing behind: on errors (childMain), SIGINT, SIGTERM and exit.
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}
await childMain(async () => {
  try {
    return await main();
  } finally {
    await stopAll();
  }
});
