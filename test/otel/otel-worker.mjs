/**
 * A Keel worker process for the OpenTelemetry crash test: runs the built package (dist/), the
 * way a deployed worker does, with OpenTelemetry export configured by the standard `OTEL_*`
 * variables of its environment, and can die by SIGKILL at a named fault point.
 *
 * Environment:
 * - DATABASE_URL, KEEL_SCHEMA   the journal (the test migrated it).
 * - KEEL_RUN_ID                 the one run this worker claims; it exits 0 once that run ended
 *                               (after flushing its spans).
 * - KEEL_CRASH_POINT, KEEL_CRASH_AT  die at that hit (1-based) of that fault point.
 * - KEEL_BLOCK_FILE             the `slow` tool waits until this file exists (deaf to cancellation).
 *
 * Stdout: one JSON line per event for the test (`ready`, `crash`, `blocked`, `exit`).
 */
import { existsSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createJsonLogger,
  createOtelExport,
  createScriptedModel,
  createWorker,
  defineAgent,
  defineTool,
  openStore,
  z,
} from '../../dist/index.js';

const env = process.env;
const runId = env.KEEL_RUN_ID;
const crashPoint = env.KEEL_CRASH_POINT || undefined;
const crashAt = Number(env.KEEL_CRASH_AT || 1);
const blockFile = env.KEEL_BLOCK_FILE || undefined;

function emit(event) {
  writeSync(1, JSON.stringify({ ...event, pid: process.pid }) + '\n');
}

const hits = new Map();
function faultHook(point, context) {
  const hit = (hits.get(point) ?? 0) + 1;
  hits.set(point, hit);
  if (point !== crashPoint || hit !== crashAt) return undefined;
  emit({ event: 'crash', point, hit, seq: context.seq ?? null });
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => {});
}

const slow = defineTool({
  name: 'slow',
  description: 'A write that may block (see KEEL_BLOCK_FILE).',
  input: z.object({ entry: z.string() }),
  effect: 'write',
  async run({ entry }) {
    if (blockFile !== undefined) {
      emit({ event: 'blocked' });
      while (!existsSync(blockFile)) await sleep(20);
    }
    return { wrote: entry };
  },
});
const quick = defineTool({
  name: 'quick',
  description: 'Reads something.',
  input: z.object({ entry: z.string() }),
  run: ({ entry }) => ({ length: entry.length }),
});

const agent = defineAgent({
  name: 'otel-agent',
  instructions: 'Use the tools, then answer.',
  model: createScriptedModel({
    modelId: 'otel-script',
    replies: [
      () => ({
        toolCalls: [
          { name: 'slow', arguments: { entry: 'a' } },
          { name: 'quick', arguments: { entry: 'b' } },
        ],
      }),
      () => ({ toolCalls: [{ name: 'quick', arguments: { entry: 'c' } }] }),
      () => 'done',
    ],
  }),
  tools: [slow, quick],
});

const logger = createJsonLogger();
const { store, client } = await openStore({
  databaseUrl: env.DATABASE_URL,
  schema: env.KEEL_SCHEMA,
  maxConnections: 4,
});
const otel = createOtelExport({ client, schema: env.KEEL_SCHEMA, logger });
const worker = createWorker({
  store,
  agents: [agent],
  runIds: [runId],
  leaseMs: 600,
  heartbeatMs: 150,
  pollMs: 50,
  maxRunAttempts: 100,
  faultHook,
  logger,
  ...(otel ? { telemetry: otel.telemetry } : {}),
});
worker.start();
emit({ event: 'ready', otel: otel !== undefined });

for (;;) {
  await sleep(100);
  const run = await store.getRun(runId);
  if (run && ['completed', 'failed', 'cancelled'].includes(run.status) && worker.activeRunIds().length === 0)
    break;
}
await worker.stop();
await otel?.shutdown();
await store.close();
emit({ event: 'exit', exported: otel?.exportedSpans() ?? 0, dropped: otel?.droppedSpans() ?? 0 });
process.exit(0);
