// A DBOS Transact worker process for the recovery benchmark (context for Keel's figures).
// env: DATABASE_URL, DBOS_BENCH_EXECUTOR (executor id), KEEL_BENCH_TOOL_SLEEP_MS,
// DBOS_BENCH_START=1 to start the workflow `recovery-1`. Prints "ready" once launched and
// runs until SIGTERM.
import { setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { DBOS } from '@dbos-inc/dbos-sdk';

const sleepMs = Number(process.env.KEEL_BENCH_TOOL_SLEEP_MS ?? 0);

DBOS.setConfig({
  name: 'keel-bench-recovery',
  systemDatabaseUrl: process.env.DATABASE_URL,
  applicationVersion: 'keel-bench-1',
  executorID: process.env.DBOS_BENCH_EXECUTOR,
  logLevel: 'error',
});

const model = DBOS.registerStep(
  async (hasResult) =>
    hasResult
      ? { content: 'done' }
      : { content: '', toolCalls: [{ id: 'call_1', name: 'slow', arguments: '{}' }] },
  { name: 'model' },
);
const slow = DBOS.registerStep(
  async () => {
    await sleep(sleepMs);
    return { ok: true };
  },
  { name: 'slow' },
);
const workflow = DBOS.registerWorkflow(
  async () => {
    await model(false);
    await slow();
    return (await model(true)).content;
  },
  { name: 'recovery' },
);

await DBOS.launch();
if (process.env.DBOS_BENCH_START === '1') await DBOS.startWorkflow(workflow, { workflowID: 'recovery-1' })();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  DBOS.shutdown().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
setInterval(() => {}, 1 << 30);
