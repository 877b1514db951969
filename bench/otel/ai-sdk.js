#!/usr/bin/env node
// The peer of bench/otel/measure.js: what OpenTelemetry costs the Vercel AI SDK (`ai`, pinned in
// bench/package.json) per model call and tool step, offline.
//
// The agent has the durable-step benchmark's shape: `generateText` with one no-op tool and a
// mock model (`MockLanguageModelV3` from `ai/test`) that answers at once, asking for the tool
// until N tool results are in the prompt, then answering 'done': N tool calls = 2N + 1 steps
// (N + 1 model calls, N tool executions), N = 0, 10, 50. Nothing is stored (the AI SDK has no
// journal), so a step here costs microseconds where Keel's costs a Postgres commit.
//
// Modes, each in a process of its own (see `measureAiSdk`):
// - off: no telemetry, and no OpenTelemetry SDK or context manager in the process.
// - on: `experimental_telemetry: { isEnabled: true }` (its default records inputs and outputs:
//   the prompt and the response as span attributes) with the official SDK as a Node app sets it
//   up: BasicTracerProvider + BatchSpanProcessor (default settings: 5 s, 512 spans, queue 2048)
//   + the OTLP/HTTP protobuf exporter to the local receiver, and the AsyncLocalStorage context
//   manager (without one the AI SDK's spans do not nest into one trace). Spans per run: 2N + 2
//   (`ai.generateText`, one `ai.generateText.doGenerate` per model call, one `ai.toolCall` per
//   tool execution), like Keel's (`invoke_agent`, one `chat` per model step, one `execute_tool`
//   per tool step).
// - on-no-content: the same with `recordInputs: false, recordOutputs: false`, like Keel's
//   default (no message content on spans).
//
// Why processes and not alternation in one process: on Node 20, an AsyncLocalStorage in use
// turns on a promise hook for the whole process, so once telemetry ran, "off" runs in the same
// process would pay part of its cost too. The processes alternate per round instead.
//
//   node bench/otel/ai-sdk.js            # alone: starts its own receiver, prints a table
//   (bench/otel/measure.js runs it too, in the same run as Keel's figures)
//
// Settings: KEEL_BENCH_ROUNDS (processes per mode, default 3), KEEL_BENCH_PEER_REPS (repetitions
// of N = 0, 10, 50 per process, default 30), KEEL_BENCH_PEER_WARMUP (untimed runs first, 60).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const NS = [0, 10, 50];
export const MODES = ['off', 'on', 'on-no-content'];

/** The `ai` version installed (the one bench/package.json pins). */
export async function aiSdkVersion() {
  const { createRequire } = await import('node:module');
  return createRequire(import.meta.url)('ai/package.json').version;
}

export function slope(xs, ys) {
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

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

// ---------------------------------------------------------------------------------------------
// One process, one mode

async function runMode({ mode, receiverUrl, reps, warmup }) {
  const { generateText, stepCountIs, tool } = await import('ai');
  const { MockLanguageModelV3 } = await import('ai/test');
  const { z } = await import('zod');

  let telemetry = { isEnabled: false };
  let provider;
  let exported = 0;
  let failedExports = 0;
  let ended = 0;
  if (mode !== 'off') {
    const { context } = await import('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
    const { resourceFromAttributes } = await import('@opentelemetry/resources');
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const exporter = new OTLPTraceExporter({ url: `${receiverUrl}/v1/traces` });
    // Counts what the endpoint accepted (the exporter's own result), nothing more.
    const counting = {
      export(spans, done) {
        exporter.export(spans, (result) => {
          if (result.code === 0) exported += spans.length;
          else failedExports += spans.length;
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    };
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'ai-sdk-bench' }),
      // The second processor counts the spans that ended (to tell the drops: ended, never exported).
      spanProcessors: [
        new BatchSpanProcessor(counting),
        { onStart() {}, onEnd: () => ended++, forceFlush: async () => {}, shutdown: async () => {} },
      ],
    });
    telemetry = {
      isEnabled: true,
      tracer: provider.getTracer('ai'),
      ...(mode === 'on-no-content' ? { recordInputs: false, recordOutputs: false } : {}),
    };
  }

  const noop = tool({ description: 'no-op', inputSchema: z.object({}), execute: async () => ({ ok: true }) });
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: 1, text: 1, reasoning: undefined },
  };
  const run = async (n) => {
    // A fresh mock per run: the mock keeps every call it received.
    const model = new MockLanguageModelV3({
      provider: 'builtin',
      modelId: 'instant',
      doGenerate: async ({ prompt }) => {
        // A real model answers over the network: one turn of the event loop, so the batch
        // export's own I/O moves between model calls as it would in an app (in both modes).
        await nextTurn();
        let toolResults = 0;
        for (const message of prompt) if (message.role === 'tool') toolResults += message.content.length;
        const done = toolResults >= n;
        return {
          content: done
            ? [{ type: 'text', text: 'done' }]
            : [{ type: 'tool-call', toolCallId: `call_${toolResults}`, toolName: 'noop', input: '{}' }],
          finishReason: { unified: done ? 'stop' : 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        };
      },
    });
    const result = await generateText({
      model,
      system: 'bench',
      prompt: 'go',
      tools: { noop },
      stopWhen: stepCountIs(n + 1),
      experimental_telemetry: telemetry,
    });
    if (result.text !== 'done' || result.steps.length !== n + 1)
      throw new Error(`AI SDK run ended after ${result.steps.length} model calls: ${result.text}`);
  };

  for (let i = 0; i < warmup; i++) await run(NS[i % NS.length]);
  const slopes = [];
  let wall = 0;
  let cpu = 0;
  let steps = 0;
  let runs = 0;
  for (let rep = 0; rep < reps; rep++) {
    const xs = [];
    const ys = [];
    for (const n of NS) {
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      await run(n);
      const cpuUsed = process.cpuUsage(cpuBefore);
      const elapsed = performance.now() - started;
      xs.push(2 * n + 1);
      ys.push(elapsed);
      wall += elapsed;
      cpu += (cpuUsed.user + cpuUsed.system) / 1000;
      steps += 2 * n + 1;
      runs++;
    }
    slopes.push(slope(xs, ys));
  }
  // The spans still queued are exported now, their CPU counted (the batch export runs inside
  // the timed runs too: every 512 spans).
  // Spans the warm-up and timed runs made: 2N + 2 per run.
  const spansExpected = provider
    ? (warmup / NS.length + reps) * NS.reduce((sum, n) => sum + 2 * n + 2, 0)
    : 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  if (provider) await provider.forceFlush();
  const flushCpu = process.cpuUsage(cpuBefore);
  const flushWall = performance.now() - started;
  if (provider) await provider.shutdown();
  // The shape check: 2N + 2 spans per run, as the comparison with Keel assumes.
  if (provider && ended !== spansExpected)
    throw new Error(`AI SDK made ${ended} spans, ${spansExpected} expected (2N + 2 per run)`);
  return {
    mode,
    slope: median(slopes),
    wallPerStep: wall / steps,
    cpuPerStep: (cpu + (flushCpu.user + flushCpu.system) / 1000) / steps,
    flushWall,
    steps,
    runs,
    spansExpected,
    exported,
    failedExports,
    ended,
    // Queue full (the batch processor drops silently until the next span it takes): ended, and
    // neither exported nor failed after the final flush.
    dropped: ended - exported - failedExports,
  };
}

