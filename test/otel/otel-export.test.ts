/**
 * OpenTelemetry export end to end, in process: a real agent run (the fake OpenAI server asks for
 * two tool calls at once) exported through the official OTLP exporters to a real OTLP/HTTP
 * receiver that decodes both encodings with the official protobuf definitions; an unreachable
 * endpoint; a gateway call continuing the caller's `traceparent`.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApiKeys } from '../../src/gateway/api-keys.js';
import { createGatewayService } from '../../src/gateway/http/gateway-service.js';
import { openStore } from '../../src/journal/open-store.js';
import type { SqlClient } from '../../src/journal/sql-client.js';
import type { JournalStore } from '../../src/journal/store.js';
import { createOpenAICompatibleModel } from '../../src/model/providers/openai/adapter.js';
import { defineAgent } from '../../src/runtime/agent.js';
import { runAgent } from '../../src/runtime/run-agent.js';
import { createOtelExport } from '../../src/telemetry/otel-export.js';
import { otelDroppedSpans } from '../../src/telemetry/span-export-queue.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { defineTool } from '../../src/tools/tool.js';
import { silentLogger } from '../../src/util/logger.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

let store: JournalStore;
let client: SqlClient;
let openai: FakeOpenAIServer;
let receiver: OtlpReceiver;

beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
  openai = await createFakeOpenAIServer();
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver.close();
  await openai.close();
  await store.close();
});

const add = defineTool({
  name: 'add',
  description: 'Adds two numbers.',
  input: z.object({ a: z.number(), b: z.number() }),
  run: ({ a, b }) => ({ sum: a + b }),
});

function adder(): ReturnType<typeof defineAgent> {
  return defineAgent({
    name: 'adder',
    instructions: 'Add numbers with the tool.',
    model: createOpenAICompatibleModel({ model: 'gpt-4o-mini', apiKey: 'sk-test', baseURL: openai.url }),
    tools: [add],
  });
}

function scriptTwoParallelCalls(): void {
  openai.enqueue({
    toolCalls: [
      { id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 3}' },
      { id: 'call_b', name: 'add', arguments: '{"a": 10, "b": 20}' },
    ],
    usage: { promptTokens: 1000, completionTokens: 50 },
  });
  openai.enqueue({ content: 'The sums are 5 and 30.', usage: { promptTokens: 1200, completionTokens: 20 } });
}

/** Computed here, independently of the code under test: sha256(run id), first 16 bytes. */
function expectedTraceId(runId: string): string {
  return createHash('sha256').update(runId).digest('hex').slice(0, 32);
}

function spansOfTrace(traceId: string): ReceivedSpan[] {
  return receiver.spans().filter((span) => span.traceId === traceId);
}

