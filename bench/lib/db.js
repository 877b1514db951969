// Postgres helpers shared by the benchmarks: per-run databases, table sizes.
//
// Every database a benchmark creates is named by benchDatabase(): `keel_bench_<what>_<run id>`,
// the run id being `<unix seconds>_<pid>` of the run.js that started it (passed to its children
// as KEEL_BENCH_RUN_ID), or of the script itself when it runs alone. So two runs at once never
// share or drop each other's databases: each drops its own (runDatabases) when it ends, and
// staleDatabases() names only those of runs long gone.
import pg from 'pg';

/** Base URL of the local Postgres (trust auth). Override with KEEL_BENCH_POSTGRES_URL. */
export const BASE_URL = process.env.KEEL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Connection URL of database `name` on the bench server. */
export function databaseUrl(name) {
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin(fn) {
  const client = new pg.Client({ connectionString: BASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function ident(name) {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  return `"${name}"`;
}

/** Drops database `name` (closing other sessions on it) if it exists. */
export async function dropDatabase(name) {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
}

/** Creates database `name` afresh (dropping a leftover one) and returns its URL. */
export async function freshDatabase(name) {
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${ident(name)}`);
  });
  return databaseUrl(name);
}

/** This run's id: `<unix seconds>_<pid>`, inherited from run.js through KEEL_BENCH_RUN_ID. */
export const RUN_ID = process.env.KEEL_BENCH_RUN_ID ?? `${Math.floor(Date.now() / 1000)}_${process.pid}`;

/** The name of this run's database `base` (e.g. `keel_bench_gateway_keel`). */
export function benchDatabase(base) {
  return `${base}_${RUN_ID}`;
}

const RUN_NAME = /^keel_bench_.+_(\d{10})_(\d+)$/;

async function listBenchDatabases() {
  return withAdmin(async (c) => {
    const { rows } = await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'keel\\_bench\\_%'`);
    return rows.map((r) => r.datname);
  });
}

/** The databases of run `runId` (this run's by default), for its cleanup. */
export async function runDatabases(runId = RUN_ID) {
  return (await listBenchDatabases()).filter((name) => name.endsWith(`_${runId}`));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Databases left by killed runs: named by a run that started over `maxAgeMs` ago (default an hour)
 * and whose process is gone. Another run's databases, however old, are never among them while it
 * lives; names without a run id (benchmarks of older versions, perhaps running) neither.
 */
export async function staleDatabases(maxAgeMs = 3_600_000) {
  const now = Date.now();
  return (await listBenchDatabases()).filter((name) => {
    const m = RUN_NAME.exec(name);
    if (!m || name.endsWith(`_${RUN_ID}`)) return false;
    return now - Number(m[1]) * 1000 > maxAgeMs && !alive(Number(m[2]));
  });
}

/**
 * Bytes used by every table of database `url` outside the system schemas (each benchmark's
 * database holds one system's tables only): pg_total_relation_size (heap + TOAST + indexes)
 * per table, summed. Returns { total, tables: [{ table, bytes }] }, largest first.
 */
export async function databaseTableSizes(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT n.nspname || '.' || c.relname AS table, pg_total_relation_size(c.oid)::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 2 DESC, 1`,
    );
    const tables = rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) }));
    return { total: tables.reduce((sum, t) => sum + t.bytes, 0), tables };
  } finally {
    await client.end();
  }
}
