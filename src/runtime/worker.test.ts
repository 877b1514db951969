import { expect, it } from 'vitest';
import { z } from 'zod';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { openStore } from '../journal/open-store.js';
import type { JournalStore } from '../journal/store.js';
import { LIVENESS_LOCK_NAMESPACE } from '../journal/worker-liveness.js';
import { createScriptedModel } from '../model/builtin-model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool } from '../tools/tool.js';
import { createJsonLogger, silentLogger } from '../util/logger.js';
import { defineAgent } from './agent.js';
import { createWorker } from './worker.js';

it('stops work on a run whose heartbeat hangs past the lease, and never runs one run twice at once', async () => {
  const store = await createMemoryStore();
  // A partition without a reset: heartbeats are sent and never answered.
  const partitioned = new Proxy(store, {
    get: (target, property, receiver) =>
      property === 'heartbeat'
        ? () => new Promise(() => {})
        : (Reflect.get(target, property, receiver) as unknown),
  }) as JournalStore;
  const { agent, tally } = blockingAgent();
  await store.createRun({ agent: 'blocked', input: 'go' });
  const worker = createWorker({
    store: partitioned,
    agents: [agent],
    leaseMs: 400,
    heartbeatMs: 100,
    pollMs: 50,
    drainTimeoutMs: 100,
    logger: silentLogger,
  });
  worker.start();
  await new Promise((resolve) => setTimeout(resolve, 1_600));
  await worker.stop();
  expect(tally.abortCodes.length).toBeGreaterThanOrEqual(1);
  expect(tally.abortCodes[0]).toBe('lease_lost');
  expect(tally.maxRunning).toBe(1);
  await store.close();
}, 30_000);

it('stops its runs when heartbeats time out, logs the episode once with its cause, and claims again by itself', async () => {
  const store = await createMemoryStore();
  // A silent database behind a query timeout: heartbeats and claims fail after a while.
  let silent = false;
  let failedCalls = 0;
  const timedOut = () =>
    new Promise((_resolve, reject) =>
      setTimeout(() => {
        failedCalls++;
        reject(new DatabaseUnavailableError('Database unavailable: Query read timeout'));
      }, 150),
    );
  const silenced = new Proxy(store, {
    get: (target, property, receiver) => {
      const value = Reflect.get(target, property, receiver) as unknown;
      if ((property === 'heartbeat' || property === 'claimRuns') && typeof value === 'function')
        return (...args: unknown[]) =>
          silent ? timedOut() : (value as (...inner: unknown[]) => unknown).apply(target, args);
      return value;
    },
  }) as JournalStore;
  const lines: { msg: string; [field: string]: unknown }[] = [];
  const logger = createJsonLogger({
    level: 'info',
    write: (line) => lines.push(JSON.parse(line) as { msg: string }),
  });
  const { agent, tally } = blockingAgent();
  await store.createRun({ agent: 'blocked', input: 'go' });
  const worker = createWorker({
    store: silenced,
    agents: [agent],
    leaseMs: 400,
    heartbeatMs: 100,
    pollMs: 50,
    drainTimeoutMs: 100,
    logger,
  });
  worker.start();
  try {
    await waitUntil(() => tally.started === 1);
    silent = true;
    await waitUntil(() => tally.abortCodes.length === 1);
    await waitUntil(() => failedCalls >= 8); // many failed heartbeats and claims, still one line each
    silent = false;
    await waitUntil(() => tally.started === 2); // reclaimed by this same worker once the database answers
  } finally {
    await worker.stop();
    await store.close();
  }
  expect(tally.abortCodes[0]).toBe('lease_lost');
  expect(tally.maxRunning).toBe(1);
  const messages = lines.map((line) => line.msg);
  const count = (prefix: string) => messages.filter((message) => message.startsWith(prefix)).length;
  expect(count('heartbeat failed')).toBe(1);
  expect(count('claim failed')).toBe(1);
  expect(count('leases not renewed in time')).toBe(1);
  expect(count('the database answers again')).toBe(1);
  const stopped = lines.find((line) => line.msg.startsWith('leases not renewed in time'));
  expect(stopped).toMatchObject({ cause: 'Database unavailable: Query read timeout', leaseMs: 400 });
}, 30_000);

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('reports a recovered claim that it ends at once (a cancel request) before the end, with the dead execution’s steps', async () => {
  const store = await createMemoryStore();
  const agent = defineAgent({
    name: 'recovered',
    instructions: 'x',
    model: createScriptedModel({ replies: ['hi'] }),
  });
  const { run } = await store.createRun({ agent: 'recovered', input: 'go' });
  // A worker claims it, commits a step and dies: its lease expires with the run still running.
  const [dead] = await store.claimRuns({ owner: 'dead-worker', limit: 1, leaseMs: 1 });
  await store.completeStep(
    { runId: run.id, owner: 'dead-worker', fence: dead!.fence },
    {
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'scripted',
      inputHash: 'hash-0',
      attempt: 1,
      startedAt: new Date(),
      endedAt: new Date(),
      status: 'completed',
      output: { text: 'committed, never exported' },
      usage: { inputTokens: 1, outputTokens: 1 },
      costUsd: 0,
    },
  );
  await store.requestCancel(run.id);
  await new Promise((resolve) => setTimeout(resolve, 20)); // past the 1 ms lease
  const calls: string[] = [];
  const worker = createWorker({
    store,
    agents: [agent],
    pollMs: 20,
    logger: silentLogger,
    telemetry: {
      runClaimed: (claimed, steps, claim) =>
        calls.push(
          `claimed ${claimed.id} steps=${steps.map((step) => step.seq).join(',')} recovered=${claim?.leaseRecovered}`,
        ),
      runEnded: (ended) => calls.push(`ended ${ended.id} ${ended.stopReason}`),
    },
  });
  worker.start();
  while (!calls.some((call) => call.startsWith('ended')))
    await new Promise((resolve) => setTimeout(resolve, 20));
  await worker.stop();
  expect(calls).toEqual([`claimed ${run.id} steps=0 recovered=true`, `ended ${run.id} cancelled`]);
  await store.close();
}, 30_000);

