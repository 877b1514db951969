import { setImmediate as afterIo } from 'node:timers/promises';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import { createSqlOtelExportMarks, type OtelExportMarks } from './otel-export-marks.js';
import { createOtelRunTelemetry } from './otel-run-telemetry.js';
import type { QueuedSpans } from './span-export-queue.js';

it('re-emits a claimed run’s unexported steps after a recovered lease only, not after a release', async () => {
  const { store, client } = await openStore({ dataDir: 'memory://' });
  await store.createRun({ agent: 'a', input: 'go' });
  const [claimed] = await store.claimRuns({ owner: 'worker-1', limit: 1, leaseMs: 30_000 });
  const run = claimed!;
  await store.completeStep(
    { runId: run.id, owner: 'worker-1', fence: run.fence },
    {
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'm',
      inputHash: 'hash-0',
      attempt: 1,
      startedAt: new Date(),
      endedAt: new Date(),
      status: 'completed',
      output: { text: 'hi' },
      usage: { inputTokens: 1, outputTokens: 1 },
      costUsd: 0,
    },
  );
  const steps = await store.loadSteps(run.id, { withOutputs: true });
  const sqlMarks = createSqlOtelExportMarks({ client });
  // The mark is read off the run's path: each claim below waits for its read to be done.
  const claimedBy = async (leaseRecovered: boolean): Promise<QueuedSpans[]> => {
    const queued: QueuedSpans[] = [];
    let read!: () => void;
    const readDone = new Promise<void>((resolve) => (read = resolve));
    const marks: OtelExportMarks = {
      read: (runId) => sqlMarks.read(runId).finally(read),
      advance: (batch) => sqlMarks.advance(batch),
    };
    const telemetry = createOtelRunTelemetry({
      enqueue: (entry) => queued.push(entry),
      marks,
      spans: { resource: resourceFromAttributes({}), scope: { name: 'keel' }, captureContent: false },
    });
    telemetry.runClaimed(run, steps, { leaseRecovered });
    await readDone;
    await afterIo();
    return queued;
  };
  // After a release the releasing process still sends the step's span: not queued again.
  expect(await claimedBy(false)).toEqual([]);
  // After a crash no one else will: queued once.
  expect((await claimedBy(true)).map((entry) => [entry.runId, entry.seq])).toEqual([[run.id, 0]]);
  await store.close();
});
