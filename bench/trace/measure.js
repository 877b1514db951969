#!/usr/bin/env node
// How long `GET /v1/runs/{id}/trace` and `GET /v1/runs/{id}/steps/{seq}` take on runs of 10 to
// 1,000 steps (one model step per turn with two parallel tool calls under it, payloads of ~1 KB),
// through `createServer` over an in-memory PGlite and, when it answers, the local Postgres (a
// schema of its own, dropped at the end). Requests one at a time over keep-alive.
//
//   npm run build && node bench/trace/measure.js
//
// Settings: KEEL_BENCH_TRACE_REQUESTS (per case, default 100), KEEL_BENCH_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres). Prints a markdown table: p50 and p99 per case.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createApiKeys } from '../../dist/gateway/index.js';
import { openStore, silentLogger } from '../../dist/index.js';
import { createServer } from '../../dist/server/create-server.js';
import { createRunFeedback } from '../../dist/feedback/feedback.js';
import { createRunOutcomes } from '../../dist/feedback/outcomes.js';

const REQUESTS = Number(process.env.KEEL_BENCH_TRACE_REQUESTS ?? 100);
const POSTGRES = process.env.KEEL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SIZES = [10, 100, 500, 1_000];

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Journals a completed run of about `steps` steps: turns of one model step and two tool steps. */
async function seedRun(store, steps) {
  const { run } = await store.createRun({ tenantId: 'bench', agent: 'bench', input: 'x', userId: 'u' });
  const [claimed] = await store.claimRuns({ owner: 'bench', limit: 1, leaseMs: 600_000, ids: [run.id] });
  const lease = { runId: run.id, owner: 'bench', fence: claimed.fence };
  const text = 'x'.repeat(1_000);
  for (let seq = 0; seq < steps; seq += 3) {
    const at = new Date();
    await store.completeStep(lease, {
      seq,
      parentSeq: null,
      kind: 'model',
      name: 'openai:gpt-4o-mini',
      inputHash: `h${seq}`,
      attempt: 1,
      startedAt: at,
      endedAt: at,
      status: 'completed',
      usage: { inputTokens: 1_000, outputTokens: 50 },
      costUsd: 0.0002,
      output: {
        message: {
          role: 'assistant',
          content: text,
          toolCalls: [
            { id: `call_${seq}_a`, name: 'weather', arguments: '{"city":"Lisbon"}' },
            { id: `call_${seq}_b`, name: 'places', arguments: '{"city":"Lisbon"}' },
          ],
        },
        finishReason: 'tool_calls',
        usage: { inputTokens: 1_000, outputTokens: 50 },
        modelId: 'gpt-4o-mini',
      },
      meta: {
        provider: 'openai',
        model: 'gpt-4o-mini',
        tools: ['weather', 'places'],
        finishReason: 'tool_calls',
        envelope: {
          promptVersion: 'code:0123456789ab',
          deployment: 'primary',
          cached: false,
          toolCalls: [
            { id: `call_${seq}_a`, name: 'weather' },
            { id: `call_${seq}_b`, name: 'places' },
          ],
          guards: [],
          retrievedContextIds: [],
        },
      },
    });
    for (const offset of [1, 2]) {
      if (seq + offset >= steps) break;
      await store.completeStep(lease, {
        seq: seq + offset,
        parentSeq: seq,
        kind: 'tool',
        name: offset === 1 ? 'weather' : 'places',
        inputHash: `h${seq + offset}`,
        attempt: 1,
        startedAt: at,
        endedAt: at,
        status: 'completed',
        output: { text },
        meta: { toolCallId: `call_${seq}_${offset}`, effect: 'none' },
      });
    }
  }
  const usage = { inputTokens: 0, outputTokens: 0 };
  await store.finishRun(lease, {
    stopReason: 'completed',
    output: 'done',
    usage,
    costUsd: 0,
    stepCount: steps,
  });
  return run.id;
}

function get(agent, port, path, key) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const request = http.request(
      { agent, host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${key}` } },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(performance.now() - startedAt)
            : reject(new Error(`${path}: ${response.statusCode}`)),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function measure(label, open) {
  const { store, client, schema, close } = await open();
  const apiKeys = createApiKeys({ client, schema });
  const key = (await apiKeys.create({ tenantId: 'bench', scopes: ['admin'] })).key;
  const server = createServer({
    store,
    client,
    agents: new Map(),
    logger: silentLogger,
    apiKeys,
    outcomes: createRunOutcomes({ client, schema }),
    feedback: createRunFeedback({ client, schema }),
  });
  const port = await new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(server.address().port)),
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const rows = [];
  try {
    for (const size of SIZES) {
      const runId = await seedRun(store, size);
      const middle = Math.floor(size / 6) * 3;
      for (const [name, path] of [
        ['trace', `/v1/runs/${runId}/trace`],
        ['step + envelope + payload', `/v1/runs/${runId}/steps/${middle}`],
      ]) {
        for (let warm = 0; warm < 5; warm++) await get(agent, port, path, key);
        const times = [];
        for (let index = 0; index < REQUESTS; index++) times.push(await get(agent, port, path, key));
        times.sort((a, b) => a - b);
        rows.push([
          label,
          String(size),
          name,
          percentile(times, 50).toFixed(2),
          percentile(times, 99).toFixed(2),
        ]);
      }
    }
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await close();
  }
  return rows;
}

const rows = [
  ...(await measure('PGlite', async () => {
    const { store, client } = await openStore({ dataDir: 'memory://' });
    return { store, client, schema: 'keel', close: () => store.close() };
  })),
];
const schema = `keel_bench_trace_${process.pid}`;
try {
  rows.push(
    ...(await measure('Postgres', async () => {
      const { store, client } = await openStore({ databaseUrl: POSTGRES, schema });
      return {
        store,
        client,
        schema,
        close: async () => {
          await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await store.close();
        },
      };
    })),
  );
} catch (error) {
  console.error(`Postgres skipped: ${error.message}`);
}

console.log(`\n${REQUESTS} requests per case, one at a time\n`);
console.log('| store | steps | request | p50 ms | p99 ms |');
console.log('| --- | ---: | --- | ---: | ---: |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
