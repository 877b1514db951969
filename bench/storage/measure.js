// Child process of the storage benchmark: `node storage/measure.js <system>`. Stores the
// 500-turn conversation with the system in a database of its own and reports the bytes its
// tables take (pg_total_relation_size: heap, TOAST and indexes), then drops the database.
import { performance } from 'node:perf_hooks';
import { childMain } from '../lib/child.js';
import { benchDatabase, databaseTableSizes, dropDatabase, freshDatabase } from '../lib/db.js';
import { conversation, textBytes } from './conversation.js';

const SYSTEMS = {
  floor: () => import('./floor.js'),
  dbos: () => import('./dbos.js'),
  langgraph: () => import('./langgraph.js'),
  keel: () => import('./keel.js'),
};

await childMain(async ([system]) => {
  const load = SYSTEMS[system];
  if (!load) throw new Error(`unknown system ${system}`);
  const impl = await load();
  const turns = conversation();
  const db = benchDatabase(`keel_bench_storage_${system}`);
  const databaseUrl = await freshDatabase(db);
  let sut;
  try {
    sut = await impl.setup({ databaseUrl, turns });
    const empty = await databaseTableSizes(databaseUrl);
    const start = performance.now();
    for (let i = 0; i < turns.length; i++) await sut.runTurn(i);
    const seconds = (performance.now() - start) / 1000;
    await sut.close();
    sut = undefined;
    const sizes = await databaseTableSizes(databaseUrl);
    return {
      system: impl.name,
      turns: turns.length,
      textBytes: textBytes(turns),
      bytes: sizes.total,
      emptyBytes: empty.total,
      tables: sizes.tables.filter((t) => t.bytes > 0),
      seconds,
    };
  } finally {
    await sut?.close().catch(() => {});
    await dropDatabase(db);
  }
});
