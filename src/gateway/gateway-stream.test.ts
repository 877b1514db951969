import { afterEach, describe, expect, it } from 'vitest';
import type { ModelStreamEvent } from '../model/model.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIServer,
} from '../testing/fake-openai-server.js';
import type { GatewayConfigInput } from './gateway-config.js';
import type { CallRecord, CallRecorder, RateLimiter } from './gateway-store.js';
import type { GatewayStream } from './gateway-types.js';
import { createGateway, type CreateGatewayOptions, type KeelGateway } from './gateway.js';

const servers: FakeOpenAIServer[] = [];
const gateways: KeelGateway[] = [];
afterEach(async () => {
  // Servers first: closing them ends hanging replies, which lets the gateways' pools close.
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});

async function upstreams(
  count: number,
  handler: (index: number) => FakeOpenAIReply,
): Promise<FakeOpenAIServer[]> {
  const started = await Promise.all(
    Array.from({ length: count }, (_, index) => createFakeOpenAIServer({ handler: () => handler(index) })),
  );
  servers.push(...started);
  return started;
}

type DeploymentOverrides = Partial<GatewayConfigInput['deployments'][number]>;

function gatewayOver(
  upstreamServers: FakeOpenAIServer[],
  {
    deployments: deploymentOverrides = [],
    ...overrides
  }: Partial<Omit<GatewayConfigInput, 'deployments'>> & { deployments?: DeploymentOverrides[] } = {},
  options: Omit<CreateGatewayOptions, 'config'> = {},
): KeelGateway {
  const deployments = upstreamServers.map((server, index) => ({
    name: `d${index}`,
    provider: 'openai',
    model: 'gpt-4o-mini',
    baseURL: server.url,
    apiKeyEnv: 'KEY',
    ...deploymentOverrides[index],
  }));
  const gateway = createGateway({
    config: {
      routes: [{ name: 'main', deployments: deployments.map((deployment) => deployment.name) }],
      retry: { attemptsPerDeployment: 1, baseMs: 1, capMs: 2 },
      ...overrides,
      deployments,
    },
    env: { KEY: 'sk-test-stream-0123456789' },
    random: () => 0,
    ...options,
  });
  gateways.push(gateway);
  return gateway;
}

const ask = { model: 'main', messages: [{ role: 'user' as const, content: 'Tell me a story.' }] };

