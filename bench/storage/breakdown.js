// Where the storage benchmark's bytes go: `node bench/storage/breakdown.js [system] [--keep]`
// (system: keel by default, or floor, dbos, langgraph). Stores the 500-turn conversation like
// measure.js, then prints one line per table: rows, heap, TOAST (with its index), free space
// map and visibility map (made by autovacuum, when it ran), and each index on its own. With --keep the database
// (keelstorage_breakdown_<system>) stays for EXPLAIN and ad-hoc queries; otherwise it is dropped.
import pg from 'pg';
import { databaseTableSizes, dropDatabase, freshDatabase } from '../lib/db.js';
import { conversation } from './conversation.js';

const SYSTEMS = {
  floor: () => import('./floor.js'),
  dbos: () => import('./dbos.js'),
  langgraph: () => import('./langgraph.js'),
  keel: () => import('./keel.js'),
};

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const system = args.find((a) => !a.startsWith('--')) ?? 'keel';
if (!SYSTEMS[system]) throw new Error(`unknown system ${system}`);

const impl = await SYSTEMS[system]();
const turns = conversation();
// Not named by benchDatabase(): with --keep it stays for EXPLAIN, and run.js drops stale
// keel_bench_* databases of runs long gone.
const db = `keelstorage_breakdown_${system}`;
const databaseUrl = await freshDatabase(db);
try {
  const sut = await impl.setup({ databaseUrl, turns });
  // The empty schema (every table, index and TOAST table the system creates, before any turn).
  const empty = new Map((await databaseTableSizes(databaseUrl)).tables.map((t) => [t.table, t.bytes]));
  for (let i = 0; i < turns.length; i++) await sut.runTurn(i);
  await sut.close();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('ANALYZE'); // row counts (no VACUUM: it would add free space maps measure.js does not see)
    const { rows } = await client.query(`
      SELECT n.nspname || '.' || c.relname AS table, c.reltuples::bigint AS rows,
             pg_relation_size(c.oid, 'main') AS heap,
             pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm') AS maps,
             coalesce(pg_total_relation_size(c.reltoastrelid), 0) AS toast,
             pg_indexes_size(c.oid) AS indexes, pg_total_relation_size(c.oid) AS total,
             (SELECT json_agg(json_build_object('index', i.relname, 'bytes', pg_relation_size(i.oid))
                                ORDER BY pg_relation_size(i.oid) DESC)
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS index_list
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         AND n.nspname NOT LIKE 'pg\\_%' AND pg_total_relation_size(c.oid) > 0
       ORDER BY pg_total_relation_size(c.oid) DESC, 1`);
    const kib = (b) => `${(Number(b) / 1024).toFixed(0)} KiB`;
    let total = 0;
    let emptyTotal = 0;
    console.log(`| table / index | rows | heap | fsm+vm | TOAST | indexes | total | empty schema |`);
    console.log(`|---|--:|--:|--:|--:|--:|--:|--:|`);
    for (const r of rows) {
      total += Number(r.total);
      const before = empty.get(r.table) ?? 0;
      emptyTotal += before;
      console.log(
        `| ${r.table} | ${r.rows} | ${kib(r.heap)} | ${kib(r.maps)} | ${kib(r.toast)} | ${kib(r.indexes)} | ${kib(r.total)} | ${kib(before)} |`,
      );
      for (const i of r.index_list ?? [])
        console.log(`| &nbsp;&nbsp;${i.index} | | | | | ${kib(i.bytes)} | | |`);
    }
    console.log(`| **total** | | | | | | **${kib(total)}** (${total} bytes) | ${kib(emptyTotal)} |`);
    console.log(
      `\nWritten by the conversation (total − empty schema): ${kib(total - emptyTotal)} (${total - emptyTotal} bytes)`,
    );
  } finally {
    await client.end();
  }
} finally {
  if (!keep) await dropDatabase(db);
}