// ---------------------------------------------------------------------------------------------
// The parent: processes per mode, alternating per round

function child(mode, receiverUrl, reps, warmup) {
  const process_ = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', mode, receiverUrl, String(reps), String(warmup)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  process_.stdout.on('data', (data) => (output += data));
  return new Promise((resolve, reject) => {
    process_.once('error', reject);
    process_.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`AI SDK ${mode} process exited ${code}`)),
    );
  });
}

/**
 * Runs the AI SDK agent in each mode, ROUNDS processes per mode, the modes rotating per round;
 * returns per mode the medians over rounds, and per "on" mode the added time per step.
 */
export async function measureAiSdk({
  receiverUrl,
  rounds = Number(process.env.KEEL_BENCH_ROUNDS ?? 3),
  reps = Number(process.env.KEEL_BENCH_PEER_REPS ?? 30),
  warmup = Number(process.env.KEEL_BENCH_PEER_WARMUP ?? 60),
} = {}) {
  const results = Object.fromEntries(MODES.map((mode) => [mode, []]));
  for (let round = 0; round < rounds; round++) {
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
    for (const mode of order) results[mode].push(await child(mode, receiverUrl, reps, warmup));
  }
  const summary = {};
  for (const mode of MODES) {
    const list = results[mode];
    summary[mode] = {
      slope: median(list.map((r) => r.slope)),
      wallPerStep: median(list.map((r) => r.wallPerStep)),
      cpuPerStep: median(list.map((r) => r.cpuPerStep)),
      exported: list.reduce((sum, r) => sum + r.exported, 0),
      expected: list.reduce((sum, r) => sum + r.spansExpected, 0),
      failed: list.reduce((sum, r) => sum + r.failedExports, 0),
      dropped: list.reduce((sum, r) => sum + r.dropped, 0),
      ended: list.reduce((sum, r) => sum + r.ended, 0),
    };
  }
  return { version: await aiSdkVersion(), rounds, reps, summary };
}

if (process.argv[2] === '--child') {
  const [, , , mode, receiverUrl, reps, warmup] = process.argv;
  const result = await runMode({ mode, receiverUrl, reps: Number(reps), warmup: Number(warmup) });
  process.stdout.write(JSON.stringify(result));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { startReceiver } = await import('./receiver.js');
  const receiver = await startReceiver();
  try {
    const { version, summary } = await measureAiSdk({ receiverUrl: receiver.url });
    console.log(`\nVercel AI SDK ${version}, µs per step (2N + 1 steps, N = 0, 10, 50)\n`);
    console.log('| mode | slope | wall (all runs) | CPU (all runs) | spans exported / ended |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const mode of MODES) {
      const s = summary[mode];
      console.log(
        `| ${mode} | ${(s.slope * 1000).toFixed(1)} | ${(s.wallPerStep * 1000).toFixed(1)} | ${(s.cpuPerStep * 1000).toFixed(1)} | ${s.exported} / ${s.ended} |`,
      );
    }
  } finally {
    receiver.stop();
  }
}
