// Postgres helpers shared by the benchmarks: per-benchmark databases, table sizes.
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

/** Names of the leftover bench databases (keel_bench_*), for cleanup. */
export async function listBenchDatabases() {
  return withAdmin(async (c) => {
    const { rows } = await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'keel\\_bench\\_%'`);
    return rows.map((r) => r.datname);
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
