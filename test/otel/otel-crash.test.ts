/**
 * OpenTelemetry export across a crash: real worker processes (otel-worker.mjs, running dist/)
 * exporting to a real OTLP receiver; one is SIGKILLed mid-run and another resumes the run. The
 * run's spans must form one trace holding both executions of the interrupted step, every span
 * once: the spans the dead worker exported are not sent again (the export marks), and the ones
 * it committed but never exported are sent by the worker that resumed the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type JournalStore, type SqlClient } from '../../src/index.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { assertBuilt, dropSchemas, killAllWorkers, waitUntil } from '../crash/support.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const WORKER_PATH = fileURLToPath(new URL('./otel-worker.mjs', import.meta.url));

interface Child {
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
  kill(): void;
  stderr(): string;
}
const children = new Set<Child>();

function spawnWorker(env: Record<string, string>): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'warn', ...env };
  delete childEnv.NODE_OPTIONS;
  const child = spawn(process.execPath, [WORKER_PATH], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim() !== '') events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8_000);
  });
  const handle: Child = {
    events,
    exited: new Promise((resolve) => child.once('close', (code) => resolve(code))),
    kill: () => child.kill('SIGKILL'),
    stderr: () => stderr,
  };
  children.add(handle);
  void handle.exited.then(() => children.delete(handle));
  return handle;
}

describePostgres('OpenTelemetry export across a SIGKILL', (databaseUrl) => {
  const schema = createTestSchemaName();
  let store: JournalStore;
  let client: SqlClient;
  let receiver: OtlpReceiver;
  let directory: string;

  beforeAll(async () => {
    assertBuilt();
    ({ store, client } = await openStore({ databaseUrl, schema }));
    receiver = await startOtlpReceiver();
    directory = mkdtempSync(join(tmpdir(), 'keel-otel-'));
  });
  afterAll(async () => {
    for (const child of children) child.kill();
    await Promise.all([...children].map((child) => child.exited));
    await killAllWorkers();
    await receiver?.close();
    if (client) await dropSchemas(client, schema);
    await store?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  const baseEnv = (service: string, extra: Record<string, string> = {}) => ({
    DATABASE_URL: databaseUrl,
    KEEL_SCHEMA: schema,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: service,
    ...extra,
  });

  const traceOf = (runId: string): ReceivedSpan[] => {
    const traceId = createHash('sha256').update(runId).digest('hex').slice(0, 32);
    return receiver.spans().filter((span) => span.traceId === traceId);
  };

  /** The trace every run of otel-agent must end with, given which step was executed twice. */
  function expectCompleteTrace(
    spans: ReceivedSpan[],
    twice: { seq: number; name: string },
    runId: string,
  ): void {
    expect(receiver.failures).toEqual([]);
    // No span twice: every span id once.
    const ids = spans.map((span) => span.spanId);
    expect(
      new Set(ids).size,
      JSON.stringify(spans.map((span) => [span.name, span.attributes['keel.step.seq']])),
    ).toBe(ids.length);
    const root = spans.filter((span) => span.name === 'invoke_agent otel-agent');
    expect(root).toHaveLength(1);
    expect(root[0]!.attributes['keel.run.attempts']).toBe(2);
    const steps = spans.filter((span) => span !== root[0]);
    for (const span of steps) expect(span.parentSpanId).toBe(root[0]!.spanId);
    const executions = (seq: number) =>
      steps
        .filter((span) => span.attributes['keel.step.seq'] === seq)
        .sort(
          (a, b) => Number(a.attributes['keel.step.attempt']) - Number(b.attributes['keel.step.attempt']),
        );
    // Script: model, slow ‖ quick, model, quick, model.
    const expected = [
      'chat otel-script',
      'execute_tool slow',
      'execute_tool quick',
      'chat otel-script',
      'execute_tool quick',
      'chat otel-script',
    ];
    expected.forEach((name, seq) => {
      const found = executions(seq);
      expect(found.map((span) => span.name)).toEqual(seq === twice.seq ? [name, name] : [name]);
    });
    const [abandoned, replacement] = executions(twice.seq);
    expect(twice.name).toBe(abandoned!.name);
    expect(abandoned!.attributes).toMatchObject({
      'keel.step.attempt': 1,
      'error.type': 'keel.execution_abandoned',
      'keel.step.execution_end': 'abandoned',
      'keel.run.id': runId,
    });
    expect(abandoned!.status.code).toBe(2);
    expect(replacement!.attributes['keel.step.attempt']).toBe(2);
    expect(replacement!.status.code).toBe(1);
    expect(abandoned!.startMs).toBeLessThanOrEqual(replacement!.startMs);
  }

  it(
    'a worker killed after exporting part of a run: the resuming worker sends the rest, nothing twice',
    { timeout: 90_000 },
    async () => {
      const { run } = await store.createRun({ agent: 'otel-agent', input: 'go' });
      // A exports every 50 ms, then blocks in `slow` (seq 1) while `quick` (seq 2) finishes.
      const first = spawnWorker(
        baseEnv('worker-a', {
          KEEL_RUN_ID: run.id,
          KEEL_BLOCK_FILE: join(directory, 'never'),
          OTEL_BSP_SCHEDULE_DELAY: '50',
        }),
      );
      // Wait until A's export of seq 0 and 2 was accepted and its mark recorded, then kill it.
      await waitUntil(
        async () => {
          const row = await client.query<{
            otel_exported_seq: number | null;
            otel_exported_above: number[] | null;
          }>(`SELECT otel_exported_seq, otel_exported_above FROM ${schema}.runs WHERE id = $1`, [run.id]);
          const mark = row.rows[0];
          return mark?.otel_exported_seq === 0 && (mark.otel_exported_above ?? []).map(Number).includes(2);
        },
        {
          timeoutMs: 30_000,
          message: () => `no export mark; worker A: ${JSON.stringify(first.events)} ${first.stderr()}`,
        },
      );
      first.kill();
      await first.exited;
      const fromA = traceOf(run.id).length;
      expect(fromA).toBe(2);

      const second = spawnWorker(baseEnv('worker-b', { KEEL_RUN_ID: run.id, OTEL_BSP_SCHEDULE_DELAY: '50' }));
      expect(await waitForExitCode(second)).toBe(0);
      expect((await store.getRun(run.id))?.status).toBe('completed');

      const spans = traceOf(run.id);
      expectCompleteTrace(spans, { seq: 1, name: 'execute_tool slow' }, run.id);
      expect(new Set(spans.map((span) => span.resource['service.name']))).toEqual(
        new Set(['worker-a', 'worker-b']),
      );
    },
  );

  it(
    'a worker killed before exporting anything: the resuming worker sends what it committed',
    { timeout: 90_000 },
    async () => {
      const { run } = await store.createRun({ agent: 'otel-agent', input: 'go' });
      // A never exports on its own (600 s delay) and dies right after its second model call
      // (seq 3), whose row is journaled as started: A's steps 0-2 are committed, not exported.
      const first = spawnWorker(
        baseEnv('worker-a', {
          KEEL_RUN_ID: run.id,
          KEEL_CRASH_POINT: 'after-model-call',
          KEEL_CRASH_AT: '2',
          OTEL_BSP_SCHEDULE_DELAY: '600000',
        }),
      );
      await first.exited;
      expect(first.events.some((event) => event.event === 'crash')).toBe(true);
      expect(traceOf(run.id)).toHaveLength(0);

      const second = spawnWorker(baseEnv('worker-b', { KEEL_RUN_ID: run.id, OTEL_BSP_SCHEDULE_DELAY: '50' }));
      expect(await waitForExitCode(second)).toBe(0);
      expect((await store.getRun(run.id))?.status).toBe('completed');
      expectCompleteTrace(traceOf(run.id), { seq: 3, name: 'chat otel-script' }, run.id);
    },
  );
});

async function waitForExitCode(child: Child): Promise<number | null> {
  const timer = setTimeout(() => child.kill(), 60_000);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`worker exited ${code}: ${JSON.stringify(child.events)} ${child.stderr()}`);
  return code;
}
