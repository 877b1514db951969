#!/usr/bin/env node
// What OpenTelemetry export costs (issue 9): export off vs on, to a local OTLP/HTTP receiver in a
// process of its own (it accepts and discards, like a collector that keeps up).
//
// 1. Durable steps: the durable-step benchmark's agent (instant model, no-op tool; N tool calls =
//    2N + 1 journal entries) run in-process with runAgent on Postgres, N = 0, 10, 50, export off
//    and on alternating per repetition; ms per durable step = least-squares slope of run time over
//    steps, median over repetitions (and the median of the paired on/off ratios); the target is
//    checked on wall time per step over all timed runs, the steadiest figure here. Also this
//    process's CPU time (user + system) per step over all timed runs, which a busy machine
//    disturbs less than wall time (it includes the export's own work: building, serializing and
//    sending spans). Export on uses the default batch settings (5 s, 512 spans).
// 2. Gateway: POST /v1/chat/completions at concurrency 1 over keep-alive through `keel gateway`'s
//    handler to the mock upstream of bench/gateway (child process), one server without a tracer
//    and one with, requests interleaved in rounds, each carrying a W3C traceparent. Added p50 =
//    on − off.
//
//   npm run build && node bench/otel/measure.js
//
// Settings: KEEL_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// KEEL_BENCH_REPS (per round, default 5), KEEL_BENCH_ROUNDS (default 3),
// KEEL_BENCH_OTEL_REQUESTS (gateway requests per round and case, default 1000). Prints markdown.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createApiKeys,
  createGatewayService,
  createOtelExport,
  defineAgent,
  defineTool,
  openStore,
  runAgent,
  silentLogger,
  z,
} from '../../dist/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const DATABASE_URL = process.env.KEEL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REPS = Number(process.env.KEEL_BENCH_REPS ?? 5);
const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.KEEL_BENCH_OTEL_REQUESTS ?? 1000);
const NS = [0, 10, 50];

const RECEIVER = `
const http = require('node:http');
let spans = 0, requests = 0;
const server = http.createServer((request, response) => {
  request.on('data', () => {});
  request.on('end', () => { requests++; response.writeHead(200, { 'content-type': 'application/x-protobuf' }); response.end(); });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

function startChild(args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data) => resolve({ child, port: JSON.parse(String(data)).port }));
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

// ---------------------------------------------------------------------------------------------
// 1. Durable steps

function stepsAgent(n) {
  const noop = defineTool({
    name: 'noop',
    description: 'no-op',
    input: z.object({}),
    run: () => ({ ok: true }),
  });
  const model = {
    provider: 'builtin',
    modelId: 'instant',
    async generate(request) {
      const toolResults = request.messages.filter((message) => message.role === 'tool').length;
      const done = toolResults >= n;
      return {
        message: done
          ? { role: 'assistant', content: 'done' }
          : {
              role: 'assistant',
              content: '',
              toolCalls: [{ id: `call_${toolResults}`, name: 'noop', arguments: '{}' }],
            },
        finishReason: done ? 'stop' : 'tool_calls',
        usage: { inputTokens: 1, outputTokens: 1 },
        modelId: 'instant',
      };
    },
    stream() {
      throw new Error('generate only');
    },
  };
  return defineAgent({
    name: `steps-${n}`,
    instructions: 'bench',
    model,
    tools: [noop],
    limits: { maxSteps: n + 1, loopThreshold: n + 2 },
  });
}

async function benchSteps(receiverUrl) {
  const schema = `keel_bench_otel_${process.pid}`;
  const { store, client } = await openStore({ databaseUrl: DATABASE_URL, schema });
  const agents = new Map(NS.map((n) => [n, stepsAgent(n)]));
  const otel = createOtelExport({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl }, client, schema });
  const modes = { off: undefined, on: otel.telemetry };
  const slopes = { off: [], on: [] };
  const cpuTotals = { off: 0, on: 0 };
  const wallTotals = { off: 0, on: 0 };
  const stepTotals = { off: 0, on: 0 };
  const run = async (n, telemetry) => {
    const agent = agents.get(n);
    const finished = await runAgent({
      store,
      agents: [agent],
      agent: agent.name,
      input: 'go',
      logger: silentLogger,
      ...(telemetry ? { telemetry } : {}),
    });
    if (finished.status !== 'completed') throw new Error(`run ended ${finished.status}`);
  };
  try {
    for (const mode of Object.keys(modes)) for (const n of [0, 10, 50, 0, 10, 50]) await run(n, modes[mode]);
    // Off and on alternate per repetition (order flipped each time), so a load that drifts
    // (another process on the machine) hits both alike; the overhead is the median of the
    // paired ratios.
    const ratios = [];
    for (let rep = 0; rep < REPS * ROUNDS; rep++) {
      const order = rep % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      const pair = {};
      for (const mode of order) {
        const xs = [];
        const ys = [];
        for (const n of NS) {
          const started = performance.now();
          const cpuBefore = process.cpuUsage();
          await run(n, modes[mode]);
          const cpuUsed = process.cpuUsage(cpuBefore);
          xs.push(2 * n + 1);
          ys.push(performance.now() - started);
          cpuTotals[mode] += (cpuUsed.user + cpuUsed.system) / 1000;
          wallTotals[mode] += ys[ys.length - 1];
          stepTotals[mode] += 2 * n + 1;
        }
        pair[mode] = slope(xs, ys);
        slopes[mode].push(pair[mode]);
      }
      ratios.push(pair.on / pair.off);
    }
    await otel.flush();
    return {
      off: median(slopes.off),
      on: median(slopes.on),
      overhead: median(ratios) - 1,
      wall: {
        off: wallTotals.off / stepTotals.off,
        on: wallTotals.on / stepTotals.on,
        overhead: wallTotals.on / stepTotals.on / (wallTotals.off / stepTotals.off) - 1,
      },
      cpu: {
        off: cpuTotals.off / stepTotals.off,
        on: cpuTotals.on / stepTotals.on,
        overhead: cpuTotals.on / stepTotals.on / (cpuTotals.off / stepTotals.off) - 1,
      },
      exported: otel.exportedSpans(),
      dropped: otel.droppedSpans(),
    };
  } finally {
    await otel.shutdown();
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Gateway added latency

function gatewayServer(handler) {
  return http.createServer((request, response) => {
    if (!handler(request, response)) response.writeHead(404).end();
  });
}

function call(agent, port, body, key) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        },
      },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 200
            ? resolve(performance.now() - startedAt)
            : reject(new Error(`status ${response.statusCode}`)),
        );
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

async function benchGateway(receiverUrl) {
  const upstream = await startChild([
    '--import',
    join(HERE, '..', 'gateway', 'orphan-guard.mjs'),
    join(HERE, '..', 'gateway', 'mock-upstream.js'),
  ]);
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const { key } = await createApiKeys({ client }).create({ tenantId: 'bench', scopes: ['gateway'] });
  const otel = createOtelExport({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl } });
  const config = {
    deployments: [
      {
        name: 'mock',
        provider: 'openai-compatible',
        model: 'gpt-4o-mini',
        baseURL: `http://127.0.0.1:${upstream.port}/v1`,
        apiKeyEnv: 'MOCK_API_KEY',
      },
    ],
    routes: [{ name: 'gpt-4o-mini', deployments: ['mock'] }],
  };
  const shared = { config, client, env: { ...process.env, MOCK_API_KEY: 'mock' }, logger: silentLogger };
  const services = {
    off: createGatewayService(shared),
    on: createGatewayService({ ...shared, tracer: otel.gatewayTracer }),
  };
  const ports = {};
  const servers = [];
  for (const [mode, service] of Object.entries(services)) {
    const server = gatewayServer(service.handler);
    servers.push(server);
    ports[mode] = await new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve(server.address().port)),
    );
  }
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hi.' }] });
  const samples = { off: [], on: [] };
  try {
    const agents = {
      off: new http.Agent({ keepAlive: true, maxSockets: 1 }),
      on: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    };
    for (const mode of ['off', 'on'])
      for (let i = 0; i < 200; i++) await call(agents[mode], ports[mode], body, key);
    for (let round = 0; round < ROUNDS + 2; round++) {
      for (let i = 0; i < REQUESTS; i++) {
        // Alternate per request, so both see the same machine state.
        const first = i % 2 === 0 ? 'off' : 'on';
        const second = first === 'off' ? 'on' : 'off';
        samples[first].push(await call(agents[first], ports[first], body, key));
        samples[second].push(await call(agents[second], ports[second], body, key));
      }
    }
    await otel.flush();
    for (const agent of Object.values(agents)) agent.destroy();
    return {
      off: { p50: percentile(samples.off, 50), p99: percentile(samples.off, 99) },
      on: { p50: percentile(samples.on, 50), p99: percentile(samples.on, 99) },
      exported: otel.exportedSpans(),
      dropped: otel.droppedSpans(),
    };
  } finally {
    await otel.shutdown();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    for (const service of Object.values(services)) await service.close();
    await store.close();
    upstream.child.kill('SIGTERM');
  }
}

