// Keel side of the API benchmark: how to start `keel serve` with the benchmark's agent, get a
// key for /v1/runs, and read each run's times from its journal. Everything Keel-specific of
// that benchmark is here (and in keel.config.js).
//
//   node bin/keel.js serve --port <port> --workers N --config bench/api/keel.config.js
//     store: DATABASE_URL (a fresh Postgres database keel_bench_api_keel, dropped afterwards)
//     or KEEL_DATA_DIR (a temporary folder, removed afterwards: the embedded PGlite).
//   key: Postgres: `keel keys create --tenant bench --scopes runs:read,runs:write --json` against
//     the same database before the server starts (`key` of its JSON); PGlite: the admin key
//     `keel serve` writes to <KEEL_DATA_DIR>/admin-key.
//   callers: POST /v1/runs?wait=30 { agent: 'bench3', input }, Authorization: Bearer <key>.
//   times (after the load, from the journal): run created_at, first step started_at, run ended_at.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { KeelUnavailableError, loadKeel } from '../lib/keel.js';
import { startProcess, stopProcess } from '../gateway/procs.js';

export const AGENT = 'bench3';
const CONFIG = fileURLToPath(new URL('./keel.config.js', import.meta.url));
const LINKED_BIN = fileURLToPath(new URL('../node_modules/keel/bin/keel.js', import.meta.url));
const BIN =
  process.env.KEEL_BENCH_KEEL_BIN ??
  (existsSync(LINKED_BIN) ? LINKED_BIN : fileURLToPath(new URL('../../bin/keel.js', import.meta.url)));
const DATABASE = benchDatabase('keel_bench_api_keel');

const firstLine = (text) =>
  text
    .trim()
    .split('\n')
    .find((l) => l.trim()) ?? '';

/** Per run: submit → first step started, submit → ended (ms), from the journal. */
const TIMES_SQL = `
  SELECT r.id, r.status,
         extract(epoch FROM r.created_at) * 1000 AS created,
         extract(epoch FROM r.ended_at) * 1000 AS ended,
         (SELECT extract(epoch FROM min(s.started_at)) * 1000 FROM keel.steps s WHERE s.run_id = r.id) AS first_step,
         (SELECT count(*) FROM keel.steps s WHERE s.run_id = r.id)::int AS steps
    FROM keel.runs r WHERE r.id = ANY($1::text[])`;

const toTimes = (rows) =>
  rows.map((r) => ({
    id: r.id,
    status: r.status,
    steps: r.steps,
    firstStepMs: r.first_step === null ? null : Number(r.first_step) - Number(r.created),
    completedMs: r.ended === null ? null : Number(r.ended) - Number(r.created),
  }));

async function waitReady(proc, url, { keyFile, timeoutMs = 30_000 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited) throw new Error(`keel serve exited (${proc.code}) before it was ready:\n${proc.tail()}`);
    try {
      const res = await request(`${url}/healthz`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.text();
      if (res.statusCode === 200 && (!keyFile || existsSync(keyFile))) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`keel serve not ready within ${timeoutMs} ms:\n${proc.tail()}`);
    await sleep(100);
  }
}

/**
 * Starts `keel serve` on `port` with `workers` runs at once over `store` ('postgres' | 'pglite').
 * Returns { proc, url, key, store, stop(), times(ids), close() }: stop() ends the server, times()
 * (after stop, for PGlite whose files the server holds) reads the runs' times, close() drops
 * the database or removes the folder.
 */
export async function start({ port, store, workers }) {
  if (!process.env.KEEL_BENCH_KEEL_BIN && !existsSync(join(dirname(BIN), '..', 'dist', 'cli', 'main.js')))
    throw new KeelUnavailableError('Keel is not built: run `npm run build` at the root');
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: 30_000 });
  if (!/keel serve\b/.test(`${help.stdout}${help.stderr}`))
    throw new KeelUnavailableError('the built Keel has no `keel serve` command: `npm run build` at the root');

  let env;
  let close;
  let keyFile;
  let key;
  let databaseUrl;
  let dataDir;
  if (store === 'postgres') {
    databaseUrl = await freshDatabase(DATABASE);
    env = { DATABASE_URL: databaseUrl };
    close = () => dropDatabase(DATABASE);
    const args = ['keys', 'create', '--tenant', 'bench', '--scopes', 'runs:read,runs:write', '--json'];
    const res = spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    try {
      key = JSON.parse(res.stdout).key;
    } catch {
      // below
    }
    if (res.status !== 0 || typeof key !== 'string' || !key) {
      await close();
      throw new KeelUnavailableError(
        `\`keel ${args.join(' ')}\` failed (${res.error?.message ?? `exit ${res.status}`}): ` +
          firstLine(res.stderr || res.stdout),
      );
    }
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'keel-bench-api-'));
    env = { KEEL_DATA_DIR: dataDir };
    close = async () => rmSync(dataDir, { recursive: true, force: true });
    keyFile = join(dataDir, 'admin-key');
  }

  // The store is chosen by the env given here only (startProcess passes process.env on).
  delete process.env.DATABASE_URL;
  delete process.env.KEEL_DATA_DIR;
  const proc = startProcess(
    `keel serve (${store}, ${workers} workers)`,
    [BIN, 'serve', '--port', String(port), '--workers', String(workers), '--config', CONFIG],
    { env },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(proc, url, { keyFile });
    if (keyFile) key = readFileSync(keyFile, 'utf8').trim();
  } catch (error) {
    await stopProcess(proc);
    await close();
    throw error;
  }

  return {
    proc,
    url,
    key,
    store,
    stop: () => stopProcess(proc, 15_000),
    async times(ids) {
      if (databaseUrl) {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        try {
          return toTimes((await client.query(TIMES_SQL, [ids])).rows);
        } finally {
          await client.end();
        }
      }
      // The embedded database: opened here once the server has let go of it.
      const keel = await loadKeel(['openStore']);
      const { store: opened, client } = await keel.openStore({
        dataDir: join(dataDir, 'data'),
        migrate: false,
      });
      try {
        return toTimes((await client.query(TIMES_SQL, [ids])).rows);
      } finally {
        await opened.close();
      }
    },
    close,
  };
}
