/**
 * A Keel worker process for the deploy test, running the built package (dist/) with one version
 * of the agents' code: KEEL_AGENT_VERSION `v1` or `v2`. A deploy replaces a v1 process by a v2
 * one. Each version defines two agents with the same code: `deploy-agent` (onCodeChange left at
 * its default, `continue`) and `strict-deploy-agent` (onCodeChange: 'fail').
 *
 * - v1: instructions "You are version one.", tools `lookup` and `append`. Its model asks for a
 *   lookup, then an append of `<input>/v1`, then answers.
 * - v2: instructions "You are version two.", tools `append` and `search` (lookup removed, search
 *   added). Its model would start differently (a search, then an append of `<input>/v2`); after
 *   those two turns it asks for a search and answers `v2 done: <input>`.
 *
 * `append` writes its effect once through the effect ledger (KEEL_LEDGER_SCHEMA). With
 * KEEL_BLOCK_FILE it first waits until that file exists, and gives up when the run is aborted (a
 * draining worker), as a well-behaved tool does.
 *
 * Environment (besides worker-kit.mjs's): KEEL_AGENT_VERSION (required), KEEL_BLOCK_FILE,
 * KEEL_CONCURRENCY (default 2), KEEL_DRAIN_MS (default 10000), KEEL_EXIT_WHEN_IDLE (`1`: exit 0
 * once no run is live; default `0`, run until SIGTERM).
 *
 * Stdout, one JSON line per event: `ready`, `model-request` (agent, turn, system prompt, the
 * tools offered, the tools whose results the request holds), `tool` (a tool's code ran), `blocked`,
 * `gave-up` (the block ended by the run's abort), `sigterm-exit`, `idle-exit`.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createScriptedModel, defineAgent, defineTool, z } from '../../dist/index.js';
import { insertLedgerEntry, openWorkerStores, runWorker, seqOfKey, workerScript } from './worker-kit.mjs';

const script = workerScript('deploy-worker');
const { emit, env } = script;
const version = script.required('KEEL_AGENT_VERSION');
if (version !== 'v1' && version !== 'v2') script.fail(`KEEL_AGENT_VERSION must be v1 or v2, got ${version}`);
script.required('KEEL_LEDGER_SCHEMA');
const blockFile = env.KEEL_BLOCK_FILE || undefined;

const stores = await openWorkerStores(script);

/**
 * Waits for the block file; a run aborted meanwhile (a draining worker) ends the wait. `gave-up`
 * is printed at the abort itself: the runtime races a tool against its run's signal and hands the
 * run back at once, so a worker stopping may exit before this loop wakes again.
 */
async function block(ctx) {
  const seq = seqOfKey(ctx.idempotencyKey);
  emit({ event: 'blocked', runId: ctx.runId, seq });
  const gaveUp = () => emit({ event: 'gave-up', runId: ctx.runId, seq });
  if (ctx.signal.aborted) {
    gaveUp();
    throw ctx.signal.reason;
  }
  ctx.signal.addEventListener('abort', gaveUp, { once: true });
  try {
    while (!existsSync(blockFile)) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await sleep(20);
    }
  } finally {
    ctx.signal.removeEventListener('abort', gaveUp);
  }
}

const append = defineTool({
  name: 'append',
  description: 'Appends an entry to the ledger, once per step.',
  input: z.object({ entry: z.string() }),
  effect: 'write',
  async run({ entry }, ctx) {
    emit({ event: 'tool', tool: 'append', runId: ctx.runId, version });
    if (blockFile !== undefined) await block(ctx);
    const { value } = await stores.ledger.once(ctx.idempotencyKey, async (tx) => ({
      entryId: await insertLedgerEntry(tx, script, ctx, entry),
    }));
    return { entryId: value.entryId, entry, by: script.tag, version };
  },
});

/** A tool without effects whose answer says which code gave it. */
const readTool = (name, description, answer) =>
  defineTool({
    name,
    description,
    input: z.object({ q: z.string() }),
    run: ({ q }, ctx) => {
      emit({ event: 'tool', tool: name, runId: ctx.runId, version });
      return { ...answer(q), by: script.tag, version };
    },
  });
const lookup = readTool('lookup', 'Looks an entry up (v1 only).', (q) => ({ found: q }));
const search = readTool('search', 'Searches for entries (added in v2).', (q) => ({ hits: [q] }));

const userText = (request) => request.messages.find((message) => message.role === 'user')?.content ?? '';

/** Replies by turn (the assistant messages the request holds), per version. */
const REPLIES = {
  v1: [
    (request) => ({ toolCalls: [{ name: 'lookup', arguments: { q: userText(request) } }] }),
    (request) => ({ toolCalls: [{ name: 'append', arguments: { entry: `${userText(request)}/v1` } }] }),
    (request) => `v1 done: ${userText(request)}`,
  ],
  v2: [
    (request) => ({ toolCalls: [{ name: 'search', arguments: { q: userText(request) } }] }),
    (request) => ({ toolCalls: [{ name: 'append', arguments: { entry: `${userText(request)}/v2` } }] }),
    (request) => ({ toolCalls: [{ name: 'search', arguments: { q: `${userText(request)}/more` } }] }),
    (request) => `v2 done: ${userText(request)}`,
  ],
};

const agentOf = (name, onCodeChange) =>
  defineAgent({
    name,
    instructions: version === 'v1' ? 'You are version one.' : 'You are version two.',
    model: createScriptedModel({
      modelId: 'deploy-script',
      respond(request) {
        const turn = request.messages.filter((message) => message.role === 'assistant').length;
        emit({
          event: 'model-request',
          agent: name,
          turn,
          system: request.messages.find((message) => message.role === 'system')?.content ?? null,
          tools: (request.tools ?? []).map((tool) => tool.name),
          toolResults: request.messages
            .filter((message) => message.role === 'tool')
            .map((message) => message.name),
        });
        const reply = REPLIES[version][turn];
        if (reply === undefined) throw new Error(`deploy-worker ${version}: no reply for turn ${turn}`);
        return reply(request);
      },
    }),
    tools: version === 'v1' ? [lookup, append] : [append, search],
    ...(onCodeChange ? { onCodeChange } : {}),
  });

runWorker(script, stores, {
  agents: [agentOf('deploy-agent'), agentOf('strict-deploy-agent', 'fail')],
  // Keel's default lease: on PGlite, where every write waits for the one connection, a test's
  // 600 ms lease can run out under a busy machine, and the run would change hands mid-test.
  leaseMs: 5_000,
  heartbeatMs: 1_000,
  concurrency: script.integer('KEEL_CONCURRENCY', 2),
  drainTimeoutMs: script.integer('KEEL_DRAIN_MS', 10_000),
  exitWhenIdle: env.KEEL_EXIT_WHEN_IDLE === '1',
  ready: { version },
});
