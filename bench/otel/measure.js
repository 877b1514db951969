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
// 3. Peer (KEEL_BENCH_OTEL_PARTS has `peer`, the default): the Vercel AI SDK's generateText tool
//    loop of the same shape, telemetry off and on (ai-sdk.js, one process per mode), and Keel's
//    span pipeline alone (benchSpanPipeline); one table of µs per step for both, CPU and wall.
//
//   npm run build && node bench/otel/measure.js
//
// Settings: KEEL_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// KEEL_BENCH_REPS (per round, default 5), KEEL_BENCH_ROUNDS (default 3),
// KEEL_BENCH_OTEL_REQUESTS (gateway requests per round and case, default 1000),
// KEEL_BENCH_OTEL_PARTS (default steps,gateway,peer), KEEL_BENCH_PIPELINE_FLUSHES (default 100),
// KEEL_BENCH_PEER_REPS and KEEL_BENCH_PEER_WARMUP (see ai-sdk.js). Prints markdown.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODES as AI_SDK_MODES, measureAiSdk } from './ai-sdk.js';
import { startReceiver } from './receiver.js';
import {
  createOtelExport,
  defineAgent,
  defineTool,
  openStore,
  runAgent,
  silentLogger,
  z,
} from '../../dist/index.js';
import { createApiKeys, createGatewayService } from '../../dist/gateway/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const DATABASE_URL = process.env.KEEL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REPS = Number(process.env.KEEL_BENCH_REPS ?? 5);
const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.KEEL_BENCH_OTEL_REQUESTS ?? 1000);
const NS = [0, 10, 50];
// Which parts run: steps always; gateway and peer (the AI SDK and Keel's span pipeline) by default.
const PARTS = new Set((process.env.KEEL_BENCH_OTEL_PARTS ?? 'steps,gateway,peer').split(','));

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
    // One more run of N = 50 with an observer that records what the worker reports (the
    // committed rows), for the span pipeline's cost in isolation (benchSpanPipeline).
    const recorded = [];
    const recorder = Object.fromEntries(
      ['runClaimed', 'stepCommitted', 'runEnded', 'runReleased'].map((method) => [
        method,
        (...args) => recorded.push([method, args]),
      ]),
    );
    await run(50, recorder);
    return {
      recorded,
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
// 1b. Keel's span pipeline alone: the committed rows of one N = 50 run (101 steps, 102 spans)
// replayed into a fresh export's observer, no run and no database around it. The observer's
// calls are what a run's path pays (note the step, queue a span to build later); the flush is
// what the export pays off that path (build the spans from the rows, serialize them to OTLP
// protobuf, send them to the receiver). No export marks here (no database): an export of live
// runs' spans also advances their marks, one UPDATE per batch.

async function benchSpanPipeline(receiverUrl, recorded, { captureContent = false } = {}) {
  const otel = createOtelExport({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
      ...(captureContent ? { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' } : {}),
    },
  });
  const steps = recorded.filter(([method]) => method === 'stepCommitted').length;
  const replay = () => {
    for (const [method, args] of recorded) otel.telemetry[method](...args);
  };
  const RUNS_PER_FLUSH = 4; // 408 spans: under the batch size, so one request per flush
  const FLUSHES = Number(process.env.KEEL_BENCH_PIPELINE_FLUSHES ?? 100);
  try {
    for (let i = 0; i < 20; i++) {
      for (let r = 0; r < RUNS_PER_FLUSH; r++) replay();
      await otel.flush();
    }
    let pathMs = 0;
    let pathCpuMs = 0;
    let exportMs = 0;
    let exportCpuMs = 0;
    const exportedBefore = otel.exportedSpans();
    for (let i = 0; i < FLUSHES; i++) {
      let started = performance.now();
      let cpuBefore = process.cpuUsage();
      for (let r = 0; r < RUNS_PER_FLUSH; r++) replay();
      let cpu = process.cpuUsage(cpuBefore);
      pathMs += performance.now() - started;
      pathCpuMs += (cpu.user + cpu.system) / 1000;
      started = performance.now();
      cpuBefore = process.cpuUsage();
      await otel.flush();
      cpu = process.cpuUsage(cpuBefore);
      exportMs += performance.now() - started;
      exportCpuMs += (cpu.user + cpu.system) / 1000;
    }
    const totalSteps = FLUSHES * RUNS_PER_FLUSH * steps;
    const spans = otel.exportedSpans() - exportedBefore;
    return {
      stepsPerRun: steps,
      pathUsPerStep: (pathMs * 1000) / totalSteps,
      pathCpuUsPerStep: (pathCpuMs * 1000) / totalSteps,
      exportUsPerStep: (exportMs * 1000) / totalSteps,
      exportCpuUsPerStep: (exportCpuMs * 1000) / totalSteps,
      exportCpuUsPerSpan: (exportCpuMs * 1000) / spans,
      spans,
      dropped: otel.droppedSpans(),
    };
  } finally {
    await otel.shutdown();
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

const fmt = (value, digits = 1) => value.toFixed(digits);
const signed = (value, digits = 1) => (value >= 0 ? '+' : '') + value.toFixed(digits);
const percent = (on, off) => `${signed((on / off - 1) * 100)} %`;

const receiver = await startReceiver();
const receiverUrl = receiver.url;
try {
  const steps = await benchSteps(receiverUrl);
  const gateway = PARTS.has('gateway') ? await benchGateway(receiverUrl) : undefined;
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
  if (gateway) {
    console.log(
      `| gateway chat p50 at C=1, ms | ${gateway.off.p50.toFixed(3)} | ${gateway.on.p50.toFixed(3)} | ${(gateway.on.p50 - gateway.off.p50 >= 0 ? '+' : '') + (gateway.on.p50 - gateway.off.p50).toFixed(3)} ms | ≤ +0.05 ms |`,
    );
    console.log(
      `| gateway chat p99 at C=1, ms | ${gateway.off.p99.toFixed(3)} | ${gateway.on.p99.toFixed(3)} | ${(gateway.on.p99 - gateway.off.p99 >= 0 ? '+' : '') + (gateway.on.p99 - gateway.off.p99).toFixed(3)} ms | |`,
    );
  }
  console.log(
    `\nSpans exported: ${steps.exported} (durable steps)${gateway ? `, ${gateway.exported} (gateway)` : ''}; dropped: ${steps.dropped + (gateway?.dropped ?? 0)}.`,
  );

  if (PARTS.has('peer')) {
    const pipelines = [
      ['no content (default)', await benchSpanPipeline(receiverUrl, steps.recorded)],
      ['content capture on', await benchSpanPipeline(receiverUrl, steps.recorded, { captureContent: true })],
    ];
    const peer = await measureAiSdk({ receiverUrl });
    const ai = peer.summary;
    console.log('\n### OpenTelemetry overhead per step: Keel and the Vercel AI SDK\n');
    console.log(
      `Same agent shape (N tool calls = 2N + 1 steps, N = 0, 10, 50; instant model, no-op tool), same receiver, same run; µs per step over all timed runs (CPU: the agent's process, export included). ` +
        `Keel: in-process runAgent on Postgres, off/on alternating per repetition (${REPS} × ${ROUNDS}). ` +
        `AI SDK ${peer.version}: generateText + MockLanguageModelV3, one process per mode and round (${peer.rounds} rounds × ${peer.reps} repetitions; medians over rounds). ` +
        `Load average at the end: ${loadavg()
          .map((value) => value.toFixed(1))
          .join(', ')} (${availableParallelism()} cores).\n`,
    );
    console.log(
      '| system, step | telemetry | wall off | wall on | added wall | % wall | CPU off | CPU on | added CPU | % CPU | spans exported / dropped |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const us = (ms) => ms * 1000;
    console.log(
      `| Keel, durable step (Postgres commit) | export on (no content, default) | ${fmt(us(steps.wall.off))} | ${fmt(us(steps.wall.on))} | ${signed(us(steps.wall.on - steps.wall.off))} | ${percent(steps.wall.on, steps.wall.off)} | ${fmt(us(steps.cpu.off))} | ${fmt(us(steps.cpu.on))} | ${signed(us(steps.cpu.on - steps.cpu.off))} | ${percent(steps.cpu.on, steps.cpu.off)} | ${steps.exported} / ${steps.dropped} |`,
    );
    for (const mode of AI_SDK_MODES.filter((mode) => mode !== 'off')) {
      const off = ai.off;
      const on = ai[mode];
      const label =
        mode === 'on'
          ? '`isEnabled: true` (records inputs and outputs, default)'
          : '`isEnabled: true`, `recordInputs/Outputs: false`';
      console.log(
        `| AI SDK, generateText step (in memory) | ${label} | ${fmt(us(off.wallPerStep))} | ${fmt(us(on.wallPerStep))} | ${signed(us(on.wallPerStep - off.wallPerStep))} | ${percent(on.wallPerStep, off.wallPerStep)} | ${fmt(us(off.cpuPerStep))} | ${fmt(us(on.cpuPerStep))} | ${signed(us(on.cpuPerStep - off.cpuPerStep))} | ${percent(on.cpuPerStep, off.cpuPerStep)} | ${on.exported} / ${on.dropped} |`,
      );
    }
    for (const [label, pipeline] of pipelines) {
      const wall = pipeline.pathUsPerStep + pipeline.exportUsPerStep;
      const cpu = pipeline.pathCpuUsPerStep + pipeline.exportCpuUsPerStep;
      console.log(
        `| Keel, span pipeline alone (the committed rows of an N = 50 run replayed; no run, no database) | ${label} | | | ${signed(wall)} (run's path: ${fmt(pipeline.pathUsPerStep, 2)}) | ${signed((wall / us(steps.wall.off)) * 100, 2)} % | | | ${signed(cpu)} (run's path: ${fmt(pipeline.pathCpuUsPerStep, 2)}) | ${signed((cpu / us(steps.cpu.off)) * 100, 2)} % | ${pipeline.spans} / ${pipeline.dropped} |`,
      );
    }
    console.log(
      `\nAI SDK slope (µs per step, median): off ${fmt(us(ai.off.slope))}, on ${fmt(us(ai.on.slope))}, on without content ${fmt(us(ai['on-no-content'].slope))}. ` +
        `Keel slope (µs per step, median): off ${fmt(us(steps.off))}, on ${fmt(us(steps.on))}. ` +
        `Keel's span pipeline, CPU per span exported (build, serialize, send): ${pipelines.map(([label, pipeline]) => `${fmt(pipeline.exportCpuUsPerSpan, 2)} µs (${label})`).join(', ')}. ` +
        `Keel's pipeline percentages are of this run's Keel step with export off.`,
    );
  }
} finally {
  receiver.stop();
}