describe.each(['http/protobuf', 'http/json'] as const)('a run exported over %s', (protocol) => {
  it('yields invoke_agent with chat and execute_tool children, GenAI and keel attributes, journal times', async () => {
    scriptTwoParallelCalls();
    const otel = createOtelExport({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=s3cret%20value',
        OTEL_SERVICE_NAME: 'keel-under-test',
        // Only flush() exports: the test controls when the batch leaves.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      },
      client,
      logger: silentLogger,
    })!;
    const requestsBefore = receiver.requests.length;
    const run = await runAgent({
      store,
      agents: [adder()],
      agent: 'adder',
      input: 'What are 2+3 and 10+20?',
      sessionId: 'session-1',
      logger: silentLogger,
      telemetry: otel.telemetry,
    });
    expect(run.stopReason).toBe('completed');
    await otel.shutdown();

    expect(receiver.failures).toEqual([]);
    const requests = receiver.requests.slice(requestsBefore);
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) {
      expect(request.contentType).toContain(
        protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
      );
      expect(request.headers['x-collector-token']).toBe('s3cret value');
    }
    const traceId = expectedTraceId(run.id);
    const spans = spansOfTrace(traceId);
    expect(spans.map((span) => span.name).sort()).toEqual([
      'chat gpt-4o-mini',
      'chat gpt-4o-mini',
      'execute_tool add',
      'execute_tool add',
      'invoke_agent adder',
    ]);
    expect(new Set(spans.map((span) => span.spanId)).size).toBe(spans.length);

    const root = spans.find((span) => span.name === 'invoke_agent adder')!;
    expect(root.parentSpanId).toBeUndefined();
    expect(root.resource['service.name']).toBe('keel-under-test');
    expect(root.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'adder',
      'gen_ai.conversation.id': 'session-1',
      'gen_ai.usage.input_tokens': 2200,
      'gen_ai.usage.output_tokens': 70,
      'keel.run.id': run.id,
      'keel.tenant.id': 'default',
      'keel.run.stop_reason': 'completed',
    });
    expect(root.attributes['keel.cost_usd']).toBeCloseTo(run.costUsd, 12);
    expect(root.status.code).toBe(1);
    expect(root.startMs).toBe(run.startedAt!.getTime());
    expect(root.endMs).toBe(run.endedAt!.getTime());

    for (const span of spans) if (span !== root) expect(span.parentSpanId).toBe(root.spanId);
    const steps = await store.loadSteps(run.id);
    const bySeq = new Map(
      spans.filter((span) => span !== root).map((span) => [span.attributes['keel.step.seq'], span]),
    );
    expect([...bySeq.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const step of steps) {
      const span = bySeq.get(step.seq)!;
      expect(span.startMs).toBe(step.startedAt.getTime());
      expect(span.endMs).toBe(step.endedAt!.getTime());
      expect(span.attributes['keel.step.attempt']).toBe(1);
    }

    const firstChat = bySeq.get(0)!;
    expect(firstChat.kind).toBe(3); // client
    expect(firstChat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 50,
      'gen_ai.response.finish_reasons': ['tool_calls'],
      'keel.run.id': run.id,
      'keel.tenant.id': 'default',
      'gen_ai.conversation.id': 'session-1',
    });
    expect(firstChat.attributes['keel.cost_usd']).toBeCloseTo((1000 * 0.15 + 50 * 0.6) / 1e6, 12);
    expect(firstChat.attributes['gen_ai.output.messages']).toBeUndefined(); // content off by default

    const tools = [bySeq.get(1)!, bySeq.get(2)!];
    expect(tools.map((span) => span.attributes['gen_ai.tool.call.id']).sort()).toEqual(['call_a', 'call_b']);
    for (const tool of tools) {
      expect(tool.attributes).toMatchObject({
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'add',
        'keel.step.parent_seq': 0,
        'keel.run.id': run.id,
      });
      expect(tool.attributes['error.type']).toBeUndefined();
      expect(tool.attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    }
    expect(bySeq.get(3)!.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    expect(otel.droppedSpans()).toBe(0);
  });
});

it('puts message content on spans only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true', async () => {
  scriptTwoParallelCalls();
  const otel = createOtelExport({
    env: {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    },
    client,
  })!;
  const run = await runAgent({
    store,
    agents: [adder()],
    agent: 'adder',
    input: 'What are 2+3 and 10+20?',
    logger: silentLogger,
    telemetry: otel.telemetry,
  });
  await otel.shutdown();
  const spans = spansOfTrace(expectedTraceId(run.id));
  const chat = spans.find((span) => span.attributes['keel.step.seq'] === 0)!;
  const output = JSON.parse(String(chat.attributes['gen_ai.output.messages'])) as unknown[];
  expect(output).toEqual([
    {
      role: 'assistant',
      parts: [
        { type: 'tool_call', id: 'call_a', name: 'add', arguments: '{"a": 2, "b": 3}' },
        { type: 'tool_call', id: 'call_b', name: 'add', arguments: '{"a": 10, "b": 20}' },
      ],
      finish_reason: 'tool_calls',
    },
  ]);
  const toolA = spans.find((span) => span.attributes['gen_ai.tool.call.id'] === 'call_a')!;
  expect(toolA.attributes['gen_ai.tool.call.arguments']).toBe('{"a": 2, "b": 3}');
  expect(JSON.parse(String(toolA.attributes['gen_ai.tool.call.result']))).toEqual({ sum: 5 });
  const root = spans.find((span) => span.name === 'invoke_agent adder')!;
  expect(root.attributes['gen_ai.output.messages']).toContain('The sums are 5 and 30.');
});