/** Reads a stream to its end; returns the events and what ended it. */
async function drain(stream: GatewayStream): Promise<{ events: ModelStreamEvent[]; error: unknown }> {
  const events: ModelStreamEvent[] = [];
  try {
    for await (const event of stream.events) events.push(event);
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

function text(events: ModelStreamEvent[]): string {
  return events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function fakeRecorder(): CallRecorder & { records: CallRecord[] } {
  const records: CallRecord[] = [];
  return { records, record: (call) => void records.push(call), flush: async () => {}, close: async () => {} };
}

describe('gateway streaming', () => {
  it('relays the events, then completes done with usage, cost and ttft', async () => {
    await upstreams(1, () => ({
      content: 'Once upon a time.',
      chunkSize: 5,
      usage: { promptTokens: 100, completionTokens: 20 },
    }));
    const recorder = fakeRecorder();
    const gateway = gatewayOver(servers, {}, { recorder });
    const stream = await gateway.stream(ask);
    expect(stream.meta).toEqual({
      route: 'main',
      deployment: 'd0',
      provider: 'openai',
      model: 'gpt-4o-mini',
      attempts: 1,
      cached: false,
    });
    const { events, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(text(events)).toBe('Once upon a time.');
    expect(events.at(-1)?.type).toBe('finish');
    const meta = await stream.done;
    expect(meta).toMatchObject({ outcome: 'ok', usage: { inputTokens: 100, outputTokens: 20 }, attempts: 1 });
    expect(meta.costUsd).toBeCloseTo((100 * 0.15 + 20 * 0.6) / 1_000_000, 12);
    expect(meta.ttftMs).toBeGreaterThan(0);
    expect(meta.overheadMs).toBeGreaterThanOrEqual(0);
    expect(meta.overheadMs).toBeLessThan(meta.latencyMs);
    expect(recorder.records).toEqual([expect.objectContaining({ outcome: 'ok', endpoint: 'chat' })]);
  });

  it('falls back before the first event: a 500 on one deployment, a reset on another', async () => {
    const [failing, resetting, healthy] = await upstreams(3, (index) =>
      index === 0
        ? { kind: 'error', status: 500 }
        : index === 1
          ? { kind: 'reset' }
          : { content: 'From d2.' },
    );
    const gateway = gatewayOver(servers);
    const stream = await gateway.stream(ask);
    expect(stream.meta).toMatchObject({ deployment: 'd2', attempts: 3 });
    expect(text((await drain(stream)).events)).toBe('From d2.');
    expect([failing, resetting, healthy].map((server) => server?.requests.length)).toEqual([1, 1, 1]);
  });

  it('falls back when the first event never comes (first-byte timeout)', async () => {
    const [hanging] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'hang', afterChunks: 1 } : { content: 'From d1.' },
    );
    const gateway = gatewayOver(servers, { deployments: [{ timeouts: { firstByteMs: 150 } }] });
    const started = performance.now();
    const stream = await gateway.stream(ask);
    expect(performance.now() - started).toBeLessThan(600);
    expect(stream.meta).toMatchObject({ deployment: 'd1', attempts: 2 });
    await drain(stream);
    await waitFor(() => hanging?.requests[0]?.outcome === 'client-closed');
  });

  it('throws from the iterator when the stream is truncated after the first event: no clean end, no fallback', async () => {
    const [truncating, spare] = await upstreams(2, (index) =>
      index === 0
        ? { kind: 'truncated', reply: { content: 'This answer is cut off before its end', chunkSize: 4 } }
        : { content: 'unused' },
    );
    const gateway = gatewayOver(servers);
    const stream = await gateway.stream(ask);
    const { events, error } = await drain(stream);
    expect(events.length).toBeGreaterThan(0);
    expect(events.some((event) => event.type === 'finish')).toBe(false);
    expect(error).toMatchObject({ code: 'model_output_invalid', details: { reason: 'stream_truncated' } });
    expect(await stream.done).toMatchObject({ outcome: 'error', error: { code: 'model_output_invalid' } });
    expect(truncating?.requests).toHaveLength(1);
    expect(spare?.requests).toHaveLength(0);
  });

  it('throws from the iterator when the connection resets mid-stream', async () => {
    await upstreams(1, () => ({
      kind: 'reset',
      afterChunks: 3,
      reply: { content: 'Hello from a stream that resets', delayMs: 30 },
    }));
    const gateway = gatewayOver(servers);
    const stream = await gateway.stream(ask);
    const { events, error } = await drain(stream);
    expect(text(events)).not.toBe('');
    expect(error).toMatchObject({ code: 'provider_unreachable', fault: 'provider' });
    expect((await stream.done).outcome).toBe('error');
  });

  it('times out an upstream that goes silent mid-stream (idle timeout)', async () => {
    await upstreams(1, () => ({
      kind: 'hang',
      afterChunks: 3,
      reply: { content: 'Hello there, and then silence' },
    }));
    const gateway = gatewayOver(servers, { deployments: [{ timeouts: { idleMs: 150 } }] });
    const stream = await gateway.stream(ask);
    const started = performance.now();
    const { error } = await drain(stream);
    expect(error).toMatchObject({
      code: 'upstream_idle_timeout',
      details: { deployment: 'd0', timeoutMs: 150 },
    });
    expect(performance.now() - started).toBeLessThan(600);
    await waitFor(() => servers[0]?.requests[0]?.outcome === 'client-closed');
  });

  it('times out a slow drip whose pauses exceed the idle timeout, but not a slow consumer', async () => {
    await upstreams(1, () => ({ content: 'drip drip drip drip', chunkSize: 2, delayMs: 250 }));
    const gateway = gatewayOver(servers, { deployments: [{ timeouts: { idleMs: 120 } }] });
    const stream = await gateway.stream(ask);
    expect((await drain(stream)).error).toMatchObject({ code: 'upstream_idle_timeout' });

    servers[0]?.requests.splice(0);
    const fast = await upstreams(1, () => ({ content: 'quick reply here', chunkSize: 2 }));
    const patient = gatewayOver(fast, { deployments: [{ timeouts: { idleMs: 100 } }] });
    const consumed = await patient.stream(ask);
    const events: ModelStreamEvent[] = [];
    for await (const event of consumed.events) {
      events.push(event);
      // The consumer is slower than the idle timeout; the upstream is not idle.
      await new Promise((resolve) => setTimeout(resolve, 150));
      if (events.length === 3) break;
    }
    expect(events).toHaveLength(3);
  });

  it('aborts the upstream request when the caller stops reading early', async () => {
    const [server] = await upstreams(1, () => ({
      content: 'a long story '.repeat(50),
      chunkSize: 4,
      delayMs: 20,
    }));
    const recorder = fakeRecorder();
    const gateway = gatewayOver(servers, {}, { recorder });
    const stream = await gateway.stream(ask);
    for await (const event of stream.events) {
      expect(event.type).toBe('text-delta');
      break;
    }
    expect(await stream.done).toMatchObject({ outcome: 'cancelled' });
    await waitFor(() => server?.requests[0]?.outcome === 'client-closed');
    expect(recorder.records[0]).toMatchObject({ outcome: 'cancelled' });
    expect(gateway.breakers()[0]?.consecutiveFailures).toBe(0);
  });

  it('charges a stream cut short its reserved estimate, since the provider may bill it', async () => {
    await upstreams(1, () => ({ content: 'a long story '.repeat(50), chunkSize: 4, delayMs: 20 }));
    const settled: number[] = [];
    const limiter: RateLimiter = {
      reserve: async (scopes, tokens) => ({
        ok: true,
        reservation: { id: 'r1', scopes: scopes.map((scope) => scope.scope), tokens, windowStart: 0 },
      }),
      settle: async (_reservation, tokens) => void settled.push(tokens),
    };
    const gateway = gatewayOver(servers, {}, { limiter });
    const stream = await gateway.stream(
      { ...ask, maxOutputTokens: 100 },
      { caller: { keyId: 'key_1', tenantId: 'acme', tpm: 10_000 } },
    );
    for await (const _event of stream.events) break;
    await waitFor(() => settled.length === 1);
    expect(settled[0]).toBeGreaterThan(100);
  });

  it('aborts the upstream request when the caller leaves before reading anything', async () => {
    const [server] = await upstreams(1, () => ({
      content: 'a long story '.repeat(50),
      chunkSize: 4,
      delayMs: 20,
    }));
    const gateway = gatewayOver(servers);
    const stream = await gateway.stream(ask);
    await stream.events[Symbol.asyncIterator]().return?.();
    expect((await stream.done).outcome).toBe('cancelled');
    await waitFor(() => server?.requests[0]?.outcome === 'client-closed');
  });

  it("aborts the upstream request when the caller's signal aborts mid-stream", async () => {
    const [server] = await upstreams(1, () => ({
      content: 'a long story '.repeat(50),
      chunkSize: 4,
      delayMs: 20,
    }));
    const gateway = gatewayOver(servers);
    const controller = new AbortController();
    const stream = await gateway.stream(ask, { signal: controller.signal });
    const events: ModelStreamEvent[] = [];
    let thrown: unknown;
    try {
      for await (const event of stream.events) {
        events.push(event);
        if (events.length === 2) controller.abort(new Error('user closed the tab'));
      }
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).message).toBe('user closed the tab');
    expect((await stream.done).outcome).toBe('cancelled');
    await waitFor(() => server?.requests[0]?.outcome === 'client-closed');
  });

  it('replays a cached answer as a stream', async () => {
    const [server] = await upstreams(1, () => ({
      content: 'Cached story.',
      toolCalls: [{ name: 'lookup', arguments: { city: 'Paris' } }],
    }));
    const gateway = gatewayOver(servers, { routes: [{ name: 'main', deployments: ['d0'], cache: true }] });
    const first = await gateway.stream(ask);
    const live = await drain(first);
    const second = await gateway.stream(ask);
    expect(second.meta).toMatchObject({ cached: true, attempts: 0 });
    const replay = await drain(second);
    expect(text(replay.events)).toBe('Cached story.');
    expect(replay.events.at(-1)).toEqual(live.events.at(-1));
    expect(replay.events.filter((event) => event.type === 'tool-call-delta')).toEqual([
      {
        type: 'tool-call-delta',
        index: 0,
        id: 'call_1_0',
        name: 'lookup',
        argumentsDelta: '{"city":"Paris"}',
      },
    ]);
    expect(await second.done).toMatchObject({ cached: true, costUsd: 0, outcome: 'ok' });
    expect(server?.requests).toHaveLength(1);
  });

  it('fails the stream call itself (no stream) when every deployment fails before the first event', async () => {
    await upstreams(2, () => ({ kind: 'error', status: 503 }));
    const gateway = gatewayOver(servers);
    await expect(gateway.stream(ask)).rejects.toMatchObject({ code: 'provider_http_503' });
  });
});
