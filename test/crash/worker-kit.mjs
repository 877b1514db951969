/**
 * What every worker script of the process tests shares (crash-worker.mjs,
 * unknown-outcome-worker.mjs, deploy-worker.mjs, ../approvals/approval-worker.mjs): settings read
 * from the environment, one JSON event per stdout line written synchronously (so it is out before
 * a SIGKILL), the journal and the external ledger opened the way the tests laid them out, a Keel
 * worker from the built package (dist/, as deployed) and its exit on SIGTERM or once idle. A
 * script defines only its agents, its tools and its fault hook.
 *
 * Environment read here:
 * - KEEL_DATA_DIR           an embedded (PGlite) journal in this Keel folder (in `data` inside
 *                           it, where the `keel` CLI finds it); else Postgres:
 * - DATABASE_URL, KEEL_SCHEMA  the journal (the test migrated it).
 * - KEEL_LEDGER_SCHEMA      schema of the external ledger (test/crash/support.ts creates its
 *                           `entries` and `effects` tables); optional.
 * - KEEL_WORKER_TAG         the worker's name in its lease owner (`<tag>:<pid>`), events and
 *                           effects (default `worker`).
 */
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createEffectLedger,
  createJsonLogger,
  createPgClient,
  createWorker,
  openStore,
} from '../../dist/index.js';

/**
 * The environment and the stdout protocol of a worker script named `scriptName` (the prefix of
 * its error lines). Also makes an unhandled rejection exit 3 with its stack, never silently.
 */
export function workerScript(scriptName) {
  const env = process.env;
  const tag = env.KEEL_WORKER_TAG || 'worker';

  const fail = (message) => {
    writeSync(2, `${scriptName}: ${message}\n`);
    process.exit(2);
  };
  process.on('unhandledRejection', (error) => {
    writeSync(2, `${scriptName}: unhandled rejection: ${error?.stack ?? String(error)}\n`);
    process.exit(3);
  });

  return {
    env,
    tag,
    fail,
    /** One JSON line on stdout for the test, with the worker, its pid and this host's clock. */
    emit(event) {
      writeSync(1, JSON.stringify({ ...event, worker: tag, pid: process.pid, at: Date.now() }) + '\n');
    },
    required(name) {
      const value = env[name];
      if (!value) fail(`${name} is required`);
      return value;
    },
    integer(name, fallback) {
      const raw = env[name];
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value)) fail(`${name} must be an integer, got ${JSON.stringify(raw)}`);
      return value;
    },
    /** `<ledger schema>`: where tools write their effects (KEEL_LEDGER_SCHEMA). */
    ledgerSchema: env.KEEL_LEDGER_SCHEMA || undefined,
  };
}

/**
 * Opens the journal (PGlite with KEEL_DATA_DIR, else Postgres) and, with KEEL_LEDGER_SCHEMA, the
 * external ledger: a pool of its own on Postgres (like a service's own database), the store's
 * client on PGlite (one process owns that database). `close()` closes both.
 */
export async function openWorkerStores(script, { maxConnections = 4, ledgerConnections = 2 } = {}) {
  const keelDir = script.env.KEEL_DATA_DIR || undefined;
  const dataDir = keelDir === undefined ? undefined : join(keelDir, 'data');
  const schema = dataDir ? 'keel' : script.required('KEEL_SCHEMA');
  const databaseUrl = dataDir ? undefined : script.required('DATABASE_URL');
  const { store, client } = dataDir
    ? await openStore({ dataDir })
    : await openStore({ databaseUrl, schema, maxConnections });
  const ledgerClient =
    script.ledgerSchema === undefined
      ? undefined
      : dataDir
        ? client
        : createPgClient({
            connectionString: databaseUrl,
            max: ledgerConnections,
            applicationName: `keel-test-${script.tag}`,
          });
  const ledger =
    ledgerClient === undefined
      ? undefined
      : createEffectLedger({ client: ledgerClient, schema: script.ledgerSchema });
  return {
    store,
    client,
    schema,
    ledgerClient,
    ledger,
    async close() {
      await store.close();
      if (ledgerClient !== undefined && ledgerClient !== client) await ledgerClient.close();
    },
  };
}

/**
 * Starts a Keel worker (owner `<tag>:<pid>`, a fast loop for tests unless `options` says
 * otherwise, Keel's JSON log on stderr) and prints `ready`. It stops on SIGTERM (draining like a
 * deployed worker), prints `sigterm-exit` and exits 0; with `exitWhenIdle`, also once no run in
 * the journal is live (`idle-exit`). `isDying()` holds the idle exit back while a kill is on its
 * way. Returns the worker.
 */
export function runWorker(
  script,
  stores,
  { agents, exitWhenIdle = false, isDying = () => false, ready = {}, ...options },
) {
  const owner = `${script.tag}:${process.pid}`;
  const worker = createWorker({
    store: stores.store,
    agents,
    owner,
    leaseMs: 600,
    heartbeatMs: 150,
    pollMs: 50,
    logger: createJsonLogger({ bindings: { tag: script.tag } }),
    ...options,
  });

  let closing = false;
  async function shutdown(reason) {
    if (closing) return;
    closing = true;
    await worker.stop();
    await stores.close();
    script.emit({ event: reason });
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('sigterm-exit'));

  worker.start();
  script.emit({ event: 'ready', owner, ...ready });

  if (exitWhenIdle) {
    void (async () => {
      for (;;) {
        await sleep(100);
        if (closing) return;
        if (isDying()) continue;
        const live = await stores.client.query(
          `SELECT count(*)::int AS n FROM ${stores.schema}.runs WHERE status IN ('queued', 'running', 'waiting')`,
        );
        if (live.rows[0].n === 0 && worker.activeRunIds().length === 0) return shutdown('idle-exit');
      }
    })();
  }
  return worker;
}

/** The seq of a tool call's step: the last part of its idempotency key (`<run id>:<seq>`). */
export function seqOfKey(idempotencyKey) {
  return Number(idempotencyKey.slice(idempotencyKey.lastIndexOf(':') + 1));
}

/**
 * Writes a tool call's effect: a row of `<ledger>.entries` (support.ts's table, without a unique
 * key, so a repeated effect shows as a second row) through `queryable`, the ledger client or a
 * transaction of `ledger.once`. Answers the row's id.
 */
export async function insertLedgerEntry(queryable, script, ctx, entry) {
  const inserted = await queryable.query(
    `INSERT INTO ${script.ledgerSchema}.entries (key, run_id, seq, entry, worker, pid)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [ctx.idempotencyKey, ctx.runId, seqOfKey(ctx.idempotencyKey), entry, script.tag, process.pid],
  );
  return Number(inserted.rows[0].id);
}
