import { expect, it } from 'vitest';
import { createMemoryStore } from '../testing/memory-store.js';
import { createJsonLogger } from '../util/logger.js';
import { combineTelemetry, guardTelemetry, TELEMETRY_FAILURE_LOG_INTERVAL_MS } from './run-telemetry.js';

it('a throwing observer does not keep the next one from the call, and is logged at most once a minute per method', async () => {
  const store = await createMemoryStore();
  const { run } = await store.createRun({ agent: 'a', input: 'go' });
  await store.close();
  const heard: string[] = [];
  const lines: string[] = [];
  let now = 1_000_000;
  const telemetry = guardTelemetry(
    combineTelemetry(
      {
        runEnded: () => {
          throw new Error('metrics broke');
        },
      },
      undefined,
      {
        runEnded: (ended) => heard.push(ended.id),
        runReleased: (released) => heard.push(`released ${released.id}`),
      },
    ),
    createJsonLogger({ write: (line) => lines.push(line) }),
    () => now,
  );
  telemetry.runEnded(run);
  telemetry.runEnded(run);
  now += TELEMETRY_FAILURE_LOG_INTERVAL_MS - 1;
  telemetry.runEnded(run);
  telemetry.runReleased(run, 'draining');
  expect(heard).toEqual([run.id, run.id, run.id, `released ${run.id}`]);
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({
    observer: 0,
    method: 'runEnded',
    error: { message: 'metrics broke' },
  });
  now += 1;
  telemetry.runEnded(run);
  expect(lines).toHaveLength(2);
  expect(JSON.parse(lines[1]!)).toMatchObject({ method: 'runEnded', failuresSinceLastLog: 2 });
});

it('a combination called unguarded still calls every observer, then throws the first error', () => {
  const heard: string[] = [];
  const combined = combineTelemetry(
    {
      runReleased: () => {
        throw new Error('first');
      },
    },
    { runReleased: (_run, reason) => heard.push(reason) },
  );
  expect(() => combined.runReleased?.({} as never, 'waiting')).toThrow('first');
  expect(heard).toEqual(['waiting']);
});
