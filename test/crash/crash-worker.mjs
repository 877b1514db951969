/**
 * A Keel worker process for the crash and fencing tests. It runs the built package (dist/), the
 * way a deployed worker does, and SIGKILLs itself at a named fault point.
 *
 * Configuration (environment):
 * - DATABASE_URL            Postgres the journal and the external ledger live in (required).
 * - KEEL_SCHEMA             schema of the journal (required; the test migrated it).
 * - KEEL_LEDGER_SCHEMA      schema of the external ledger: `entries` (the effect: one row per
 *                           append, deliberately without a unique key so a duplicate shows) and
 *                           `effects` (the effect ledger's keys). The test creates both tables.
 * - KEEL_CRASH_POINT        fault point to die at (see FAULT_POINTS); unset: never crash.
 * - KEEL_CRASH_AT           which hit of that point kills the process, counted over all runs in
 *                           this process, 1-based (default 1).
 * - KEEL_CRASH_WHERE        for `inside-tool` only: count just the hits at one position,
 *                           `before-ledger`, `in-ledger-transaction` or `after-ledger`.
 * - KEEL_CRASH_DELAY_MS     for `during-journal-append` only: how long the in-flight append gets
 *                           before the kill; -1 (default) means after one setImmediate.
 * - KEEL_LEASE_MS, KEEL_HEARTBEAT_MS, KEEL_POLL_MS, KEEL_CONCURRENCY: worker settings
 *                           (defaults 600, 150, 50, 4: a fast loop for tests).
 * - KEEL_WORKER_TAG         name of this worker in the lease owner, the ledger rows and tool
 *                           outputs (default `worker`).
 * - KEEL_BLOCK_FILE, KEEL_BLOCK_AT: the `append` tool waits until the file exists, at
 *                           `before-ledger` or `after-ledger`. The wait ignores cancellation on
 *                           purpose, like a careless tool would.
 * - KEEL_EXIT_WHEN_IDLE     `1` (default): stop and exit 0 once no run in the schema is live.
 *                           `0`: run until SIGTERM.
 *
 * The `inside-tool` point is hit three times per execution of `append`: before the ledger
 * transaction, inside it (row inserted, not committed), and after it committed.
 *
 * Stdout carries one JSON object per line for the test: `ready`, `claimed`, `crash`, `blocked`,
 * `ledger-replayed`, `write-refused` (a fenced journal write refused, with its error code) and
 * `idle-exit`, each with `at` (this host's clock, ms). Keel's own log goes to stderr.
 */