it('an unreachable endpoint: runs complete, spans are dropped and counted', async () => {
  // A port that was just listening and is now closed: connections are refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const otel = createOtelExport({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      // A small queue: spans are dropped when it is full or when their export fails.
      OTEL_BSP_MAX_QUEUE_SIZE: '7',
    },
    client,
  })!;
  const droppedBefore = otelDroppedSpans();
  for (let index = 0; index < 2; index++) {
    scriptTwoParallelCalls();
    const run = await runAgent({
      store,
      agents: [adder()],
      agent: 'adder',
      input: `run ${index}`,
      logger: silentLogger,
      telemetry: otel.telemetry,
    });
    expect(run.stopReason).toBe('completed');
  }
  await otel.shutdown();
  // Five spans per run (invoke_agent, two chats, two tool calls), all dropped and counted.
  expect(otel.droppedSpans()).toBe(10);
  expect(otel.exportedSpans()).toBe(0);
  expect(otelDroppedSpans() - droppedBefore).toBe(10);
});

describe('the gateway', () => {
  let upstream: FakeOpenAIServer;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    upstream = await createFakeOpenAIServer({
      handler: () => ({ content: 'Hello', usage: { promptTokens: 12, completionTokens: 3 } }),
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await upstream.close();
  });

  it('gives each sampled HTTP chat call a chat span continuing the caller’s traceparent', async () => {
    const otel = createOtelExport({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '600000' },
    })!;
    const service = createGatewayService({
      config: {
        deployments: [
          { name: 'fake', provider: 'openai-compatible', model: 'gpt-4o-mini', baseURL: upstream.url },
        ],
        routes: [{ name: 'smart', deployments: ['fake'] }],
      },
      client,
      env: {},
      tracer: otel.gatewayTracer,
    });
    const { key } = await createApiKeys({ client }).create({ tenantId: 'acme', scopes: ['gateway'] });
    server = createServer((request, response) => {
      if (!service.handler(request, response)) response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const call = (headers: Record<string, string>) =>
      fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
        body: JSON.stringify({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect((await call({ traceparent: `00-${callerTrace}-${callerSpan}-01` })).status).toBe(200);
    expect((await call({})).status).toBe(200);
    // A caller that did not sample its trace: no span (its sampled flag is honoured).
    expect((await call({ traceparent: `00-${'1'.repeat(32)}-${callerSpan}-00` })).status).toBe(200);
    await otel.shutdown();
    await service.close();

    const gatewaySpans = receiver
      .spans()
      .filter((span) => span.attributes['keel.gateway.endpoint'] === 'chat');
    expect(gatewaySpans).toHaveLength(2);
    const continued = gatewaySpans.find((span) => span.traceId === callerTrace)!;
    expect(continued).toBeDefined();
    expect(continued.parentSpanId).toBe(callerSpan);
    expect(continued.name).toBe('chat smart');
    expect(continued.kind).toBe(2); // server
    expect(continued.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'smart',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.provider.name': 'openai-compatible',
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 3,
      'keel.tenant.id': 'acme',
      'keel.gateway.deployment': 'fake',
    });
    const fresh = gatewaySpans.find((span) => span !== continued)!;
    expect(fresh.traceId).not.toBe(callerTrace);
    expect(fresh.parentSpanId).toBeUndefined();
  });
});
