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
import { createScriptedModel, defineAgent, defineTool, z } from '../../dist/index.js';
import { insertLedgerEntry, openWorkerStores, runWorker, workerScript } from './worker-kit.mjs';

const script = workerScript('unknown-outcome-worker');
const { emit } = script;
const ledgerSchema = script.required('KEEL_LEDGER_SCHEMA');
const crash = script.env.KEEL_CRASH === '1';
const workerTag = script.tag;

let dying = false;
function faultHook(point, context) {
  if (dying) return new Promise(() => {});
  if (!crash || point !== 'after-tool-call') return undefined;
  dying = true;
  emit({ event: 'crash', point, runId: context.runId, seq: context.seq ?? null });
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => {});
}

const stores = await openWorkerStores(script);
const ledger = stores.ledgerClient;

async function insertEntry(tool, ctx, amount) {
  await insertLedgerEntry(ledger, script, ctx, `${tool}:${amount}`);
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

runWorker(script, stores, {
  agents: [agentOf('reconcile-agent', 'charge'), agentOf('destructive-agent', 'wipe')],
  leaseMs: 1_000,
  heartbeatMs: 200,
  approvalSweepMs: 100,
  faultHook,
  ready: { crash },
});
