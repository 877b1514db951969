/**
 * A Keel worker process for the approval crash test, running the built package (dist/). Its
 * agent asks for one `pay` call (needs approval, an effect written through the effect ledger),
 * then answers with the tool's result.
 *
 * Environment: DATABASE_URL, KEEL_SCHEMA (journal, migrated by the test), KEEL_LEDGER_SCHEMA
 * (the `entries` and `effects` tables of test/crash/support.ts), KEEL_WORKER_TAG.
 * Stdout: one JSON object per line: `ready`, `suspended` (run-suspend event), `paid`, `run-end`.
 */
import { createScriptedModel, defineAgent, defineTool, z } from '../../dist/index.js';
import { insertLedgerEntry, openWorkerStores, runWorker, workerScript } from '../crash/worker-kit.mjs';

const script = workerScript('approval-worker');
const { emit } = script;
script.required('KEEL_LEDGER_SCHEMA');
const workerTag = script.tag;
const stores = await openWorkerStores(script);
const { ledger } = stores;

const pay = defineTool({
  name: 'pay',
  description: 'Pays an amount; needs a human approval.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  needsApproval: true,
  async run({ amount }, ctx) {
    const { value } = await ledger.once(ctx.idempotencyKey, async (tx) => ({
      entryId: await insertLedgerEntry(tx, script, ctx, `pay ${amount}`),
    }));
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

runWorker(script, stores, {
  agents: [agent],
  onEvent: (event) => {
    if (event.type === 'run-suspend')
      emit({ event: 'suspended', runId: event.runId, approvalIds: event.approvalIds });
    if (event.type === 'run-end')
      emit({ event: 'run-end', runId: event.runId, stopReason: event.stopReason });
  },
});
