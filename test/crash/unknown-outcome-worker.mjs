/**
 * A Keel worker process for the unknown-outcome crash test. It runs the built package (dist/) and
 * SIGKILLs itself at the `after-tool-call` fault point when told to: the tool's effect committed,
 * its journal entry never written.
 *
 * Two agents, each asking for one tool call and then answering with what the tool said:
 * - `reconcile-agent`, tool `charge` (effect `write`): inserts a row into `<ledger>.entries`
 *   keyed by its idempotency key (no unique key: a repeated effect shows as a second row), and
 *   has a `reconcile` that looks the key up there.
 * - `destructive-agent`, tool `wipe` (effect `destructive`, no approval per call, no
 *   `reconcile`): inserts the same kind of row.
 *
 * Configuration (environment): DATABASE_URL, KEEL_SCHEMA (journal, migrated by the test),
 * KEEL_LEDGER_SCHEMA (the test creates `entries`), KEEL_CRASH=1 to die at the first
 * `after-tool-call`, KEEL_WORKER_TAG. Runs until SIGTERM. Stdout carries one JSON line per event
 * (`ready`, `crash`, `effect`, `reconcile`); Keel's log goes to stderr.
 */
import { writeSync } from 'node:fs';
import {
  createJsonLogger,
  createPgClient,
  createScriptedModel,
  createWorker,
  defineAgent,
  defineTool,
  openStore,
  z,
} from '../../dist/index.js';

const env = process.env;
const databaseUrl = required('DATABASE_URL');
const schema = required('KEEL_SCHEMA');
const ledgerSchema = required('KEEL_LEDGER_SCHEMA');
const crash = env.KEEL_CRASH === '1';
const workerTag = env.KEEL_WORKER_TAG || 'worker';

function emit(event) {
  writeSync(1, JSON.stringify({ ...event, worker: workerTag, pid: process.pid, at: Date.now() }) + '\n');
}

function required(name) {
  const value = env[name];
  if (!value) {
    writeSync(2, `unknown-outcome-worker: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

process.on('unhandledRejection', (error) => {
  writeSync(2, `unknown-outcome-worker: unhandled rejection: ${error?.stack ?? String(error)}\n`);
  process.exit(3);
});

let dying = false;
function faultHook(point, context) {
  if (dying) return new Promise(() => {});
  if (!crash || point !== 'after-tool-call') return undefined;
  dying = true;
  emit({ event: 'crash', point, runId: context.runId, seq: context.seq ?? null });
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => {});
}

const ledger = createPgClient({
  connectionString: databaseUrl,
  max: 2,
  applicationName: `keel-unknown-${workerTag}`,
});

async function insertEntry(tool, ctx, amount) {
  await ledger.query(
    `INSERT INTO ${ledgerSchema}.entries (key, run_id, seq, entry, worker, pid)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      ctx.idempotencyKey,
      ctx.runId,
      Number(ctx.idempotencyKey.split(':').at(-1)),
      `${tool}:${amount}`,
      workerTag,
      process.pid,
    ],
  );
  emit({ event: 'effect', tool, key: ctx.idempotencyKey });
  return { [tool]: amount, by: workerTag };
}

const charge = defineTool({
  name: 'charge',
  description: 'Charges an amount, once.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  run: ({ amount }, ctx) => insertEntry('charge', ctx, amount),
  async reconcile({ amount }, ctx) {
    const found = await ledger.query(`SELECT worker FROM ${ledgerSchema}.entries WHERE key = $1`, [
      ctx.idempotencyKey,
    ]);
    emit({ event: 'reconcile', key: ctx.idempotencyKey, found: found.rows.length });
    const row = found.rows[0];
    return row
      ? { done: true, result: { charge: amount, by: row.worker, reconciled: true } }
      : { done: false };
  },
});

const wipe = defineTool({
  name: 'wipe',
  description: 'Wipes a volume.',
  input: z.object({ amount: z.number() }),
  effect: 'destructive',
  needsApproval: false,
  run: ({ amount }, ctx) => insertEntry('wipe', ctx, amount),
});

const agentOf = (name, tool) =>
  defineAgent({
    name,
    instructions: 'Call the tool once, then answer.',
    model: createScriptedModel({
      modelId: 'unknown-script',
      replies: [
        { toolCalls: [{ name: tool, arguments: { amount: 7 } }] },
        (request) => `tool said: ${request.messages.at(-1)?.content ?? ''}`,
      ],
    }),
    tools: [tool === 'charge' ? charge : wipe],
  });

const { store } = await openStore({ databaseUrl, schema, maxConnections: 4 });
const worker = createWorker({
  store,
  agents: [agentOf('reconcile-agent', 'charge'), agentOf('destructive-agent', 'wipe')],
  owner: `${workerTag}:${process.pid}`,
  leaseMs: 1_000,
  heartbeatMs: 200,
  pollMs: 50,
  approvalSweepMs: 100,
  faultHook,
  logger: createJsonLogger({ bindings: { tag: workerTag } }),
});

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void (async () => {
    await worker.stop();
    await store.close();
    await ledger.close();
    emit({ event: 'sigterm-exit' });
    process.exit(0);
  })();
});

worker.start();
emit({ event: 'ready', crash });