const receiver = await startChild(['-e', RECEIVER]);
const receiverUrl = `http://127.0.0.1:${receiver.port}`;
try {
  const steps = await benchSteps(receiverUrl);
  const gateway = await benchGateway(receiverUrl);
  console.log('\n### OpenTelemetry export overhead\n');
  console.log(
    `Export to a local OTLP/HTTP receiver (http/protobuf, default batch settings); ${REPS} × ${ROUNDS} repetitions per mode.\n`,
  );
  console.log('| measure | export off | export on | overhead | target |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(
    `| durable step (Postgres), ms per step (slope, median) | ${steps.off.toFixed(3)} | ${steps.on.toFixed(3)} | ${(steps.overhead * 100).toFixed(1)} % (median of paired ratios) | |`,
  );
  console.log(
    `| durable step (Postgres), wall ms per step (all runs) | ${steps.wall.off.toFixed(3)} | ${steps.wall.on.toFixed(3)} | ${(steps.wall.overhead * 100).toFixed(1)} % | ≤ 5 % |`,
  );
  console.log(
    `| durable step, this process's CPU ms per step (all runs) | ${steps.cpu.off.toFixed(3)} | ${steps.cpu.on.toFixed(3)} | ${(steps.cpu.overhead * 100).toFixed(1)} % | |`,
  );
  console.log(
    `| gateway chat p50 at C=1, ms | ${gateway.off.p50.toFixed(3)} | ${gateway.on.p50.toFixed(3)} | ${(gateway.on.p50 - gateway.off.p50 >= 0 ? '+' : '') + (gateway.on.p50 - gateway.off.p50).toFixed(3)} ms | ≤ +0.05 ms |`,
  );
  console.log(
    `| gateway chat p99 at C=1, ms | ${gateway.off.p99.toFixed(3)} | ${gateway.on.p99.toFixed(3)} | ${(gateway.on.p99 - gateway.off.p99 >= 0 ? '+' : '') + (gateway.on.p99 - gateway.off.p99).toFixed(3)} ms | |`,
  );
  console.log(
    `\nSpans exported: ${steps.exported} (durable steps), ${gateway.exported} (gateway); dropped: ${steps.dropped + gateway.dropped}.`,
  );
} finally {
  receiver.child.kill('SIGTERM');
}