/**
 * An agent whose one tool call runs until its execution is aborted, with a tally of the tool's
 * executions: started, running now, the most at once, and the abort codes they ended with.
 */
it('holds its liveness lock from before its first claim until it stopped, and claims with it', async () => {
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const livenessLocks = async () =>
    (
      await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int4::oid`,
        [LIVENESS_LOCK_NAMESPACE],
      )
    ).rows[0]?.n;
  const { agent, tally } = blockingAgent();
  const { run } = await store.createRun({ agent: 'blocked', input: 'go' });
  const worker = createWorker({
    store,
    agents: [agent],
    leaseMs: 60_000,
    pollMs: 50,
    drainTimeoutMs: 100,
    logger: silentLogger,
  });
  worker.start();
  await waitUntil(() => tally.started === 1);
  expect(await livenessLocks()).toBe(1);
  const marked = await client.query<{ lease_liveness: boolean }>(
    'SELECT lease_liveness FROM keel.runs WHERE id = $1',
    [run.id],
  );
  expect(marked.rows[0]?.lease_liveness).toBe(true);
  await worker.stop();
  // Handed back first (drained), then the lock given up: nothing was left to take over.
  expect(await store.getRun(run.id)).toMatchObject({ status: 'queued', leaseOwner: null });
  expect(await livenessLocks()).toBe(0);
  await store.close();
}, 30_000);

function blockingAgent() {
  const tally = { started: 0, running: 0, maxRunning: 0, abortCodes: [] as string[] };
  const block = defineTool({
    name: 'block',
    description: 'Runs until aborted.',
    input: z.object({}),
    effect: 'write',
    run: (_args, { signal }) => {
      tally.started++;
      tally.running++;
      tally.maxRunning = Math.max(tally.maxRunning, tally.running);
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          tally.running--;
          tally.abortCodes.push((signal.reason as { code?: string }).code ?? 'unknown');
          reject(signal.reason as Error);
        }),
      );
    },
  });
  const agent = defineAgent({
    name: 'blocked',
    instructions: 'x',
    model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'block', arguments: {} }] }, 'never'] }),
    tools: [block],
  });
  return { agent, tally };
}