import { existsSync } from 'node:fs';
import { setImmediate, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { createScriptedModel, defineAgent, defineTool, z } from '../../dist/index.js';
import { insertLedgerEntry, openWorkerStores, runWorker, seqOfKey, workerScript } from './worker-kit.mjs';

const FAULT_POINTS = [
  'before-model-call',
  'after-model-call',
  'before-tool-call',
  'inside-tool',
  'after-tool-call',
  'during-journal-append',
  'before-run-end',
];

const INSIDE_TOOL_POSITIONS = ['before-ledger', 'in-ledger-transaction', 'after-ledger'];

const script = workerScript('crash-worker');
const { env, emit, fail } = script;
script.required('DATABASE_URL');
script.required('KEEL_LEDGER_SCHEMA');
const crashPoint = env.KEEL_CRASH_POINT || undefined;
const crashAt = script.integer('KEEL_CRASH_AT', 1);
const crashWhere = env.KEEL_CRASH_WHERE || undefined;
const crashDelayMs = script.integer('KEEL_CRASH_DELAY_MS', -1);
const leaseMs = script.integer('KEEL_LEASE_MS', 600);
const heartbeatMs = script.integer('KEEL_HEARTBEAT_MS', 150);
const pollMs = script.integer('KEEL_POLL_MS', 50);
const concurrency = script.integer('KEEL_CONCURRENCY', 4);
const workerTag = script.tag;
const blockFile = env.KEEL_BLOCK_FILE || undefined;
const blockAt = env.KEEL_BLOCK_AT || 'before-ledger';
const exitWhenIdle = env.KEEL_EXIT_WHEN_IDLE !== '0';

if (crashPoint !== undefined && !FAULT_POINTS.includes(crashPoint)) {
  fail(`unknown KEEL_CRASH_POINT ${JSON.stringify(crashPoint)}; known: ${FAULT_POINTS.join(', ')}`);
}
if (crashWhere !== undefined && !INSIDE_TOOL_POSITIONS.includes(crashWhere)) {
  fail(`unknown KEEL_CRASH_WHERE ${JSON.stringify(crashWhere)}; known: ${INSIDE_TOOL_POSITIONS.join(', ')}`);
}
if (!['before-ledger', 'after-ledger'].includes(blockAt))
  fail(`unknown KEEL_BLOCK_AT ${JSON.stringify(blockAt)}`);

// ---------------------------------------------------------------------------------------------
// Fault injection

const hits = new Map();
let dying = false;
const never = () => new Promise(() => {});

/** Counts hits per point; at the chosen hit of the chosen point, the process dies by SIGKILL. */
function faultHook(point, context) {
  if (dying) return never(); // nothing else moves while the kill is on its way
  // With KEEL_CRASH_WHERE, only the hits at that position count (inside-tool has three).
  const counter = crashWhere === undefined ? point : `${point}/${context.where ?? ''}`;
  const hit = (hits.get(counter) ?? 0) + 1;
  hits.set(counter, hit);
  if (point !== crashPoint || (crashWhere !== undefined && context.where !== crashWhere) || hit !== crashAt)
    return undefined;
  dying = true;
  emit({
    event: 'crash',
    point,
    hit,
    runId: context.runId,
    seq: context.seq ?? null,
    where: context.where ?? null,
  });
  const die = () => process.kill(process.pid, 'SIGKILL');
  if (point === 'during-journal-append') {
    // The append was issued just before this hook: give it a moment to reach the wire (or not).
    if (crashDelayMs < 0) setImmediate(die);
    else setTimeout(die, crashDelayMs);
    return never();
  }
  die();
  return never();
}

// ---------------------------------------------------------------------------------------------
// The agent: three tool turns (the second with parallel calls), then a final answer

const stores = await openWorkerStores(script, { maxConnections: 6, ledgerConnections: 4 });
const { store, ledger } = stores;

async function maybeBlock(position, runId, seq) {
  if (blockFile === undefined || blockAt !== position) return;
  emit({ event: 'blocked', position, runId, seq });
  // Deliberately deaf to ctx.signal: the fence, not the tool's manners, must keep this safe.
  while (!existsSync(blockFile)) await sleep(20);
  emit({ event: 'unblocked', position, runId, seq });
}

const append = defineTool({
  name: 'append',
  description: 'Appends an entry to the external ledger, once per step.',
  input: z.object({ entry: z.string() }),
  effect: 'write',
  async run({ entry }, ctx) {
    const seq = seqOfKey(ctx.idempotencyKey);
    await faultHook('inside-tool', { runId: ctx.runId, seq, where: 'before-ledger' });
    await maybeBlock('before-ledger', ctx.runId, seq);
    const { value, replayed } = await ledger.once(ctx.idempotencyKey, async (tx) => {
      const entryId = await insertLedgerEntry(tx, script, ctx, entry);
      // Dying here leaves the entry and its ledger key uncommitted: Postgres rolls both back.
      await faultHook('inside-tool', { runId: ctx.runId, seq, where: 'in-ledger-transaction' });
      return { entryId };
    });
    if (replayed) emit({ event: 'ledger-replayed', key: ctx.idempotencyKey, attempt: ctx.attempt });
    await faultHook('inside-tool', { runId: ctx.runId, seq, where: 'after-ledger' });
    await maybeBlock('after-ledger', ctx.runId, seq);
    return { entryId: value.entryId, entry, by: workerTag };
  },
});

const lookup = defineTool({
  name: 'lookup',
  description: 'Reads something; no effect, safe to repeat.',
  input: z.object({ entry: z.string() }),
  run: ({ entry }) => ({ entry, length: entry.length }),
});

const userText = (request) => request.messages.find((message) => message.role === 'user')?.content ?? '';

/** Replies by turn index: the same in every process, so a recovered run continues the script. */
const CRASH_SCRIPT = [
  (request) => ({ toolCalls: [{ name: 'append', arguments: { entry: `${userText(request)}/a` } }] }),
  (request) => ({
    text: 'two at once, and a look',
    toolCalls: [
      { name: 'append', arguments: { entry: `${userText(request)}/b1` } },
      { name: 'append', arguments: { entry: `${userText(request)}/b2` } },
      { name: 'lookup', arguments: { entry: `${userText(request)}/b` } },
    ],
  }),
  (request) => ({ toolCalls: [{ name: 'append', arguments: { entry: `${userText(request)}/c` } }] }),
  (request) => `done: ${userText(request)}`,
];

const agent = defineAgent({
  name: 'crash-agent',
  instructions: 'Append the entries you are given, then answer.',
  model: createScriptedModel({ modelId: 'crash-script', replies: CRASH_SCRIPT }),
  tools: [append, lookup],
});

// ---------------------------------------------------------------------------------------------
// The worker

/** The store, reporting fenced writes it refuses (the fencing test reads these). */
const reported = (method) =>
  async function (lease, ...rest) {
    try {
      return await store[method](lease, ...rest);
    } catch (error) {
      emit({
        event: 'write-refused',
        method,
        code: error?.code ?? null,
        runId: lease.runId,
        fence: lease.fence,
      });
      throw error;
    }
  };
const instrumentedStore = {
  ...store,
  async claimRuns(options) {
    const claimed = await store.claimRuns(options);
    if (claimed.length > 0) {
      emit({
        event: 'claimed',
        runs: claimed.map((run) => ({ id: run.id, fence: run.fence, attempts: run.attempts })),
      });
    }
    return claimed;
  },
  startStep: reported('startStep'),
  completeStep: reported('completeStep'),
  finishRun: reported('finishRun'),
};

runWorker(script, stores, {
  store: instrumentedStore,
  agents: [agent],
  concurrency,
  leaseMs,
  heartbeatMs,
  pollMs,
  // Crashes inflate claim counts on purpose; the poison-run cutoff would end runs as errors.
  maxRunAttempts: 10_000,
  faultHook,
  exitWhenIdle,
  isDying: () => dying,
  ready: { crashPoint: crashPoint ?? null, crashAt },
});
