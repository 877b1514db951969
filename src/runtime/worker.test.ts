import { expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
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
  let running = 0;
  let maxRunning = 0;
  const abortCodes: string[] = [];
  const block = defineTool({
    name: 'block',
    description: 'Runs until aborted.',
    input: z.object({}),
    effect: 'write',
    run: (_args, { signal }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          running--;
          abortCodes.push((signal.reason as { code?: string }).code ?? 'unknown');
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
  expect(abortCodes.length).toBeGreaterThanOrEqual(1);
  expect(abortCodes[0]).toBe('lease_lost');
  expect(maxRunning).toBe(1);
  await store.close();
}, 30_000);
