/**
 * A Keel worker process for the approval crash test, running the built package (dist/). Its
 * agent asks for one `pay` call (needs approval, an effect written through the effect ledger),
 * then answers with the tool's result.
 *
 * Environment: DATABASE_URL, KEEL_SCHEMA (journal, migrated by the test), KEEL_LEDGER_SCHEMA
 * (the `entries` and `effects` tables of test/crash/support.ts), KEEL_WORKER_TAG.
 * Stdout: one JSON object per line: `ready`, `suspended` (run-suspend event), `paid`, `run-end`.
 */
import { writeSync } from 'node:fs';
import {
  createEffectLedger,
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
const databaseUrl = env.DATABASE_URL;
const schema = env.KEEL_SCHEMA;
const ledgerSchema = env.KEEL_LEDGER_SCHEMA;
const workerTag = env.KEEL_WORKER_TAG || 'worker';

function emit(event) {
  writeSync(1, JSON.stringify({ ...event, worker: workerTag, pid: process.pid }) + '\n');
}

const ledgerClient = createPgClient({ connectionString: databaseUrl, max: 2 });
const ledger = createEffectLedger({ client: ledgerClient, schema: ledgerSchema });

const pay = defineTool({
  name: 'pay',
  description: 'Pays an amount; needs a human approval.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  needsApproval: true,
  async run({ amount }, ctx) {
    const seq = Number(ctx.idempotencyKey.slice(ctx.idempotencyKey.lastIndexOf(':') + 1));
    const { value } = await ledger.once(ctx.idempotencyKey, async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO ${ledgerSchema}.entries (key, run_id, seq, entry, worker, pid)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [ctx.idempotencyKey, ctx.runId, seq, `pay ${amount}`, workerTag, process.pid],
      );
      return { entryId: Number(inserted.rows[0].id) };
    });
    emit({ event: 'paid', runId: ctx.runId, entryId: value.entryId });
    return { paid: amount, by: workerTag };
  },
});

const agent = defineAgent({
  name: 'approval-agent',
  instructions: 'Pay, then answer.',
  model: createScriptedModel({
    modelId: 'approval-script',
    replies: [
      { toolCalls: [{ name: 'pay', arguments: { amount: 42 } }] },
      (request) => `done: ${request.messages.at(-1)?.content ?? ''}`,
    ],
  }),
  tools: [pay],
});

const { store } = await openStore({ databaseUrl, schema, maxConnections: 4 });
const worker = createWorker({
  store,
  agents: [agent],
  owner: `${workerTag}:${process.pid}`,
  leaseMs: 600,
  heartbeatMs: 150,
  pollMs: 50,
  logger: createJsonLogger({ bindings: { tag: workerTag } }),
  onEvent: (event) => {
    if (event.type === 'run-suspend')
      emit({ event: 'suspended', runId: event.runId, approvalIds: event.approvalIds });
    if (event.type === 'run-end')
      emit({ event: 'run-end', runId: event.runId, stopReason: event.stopReason });
  },
});

process.on('SIGTERM', () => {
  void worker
    .stop()
    .then(() => store.close())
    .then(() => ledgerClient.close())
    .then(() => process.exit(0));
});
worker.start();
emit({ event: 'ready' });
