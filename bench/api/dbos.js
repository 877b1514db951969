// DBOS side of the API benchmark, in a process of its own:
//
//   node api/dbos.js '{"concurrency":[1,32],"seconds":4,"warmupSeconds":1,"prewarmSeconds":1,"pollMs":10}'
//
// A DBOS queue (`DBOS.registerQueue`, dispatch poll every `pollMs`, no concurrency limit) and a
// workflow of the same three steps as Keel's agent: a `model` step (instant: a tool call, then
// 'done'), a `tool` step (no-op), a `model` step, each a registered DBOS step checkpointed in
// the system database. The same closed loop as Keel's (loop.js) enqueues from this process
// (`DBOS.startWorkflow(..., { queueName })`) and learns of completion by reading the workflow's
// row at once, then every `pollMs` (10 ms by default, as fast as its queue dispatch; DBOS's own
// `getResult` polls every 1 s). Keel's `?wait=30` is woken by a notification instead. Times per workflow from the system database afterwards:
// workflow_status.created_at → first operation_outputs.started_at_epoch_ms, → updated_at.
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { childMain } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { closedLoop, timesSummary } from './loop.js';

export const name = 'DBOS Transact (queue)';
const DATABASE = benchDatabase('keel_bench_api_dbos');

const TIMES_SQL = `
  SELECT ws.workflow_uuid AS id, ws.status, ws.created_at AS created, ws.updated_at AS ended,
         (SELECT min(o.started_at_epoch_ms) FROM dbos.operation_outputs o WHERE o.workflow_uuid = ws.workflow_uuid) AS first_step,
         (SELECT count(*) FROM dbos.operation_outputs o WHERE o.workflow_uuid = ws.workflow_uuid)::int AS steps
    FROM dbos.workflow_status ws WHERE ws.workflow_uuid = ANY($1::text[])`;

async function main({ concurrency, seconds, warmupSeconds, prewarmSeconds, pollMs }) {
  const databaseUrl = await freshDatabase(DATABASE);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  let launched = false;
  try {
    DBOS.setConfig({
      name: 'keel-bench-api',
      systemDatabaseUrl: databaseUrl,
      applicationVersion: 'keel-bench-1',
      logLevel: 'error',
    });
    const model = DBOS.registerStep(
      async (messages) =>
        messages.some((m) => m.role === 'tool')
          ? { role: 'assistant', content: 'done' }
          : { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'noop', arguments: '{}' }] },
      { name: 'model' },
    );
    const tool = DBOS.registerStep(async () => ({ ok: true }), { name: 'tool' });
    const agent = DBOS.registerWorkflow(
      async (input) => {
        const messages = [{ role: 'user', content: input }];
        for (;;) {
          const reply = await model(messages);
          messages.push(reply);
          if (!reply.toolCalls) return reply.content;
          for (const call of reply.toolCalls) {
            const result = await tool(call.arguments);
            messages.push({
              role: 'tool',
              toolCallId: call.id,
              name: call.name,
              content: JSON.stringify(result),
            });
          }
        }
      },
      { name: 'agent' },
    );
    await DBOS.launch();
    launched = true;
    const queue = await DBOS.registerQueue('bench', { minPollingIntervalMs: pollMs });

    let seq = 0;
    const runOne = async () => {
      const workflowID = `api-${process.pid}-${seq++}`;
      await DBOS.startWorkflow(agent, { workflowID, queueName: queue.name })(`go ${seq}`);
      for (;;) {
        const { rows } = await pool.query(
          'SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1',
          [workflowID],
        );
        const status = rows[0]?.status;
        if (status === 'SUCCESS') return workflowID;
        if (status && !['ENQUEUED', 'PENDING'].includes(status))
          throw new Error(`workflow ${workflowID} ended ${status}`);
        await sleep(pollMs);
      }
    };

    const cells = {};
    // Untimed: JIT and connection warm-up at the highest concurrency.
    if (prewarmSeconds > 0)
      await closedLoop({
        concurrency: Math.max(...concurrency),
        seconds: prewarmSeconds,
        warmupSeconds: 0,
        runOne,
      });
    for (const c of concurrency) {
      const { ids, ...cell } = await closedLoop({ concurrency: c, seconds, warmupSeconds, runOne });
      const { rows } = await pool.query(TIMES_SQL, [ids]);
      cell.db = timesSummary(
        rows.map((r) => ({
          id: r.id,
          status: r.status,
          steps: r.steps,
          firstStepMs: r.first_step === null ? null : Number(r.first_step) - Number(r.created),
          completedMs: Number(r.ended) - Number(r.created),
        })),
      );
      cells[c] = cell;
    }
    return { system: name, info: { queuePollMs: pollMs, completionPollMs: pollMs }, cells };
  } finally {
    if (launched) await DBOS.shutdown().catch(() => {});
    await pool.end().catch(() => {});
    await dropDatabase(DATABASE);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const spec = JSON.parse(process.argv[2]);
  const cellSeconds = spec.seconds + spec.warmupSeconds + 35;
  setTimeout(
    () => process.exit(3),
    (spec.concurrency.length * cellSeconds + spec.prewarmSeconds + 60) * 1000,
  ).unref();
  await childMain(() => main(spec));
}
