import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/model-errors.js';
import type { ModelResponse } from '../model/model.js';
import { createFakeClock } from '../testing/fake-clock.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIServer,
} from '../testing/fake-openai-server.js';
import type { GatewayConfigInput } from './gateway-config.js';
import { callMetaOfError } from './gateway-errors.js';
import type {
  CallRecord,
  CallRecorder,
  LimitScope,
  RateLimiter,
  Reservation,
  ResponseCache,
} from './gateway-store.js';
import {
  createGateway,
  EXPECTED_OUTPUT_TOKENS,
  type CreateGatewayOptions,
  type KeelGateway,
} from './gateway.js';

// ---------------------------------------------------------------------------------------------
// Set-up: real local upstreams (one fake OpenAI server per deployment)

const servers: FakeOpenAIServer[] = [];
const gateways: KeelGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function upstreams(
  count: number,
  handler: (index: number) => FakeOpenAIReply = () => ({ content: 'Hello!' }),
): Promise<FakeOpenAIServer[]> {
  const started = await Promise.all(
    Array.from({ length: count }, (_, index) => createFakeOpenAIServer({ handler: () => handler(index) })),
  );
  servers.push(...started);
  return started;
}

type Overrides = Partial<Omit<GatewayConfigInput, 'deployments'>> & {
  deployments?: Partial<GatewayConfigInput['deployments'][number]>[];
};

/** Deployment `d{i}` per server (OpenAI, priced), route `main` over all of them unless overridden. */
function gatewayOver(
  upstreamServers: FakeOpenAIServer[],
  overrides: Overrides = {},
  options: Omit<CreateGatewayOptions, 'config'> = {},
): KeelGateway {
  const env: Record<string, string> = {};
  const deployments = upstreamServers.map((server, index) => {
    env[`KEY_D${index}`] = `sk-test-d${index}-0123456789`;
    return {
      name: `d${index}`,
      provider: 'openai',
      model: 'gpt-4o-mini',
      baseURL: server.url,
      apiKeyEnv: `KEY_D${index}`,
      ...overrides.deployments?.[index],
    };
  });
  const gateway = createGateway({
    config: {
      routes: [{ name: 'main', deployments: deployments.map((deployment) => deployment.name) }],
      retry: { baseMs: 1, capMs: 5 },
      ...overrides,
      deployments,
    },
    env,
    ...options,
  });
  gateways.push(gateway);
  return gateway;
}

const ask = (content = 'Hi', extra: Record<string, unknown> = {}) => ({
  model: 'main',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** A seeded uniform [0, 1) generator (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Records waits instead of waiting. */
function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

// ---------------------------------------------------------------------------------------------

describe('gateway: answers', () => {
  it('answers through a deployment, priced, with its meta', async () => {
    const [server] = await upstreams(1, () => ({
      content: 'Hello!',
      usage: { promptTokens: 1_000, completionTokens: 100 },
    }));
    const gateway = gatewayOver(servers);
    const { response, meta } = await gateway.generate(ask());
    expect(response.message).toEqual({ role: 'assistant', content: 'Hello!' });
    expect(meta).toMatchObject({
      route: 'main',
      deployment: 'd0',
      provider: 'openai',
      model: 'gpt-4o-mini',
      attempts: 1,
      cached: false,
      outcome: 'ok',
      usage: { inputTokens: 1_000, outputTokens: 100 },
    });
    // gpt-4o-mini: $0.15 / M input, $0.60 / M output.
    expect(meta.costUsd).toBeCloseTo(0.00015 + 0.00006, 10);
    expect(meta.overheadMs).toBeGreaterThanOrEqual(0);
    expect(meta.overheadMs).toBeLessThanOrEqual(meta.latencyMs);
    expect(server?.requests[0]?.headers.authorization).toBe('Bearer sk-test-d0-0123456789');
    expect(server?.requests[0]?.body).toMatchObject({ model: 'gpt-4o-mini' });
    expect(gateway.routes()).toEqual(['main']);
  });

  it('adds little overhead: median overheadMs well under a millisecond, never negative', async () => {
    await upstreams(1);
    const gateway = gatewayOver(servers);
    for (let call = 0; call < 50; call++) await gateway.generate(ask());
    const overheads: number[] = [];
    for (let call = 0; call < 200; call++) overheads.push((await gateway.generate(ask())).meta.overheadMs);
    overheads.sort((left, right) => left - right);
    expect(overheads[0]).toBeGreaterThanOrEqual(0);
    expect(overheads[100]).toBeLessThan(0.5);
  });

  it('rejects an unknown model with unknown_model', async () => {
    await upstreams(1);
    const gateway = gatewayOver(servers);
    expect(await rejection(gateway.generate(ask('Hi', { model: 'gpt-7' })))).toMatchObject({
      code: 'unknown_model',
      details: { known: ['main'] },
    });
  });

  it('splits traffic by weight across deployments', async () => {
    const [heavy, light] = await upstreams(2);
    const gateway = gatewayOver(
      servers,
      { deployments: [{ weight: 3 }, { weight: 1 }] },
      { random: seededRandom(2026) },
    );
    for (let call = 0; call < 400; call++) await gateway.generate(ask());
    // Expected 300 / 100; three standard deviations of binomial(400, 0.25) ≈ 26.
    expect(heavy?.requests.length).toBeGreaterThan(274);
    expect(heavy?.requests.length).toBeLessThan(326);
    expect((heavy?.requests.length ?? 0) + (light?.requests.length ?? 0)).toBe(400);
  });
});

describe('gateway: retries and fallbacks', () => {
  it('falls back to another deployment after retrying a failing one', async () => {
    const [failing, healthy] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'error', status: 500 } : { content: 'from d1' },
    );
    const gateway = gatewayOver(servers, {}, { random: () => 0 });
    const { response, meta } = await gateway.generate(ask());
    expect(response.message.content).toBe('from d1');
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 3 });
    expect(failing?.requests).toHaveLength(2);
    expect(healthy?.requests).toHaveLength(1);
  });

  it('falls back on a connection reset', async () => {
    await upstreams(2, (index) => (index === 0 ? { kind: 'reset' } : { content: 'from d1' }));
    const gateway = gatewayOver(servers, { retry: { attemptsPerDeployment: 1 } }, { random: () => 0 });
    const { meta } = await gateway.generate(ask());
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 2 });
  });

  it('falls back to a fallback route when every deployment of the route failed', async () => {
    const [primary, secondary] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'error', status: 503 } : { content: 'from the fallback route' },
    );
    const gateway = gatewayOver(servers, {
      routes: [
        { name: 'main', deployments: ['d0'], fallbacks: ['backup'] },
        { name: 'backup', deployments: ['d1'] },
      ],
    });
    const { response, meta } = await gateway.generate(ask());
    expect(response.message.content).toBe('from the fallback route');
    expect(meta).toMatchObject({ route: 'main', deployment: 'd1', attempts: 3 });
    expect(primary?.requests).toHaveLength(2);
    expect(secondary?.requests).toHaveLength(1);
  });

  it('returns a 400 at once, without retry or fallback (a bad request is bad everywhere)', async () => {
    const [first, second] = await upstreams(2, () => ({
      kind: 'error',
      status: 400,
      message: 'bad tool schema',
    }));
    const gateway = gatewayOver(servers, {}, { random: () => 0 });
    const error = await rejection(gateway.generate(ask()));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ status: 400, code: 'provider_http_400' });
    expect((first?.requests.length ?? 0) + (second?.requests.length ?? 0)).toBe(1);
    expect(callMetaOfError(error)).toMatchObject({
      attempts: 1,
      outcome: 'error',
      error: { code: 'provider_http_400' },
    });
    expect(gateway.breakers().every((breaker) => breaker.consecutiveFailures === 0)).toBe(true);
  });

  it('moves on at once from a deployment whose key is refused (401/403)', async () => {
    const [revoked, healthy] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'error', status: 401 } : { content: 'from d1' },
    );
    const gateway = gatewayOver(servers, {}, { random: () => 0 });
    const { meta } = await gateway.generate(ask());
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 2 });
    expect(revoked?.requests).toHaveLength(1);
    expect(healthy?.requests).toHaveLength(1);
    expect(gateway.breakers()[0]).toMatchObject({ deployment: 'd0', consecutiveFailures: 1 });
  });

  it('honors Retry-After on a 429 (a real wait)', async () => {
    const [server] = await upstreams(1);
    server?.enqueue({ kind: 'error', status: 429, retryAfterMs: 150 });
    const gateway = gatewayOver(servers);
    const started = performance.now();
    const { meta } = await gateway.generate(ask());
    const elapsed = performance.now() - started;
    expect(meta.attempts).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(148);
    expect(elapsed).toBeLessThan(1_000);
    // The wait is upstream's, not the gateway's.
    expect(meta.overheadMs).toBeLessThan(20);
  });

  it('honors Retry-After in seconds on a 503, exactly (recorded waits)', async () => {
    const [server] = await upstreams(1);
    server?.enqueue({ kind: 'error', status: 503, retryAfter: 2 });
    const { waits, sleep } = recordingSleep();
    const gateway = gatewayOver(servers, {}, { sleep });
    await gateway.generate(ask());
    expect(waits).toEqual([2_000]);
  });

  it('moves to the next deployment at once when Retry-After is longer than maxRetryAfterMs', async () => {
    const [limited, healthy] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'error', status: 429, retryAfter: 60 } : { content: 'from d1' },
    );
    const { waits, sleep } = recordingSleep();
    const gateway = gatewayOver(servers, { retry: { maxRetryAfterMs: 10_000 } }, { sleep, random: () => 0 });
    const { meta } = await gateway.generate(ask());
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 2 });
    expect(waits).toEqual([]);
    expect(limited?.requests).toHaveLength(1);
    expect(healthy?.requests).toHaveLength(1);
  });

  it('waits with full jitter between retries: within [0, min(cap, base·2^n))', async () => {
    await upstreams(1, () => ({ kind: 'error', status: 502 }));
    const { waits, sleep } = recordingSleep();
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 5, baseMs: 100, capMs: 300 } },
      { sleep, random: () => 0.999 },
    );
    const error = await rejection(gateway.generate(ask()));
    expect(error).toMatchObject({ code: 'provider_http_502', status: 502 });
    expect(waits).toEqual([99, 199, 299, 299]);
    // The low end of the range is no wait at all.
    const none = recordingSleep();
    const eager = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 3, baseMs: 100, capMs: 300 } },
      { sleep: none.sleep, random: () => 0 },
    );
    expect(callMetaOfError(await rejection(eager.generate(ask())))?.attempts).toBe(3);
    expect(none.waits).toEqual([]);
  });
});

describe('gateway: time', () => {
  it('spends one budget across the whole chain: hanging upstreams end in gateway_budget_exhausted in about budgetMs', async () => {
    const hanging = await upstreams(3, () => ({ kind: 'hang' }));
    const gateway = gatewayOver(servers, {
      budgetMs: 600,
      retry: { attemptsPerDeployment: 2, baseMs: 1, capMs: 2 },
      deployments: hanging.map(() => ({ timeouts: { firstByteMs: 250 } })),
    });
    const started = performance.now();
    const error = await rejection(gateway.generate(ask()));
    const elapsed = performance.now() - started;
    expect(error).toMatchObject({ code: 'gateway_budget_exhausted', fault: 'provider', retryable: true });
    // 6 attempts × 250 ms would be 1.5 s; the budget stops it at 600 ms (the upper bound leaves
    // room for a loaded machine, and still fails if the chain ran on past the budget).
    expect(elapsed).toBeGreaterThanOrEqual(590);
    expect(elapsed).toBeLessThan(1_400);
    expect(error.details).toMatchObject({
      budgetMs: 600,
      attempts: 3,
      lastError: { code: 'upstream_timeout' },
    });
    const requests = hanging.flatMap((server) => server.requests);
    expect(requests).toHaveLength(3);
    await waitFor(() => requests.every((request) => request.outcome === 'client-closed'));
  });

  it("takes the call's tighter budget", async () => {
    await upstreams(1, () => ({ kind: 'hang' }));
    const gateway = gatewayOver(servers);
    const started = performance.now();
    const error = await rejection(gateway.generate(ask(), { budgetMs: 200 }));
    expect(error.code).toBe('gateway_budget_exhausted');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('never starts a wait that cannot fit in the budget', async () => {
    const [server] = await upstreams(1);
    server?.enqueue({ kind: 'error', status: 429, retryAfterMs: 5_000 });
    const { waits, sleep } = recordingSleep();
    const gateway = gatewayOver(servers, { budgetMs: 1_000 }, { sleep });
    const error = await rejection(gateway.generate(ask()));
    expect(error).toMatchObject({
      code: 'gateway_budget_exhausted',
      details: { lastError: { code: 'provider_http_429' } },
    });
    expect(waits).toEqual([]);
    expect(server?.requests).toHaveLength(1);
  });

  it('times out the first byte of a hanging deployment and falls back', async () => {
    const [hanging, healthy] = await upstreams(2, (index) =>
      index === 0 ? { kind: 'hang' } : { content: 'from d1' },
    );
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, deployments: [{ timeouts: { firstByteMs: 150 } }] },
      { random: () => 0 },
    );
    const started = performance.now();
    const { meta } = await gateway.generate(ask());
    expect(performance.now() - started).toBeLessThan(600);
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 2 });
    expect(healthy?.requests).toHaveLength(1);
    await waitFor(() => hanging?.requests[0]?.outcome === 'client-closed');
  });

  it('reports upstream_first_byte_timeout when no deployment answers in time', async () => {
    await upstreams(1, () => ({ kind: 'hang' }));
    const gateway = gatewayOver(servers, {
      retry: { attemptsPerDeployment: 1 },
      deployments: [{ timeouts: { firstByteMs: 100 } }],
    });
    expect(await rejection(gateway.generate(ask()))).toMatchObject({
      code: 'upstream_first_byte_timeout',
      retryable: true,
      details: { deployment: 'd0', timeoutMs: 100 },
    });
  });

  it('reports upstream_connect_timeout for an upstream that never accepts the connection', async () => {
    const blackhole = await startUnacceptingListener();
    try {
      const stuck = createGateway({
        config: {
          deployments: [
            {
              name: 'stuck',
              provider: 'openai-compatible',
              model: 'm',
              baseURL: `http://127.0.0.1:${blackhole.port}/v1`,
              timeouts: { connectMs: 200 },
            },
          ],
          routes: [{ name: 'main', deployments: ['stuck'] }],
          retry: { attemptsPerDeployment: 1 },
        },
      });
      gateways.push(stuck);
      const started = performance.now();
      const error = await rejection(stuck.generate(ask()));
      expect(error).toMatchObject({
        code: 'upstream_connect_timeout',
        details: { deployment: 'stuck', timeoutMs: 200 },
      });
      // undici checks connect timeouts on a coarse (~0.5 s) timer.
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      blackhole.close();
    }
  }, 15_000);

  it('aborts the upstream request when the caller aborts', async () => {
    const [server] = await upstreams(1, () => ({ kind: 'hang' }));
    const recorder = fakeRecorder();
    const gateway = gatewayOver(servers, {}, { recorder });
    const controller = new AbortController();
    const call = gateway.generate(ask(), { signal: controller.signal });
    await waitFor(() => server?.requests.length === 1);
    controller.abort(new Error('caller gone'));
    expect((await rejection(call)).message).toBe('caller gone');
    await waitFor(() => server?.requests[0]?.outcome === 'client-closed');
    expect(recorder.records[0]).toMatchObject({ outcome: 'cancelled', attempts: 1 });
    expect(gateway.breakers()[0]?.consecutiveFailures).toBe(0);
  });
});

describe('gateway: circuit breakers', () => {
  it('opens after N failures, skips the deployment, half-opens after the cooldown and closes on a good probe', async () => {
    let healthy = false;
    const [flaky, steady] = await upstreams(2, (index) =>
      index === 0 && !healthy ? { kind: 'error', status: 500 } : { content: `from d${index}` },
    );
    const clock = createFakeClock();
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, breaker: { failureThreshold: 2, cooldownMs: 30_000 } },
      { clock, random: () => 0 },
    );
    for (let call = 0; call < 2; call++) expect((await gateway.generate(ask())).meta.deployment).toBe('d1');
    expect(gateway.breakers()[0]).toEqual({
      deployment: 'd0',
      state: 'open',
      consecutiveFailures: 2,
      retryAt: clock.now() + 30_000,
    });
    expect(flaky?.requests).toHaveLength(2);

    // Open: d0 is skipped, not tried.
    for (let call = 0; call < 3; call++)
      expect((await gateway.generate(ask())).meta).toMatchObject({ deployment: 'd1', attempts: 1 });
    expect(flaky?.requests).toHaveLength(2);

    // After the cooldown one probe goes through; it succeeds and closes the breaker.
    clock.advance(30_000);
    healthy = true;
    expect(gateway.breakers()[0]?.state).toBe('half-open');
    expect((await gateway.generate(ask())).meta.deployment).toBe('d0');
    expect(gateway.breakers()[0]).toEqual({ deployment: 'd0', state: 'closed', consecutiveFailures: 0 });
    expect(flaky?.requests).toHaveLength(3);
    expect(steady?.requests).toHaveLength(5);
  });

  it('fails fast with gateway_unavailable and a retry time when every breaker is open', async () => {
    const [server] = await upstreams(1, () => ({ kind: 'error', status: 500 }));
    const clock = createFakeClock();
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, breaker: { failureThreshold: 1, cooldownMs: 10_000 } },
      { clock },
    );
    expect(await rejection(gateway.generate(ask()))).toMatchObject({ code: 'provider_http_500' });
    clock.advance(4_000);
    const error = await rejection(gateway.generate(ask()));
    expect(error).toMatchObject({
      code: 'gateway_unavailable',
      retryable: true,
      retryAfterMs: 6_000,
      details: { skipped: { d0: 'breaker-open' } },
    });
    expect(server?.requests).toHaveLength(1);
  });

  it('counts provider faults only: what a request caused (400, 413, 422) and 429s never open it', async () => {
    const replies: Record<string, FakeOpenAIReply> = {
      bad: { kind: 'error', status: 400, message: 'bad tool schema' },
      huge: { kind: 'error', status: 413, message: 'request too large' },
      odd: { kind: 'error', status: 422, message: 'unprocessable' },
      flood: { kind: 'error', status: 429, message: 'slow down', retryAfterMs: 1 },
      broken: { kind: 'error', status: 500, message: 'internal error' },
      reset: { kind: 'reset' },
    };
    // The upstream answers by the request's content, as a provider failing on some inputs does.
    const server = await createFakeOpenAIServer({
      handler: (request) => {
        const body = request.body as { messages: { content: string }[] };
        return replies[body.messages.at(-1)!.content] ?? { content: 'fine' };
      },
    });
    servers.push(server);
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, breaker: { failureThreshold: 2, cooldownMs: 60_000 } },
      { random: () => 0 },
    );
    for (let round = 0; round < 5; round++) {
      for (const content of ['bad', 'huge', 'odd', 'flood']) await rejection(gateway.generate(ask(content)));
    }
    expect(gateway.breakers()[0]).toEqual({ deployment: 'd0', state: 'closed', consecutiveFailures: 0 });
    expect((await gateway.generate(ask('hello'))).response.message.content).toBe('fine');

    // A 500 and a reset are the provider's: two in a row open the breaker.
    await rejection(gateway.generate(ask('broken')));
    await rejection(gateway.generate(ask('reset')));
    expect(gateway.breakers()[0]).toMatchObject({ state: 'open', consecutiveFailures: 2 });
    expect(await rejection(gateway.generate(ask('hello')))).toMatchObject({ code: 'gateway_unavailable' });
  });

  it('a failed probe opens the breaker again', async () => {
    const [server] = await upstreams(1, () => ({ kind: 'error', status: 500 }));
    const clock = createFakeClock();
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, breaker: { failureThreshold: 1, cooldownMs: 1_000 } },
      { clock },
    );
    await rejection(gateway.generate(ask()));
    clock.advance(1_000);
    await rejection(gateway.generate(ask()));
    expect(server?.requests).toHaveLength(2);
    expect(gateway.breakers()[0]).toMatchObject({ state: 'open', retryAt: clock.now() + 1_000 });
  });
});

describe('gateway: cache', () => {
  it('serves exact repeats from the cache: cached, no attempts, no cost', async () => {
    const [server] = await upstreams(1, () => ({
      content: 'cached answer',
      usage: { promptTokens: 10, completionTokens: 5 },
    }));
    const gateway = gatewayOver(servers, { routes: [{ name: 'main', deployments: ['d0'], cache: true }] });
    const first = await gateway.generate(ask());
    const second = await gateway.generate(ask());
    expect(first.meta.cached).toBe(false);
    expect(second.meta).toMatchObject({ cached: true, attempts: 0, costUsd: 0, outcome: 'ok' });
    expect(second.response).toEqual(first.response);
    expect(server?.requests).toHaveLength(1);
    // The caller's copy is its own.
    second.response.message.content = 'edited';
    expect((await gateway.generate(ask())).response.message.content).toBe('cached answer');
  });

  it('misses when any parameter differs: temperature, tools, tool choice, response format, stop', async () => {
    const [server] = await upstreams(1);
    const gateway = gatewayOver(servers, {}, {});
    const tool = { name: 'lookup', description: 'Looks up.', parameters: { type: 'object' } };
    const variants = [
      ask('Hi'),
      ask('Hi', { temperature: 0.2 }),
      ask('Hi', { temperature: 0.3 }),
      ask('Hi', { tools: [tool] }),
      ask('Hi', { tools: [{ ...tool, description: 'Looks up things.' }] }),
      ask('Hi', { tools: [tool], toolChoice: 'required' }),
      ask('Hi', { responseFormat: { type: 'json' } }),
      ask('Hi', { stop: ['\n'] }),
      ask('Hi', { seed: 1 }),
      ask('Hi', { topP: 0.5 }),
      ask('Hi', { maxOutputTokens: 10 }),
      ask('Hello'),
    ];
    for (const request of variants) await gateway.generate(request, { cache: true });
    expect(server?.requests).toHaveLength(variants.length);
    for (const request of variants)
      expect((await gateway.generate(request, { cache: true })).meta.cached).toBe(true);
    // Key order does not matter: the key is canonical.
    const reordered = {
      temperature: 0.2,
      messages: [{ content: 'Hi', role: 'user' as const }],
      model: 'main',
    };
    expect((await gateway.generate(reordered, { cache: true })).meta.cached).toBe(true);
    expect(server?.requests).toHaveLength(variants.length);
  });

  it('never caches errors', async () => {
    const [server] = await upstreams(1);
    server?.enqueue({ kind: 'error', status: 400 });
    const gateway = gatewayOver(servers, {}, {});
    await rejection(gateway.generate(ask(), { cache: true }));
    const { meta } = await gateway.generate(ask(), { cache: true });
    expect(meta).toMatchObject({ cached: false, attempts: 1 });
    expect(server?.requests).toHaveLength(2);
  });

  it('is bounded (LRU) and expires entries after ttlMs', async () => {
    const [server] = await upstreams(1);
    const clock = createFakeClock();
    const gateway = gatewayOver(servers, { cache: { maxEntries: 2, ttlMs: 60_000 } }, { clock });
    const options = { cache: true };
    await gateway.generate(ask('a'), options);
    await gateway.generate(ask('b'), options);
    await gateway.generate(ask('c'), options); // evicts a
    expect((await gateway.generate(ask('c'), options)).meta.cached).toBe(true);
    expect((await gateway.generate(ask('a'), options)).meta.cached).toBe(false);
    expect(server?.requests).toHaveLength(4);
    clock.advance(60_000);
    expect((await gateway.generate(ask('a'), options)).meta.cached).toBe(false);
  });

  it('shares entries through the shared cache with other gateway processes', async () => {
    const [server] = await upstreams(1);
    const shared = fakeResponseCache();
    const first = gatewayOver(servers, {}, { cache: shared });
    const second = gatewayOver(servers, {}, { cache: shared });
    await first.generate(ask(), { cache: true });
    await waitFor(() => shared.entries.size === 1);
    expect([...shared.entries.values()][0]?.ttlMs).toBe(3_600_000);
    expect((await second.generate(ask(), { cache: true })).meta.cached).toBe(true);
    expect(server?.requests).toHaveLength(1);
  });

  it("keeps each tenant's entries to that tenant, in this process and in the shared cache", async () => {
    const [server] = await upstreams(1);
    const shared = fakeResponseCache();
    const routes = [{ name: 'main', deployments: ['d0'], cache: true }];
    const first = gatewayOver(servers, { routes }, { cache: shared });
    const second = gatewayOver(servers, { routes }, { cache: shared });
    const tenantA = { caller: { keyId: 'key_a', tenantId: 'tenant-a' } };
    const tenantB = { caller: { keyId: 'key_b', tenantId: 'tenant-b' } };
    expect((await first.generate(ask(), tenantA)).meta.cached).toBe(false);
    await waitFor(() => shared.entries.size === 1);
    // Same process (in-process level) and another process (shared level): B misses A's entry.
    expect((await first.generate(ask(), tenantB)).meta.cached).toBe(false);
    await waitFor(() => shared.entries.size === 2);
    expect(
      (await second.generate(ask(), { caller: { keyId: 'key_c', tenantId: 'tenant-c' } })).meta.cached,
    ).toBe(false);
    // A's own repeat hits, on either process, and so does another key of tenant A.
    expect((await first.generate(ask(), tenantA)).meta.cached).toBe(true);
    expect(
      (await second.generate(ask(), { caller: { keyId: 'key_a2', tenantId: 'tenant-a' } })).meta.cached,
    ).toBe(true);
    // A run's tenant (tenantId) wins over the caller key's: the call is made for the run.
    expect((await first.generate(ask(), { ...tenantA, tenantId: 'tenant-b' })).meta.cached).toBe(true);
    expect((await first.generate(ask(), { ...tenantB, tenantId: 'tenant-d' })).meta.cached).toBe(false);
    // Calls made for no tenant share only among themselves.
    expect((await first.generate(ask())).meta.cached).toBe(false);
    expect((await first.generate(ask())).meta.cached).toBe(true);
    expect(server?.requests).toHaveLength(5);
  });

  it("shares entries across tenants on a route with cache.scope 'global'", async () => {
    const [server] = await upstreams(1);
    const gateway = gatewayOver(servers, {
      routes: [{ name: 'main', deployments: ['d0'], cache: { scope: 'global' } }],
    });
    await gateway.generate(ask(), { caller: { keyId: 'key_a', tenantId: 'tenant-a' } });
    const { meta } = await gateway.generate(ask(), { caller: { keyId: 'key_b', tenantId: 'tenant-b' } });
    expect(meta.cached).toBe(true);
    expect((await gateway.generate(ask(), { tenantId: 'tenant-c' })).meta.cached).toBe(true);
    expect(server?.requests).toHaveLength(1);
  });

  it('lets a remote caller turn caching on only where the route allows callerOptIn, and off anywhere', async () => {
    const [server] = await upstreams(1);
    const gateway = gatewayOver(servers, {
      routes: [
        { name: 'main', deployments: ['d0'] },
        { name: 'opt-in', deployments: ['d0'], cache: { enabled: false, callerOptIn: true } },
        { name: 'cached', deployments: ['d0'], cache: true },
      ],
    });
    const caller = { keyId: 'key_a', tenantId: 'tenant-a' };
    const wants = { caller, callerCache: true };
    const cachedOf = async (route: string, options: Parameters<KeelGateway['generate']>[1]) =>
      (await gateway.generate({ ...ask(), model: route }, options)).meta.cached;
    // No opt-in: the caller's wish cannot turn caching on.
    expect(await cachedOf('main', wants)).toBe(false);
    expect(await cachedOf('main', wants)).toBe(false);
    // Opt-in route: off by default, on for callers who ask (per tenant still).
    expect(await cachedOf('opt-in', { caller })).toBe(false);
    expect(await cachedOf('opt-in', { caller })).toBe(false);
    expect(await cachedOf('opt-in', wants)).toBe(false);
    expect(await cachedOf('opt-in', wants)).toBe(true);
    expect(
      await cachedOf('opt-in', { caller: { keyId: 'key_b', tenantId: 'tenant-b' }, callerCache: true }),
    ).toBe(false);
    // Turning it off is always allowed.
    expect(await cachedOf('cached', { caller })).toBe(false);
    expect(await cachedOf('cached', { caller, callerCache: false })).toBe(false);
    expect(await cachedOf('cached', { caller })).toBe(true);
    expect(server?.requests).toHaveLength(8);
  });
});

describe('gateway: limits and records', () => {
  it('reserves the deployment and key scopes before the call and settles actual tokens after', async () => {
    await upstreams(1, () => ({ content: 'ok', usage: { promptTokens: 40, completionTokens: 2 } }));
    const limiter = fakeLimiter();
    const gateway = gatewayOver(servers, { deployments: [{ rpm: 100, tpm: 10_000 }] }, { limiter });
    await gateway.generate(ask('Hi', { maxOutputTokens: 50 }), {
      caller: { keyId: 'key_1', tenantId: 'acme', rpm: 10, tpm: 1_000 },
    });
    expect(limiter.reserved).toHaveLength(1);
    expect(limiter.reserved[0]?.scopes).toEqual([
      { scope: 'deployment:d0', rpm: 100, tpm: 10_000 },
      { scope: 'key:key_1', rpm: 10, tpm: 1_000 },
    ]);
    // The estimate: the prompt's tokens plus maxOutputTokens (up to EXPECTED_OUTPUT_TOKENS).
    expect(limiter.reserved[0]?.tokens).toBeGreaterThan(50);
    expect(limiter.reserved[0]?.tokens).toBeLessThan(70);
    await waitFor(() => limiter.settled.length === 1);
    expect(limiter.settled[0]).toMatchObject({ tokens: 42 });
  });

  it("admits a coding agent's 64,000 max_tokens under a 60,000 tpm key: the answer counts as at most 4,096 until settled", async () => {
    await upstreams(1, () => ({ content: 'ok', usage: { promptTokens: 40, completionTokens: 9_000 } }));
    const limiter = fakeLimiter();
    const gateway = gatewayOver(servers, {}, { limiter });
    const caller = { keyId: 'key_dev', tenantId: 'acme', tpm: 60_000 };
    await gateway.generate(ask('Hi', { maxOutputTokens: 64_000 }), { caller });
    const reserved = limiter.reserved[0]?.tokens ?? 0;
    expect(reserved).toBeGreaterThan(EXPECTED_OUTPUT_TOKENS);
    expect(reserved).toBeLessThan(EXPECTED_OUTPUT_TOKENS + 20);
    // Corrected by the real usage, however large.
    await waitFor(() => limiter.settled.length === 1);
    expect(limiter.settled[0]).toMatchObject({ tokens: 9_040 });
    // A prompt larger than the whole window is refused at once, not told to retry.
    const error = await rejection(gateway.generate(ask('word '.repeat(80_000)), { caller }));
    expect(error).toMatchObject({ code: 'request_exceeds_limit', retryable: false });
  });

  it('makes no limiter round trip when neither the deployment nor the caller has limits', async () => {
    await upstreams(1);
    const limiter = fakeLimiter();
    const gateway = gatewayOver(servers, {}, { limiter });
    await gateway.generate(ask(), { caller: { keyId: 'key_1', tenantId: 'acme' } });
    expect(limiter.reserved).toHaveLength(0);
  });

  it('moves to the next deployment when one is at its own limit', async () => {
    const [limited, free] = await upstreams(2);
    const limiter = fakeLimiter({ full: new Set(['deployment:d0']) });
    const gateway = gatewayOver(
      servers,
      { deployments: [{ rpm: 1 }, { rpm: 1 }] },
      { limiter, random: () => 0 },
    );
    const { meta } = await gateway.generate(ask());
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 1 });
    expect(limited?.requests).toHaveLength(0);
    expect(free?.requests).toHaveLength(1);
  });

  it('refuses a request larger than the key tpm with request_exceeds_limit, not rate_limited', async () => {
    const [server] = await upstreams(1);
    const limiter = fakeLimiter();
    const gateway = gatewayOver(servers, {}, { limiter });
    const caller = { keyId: 'key_small', tenantId: 't', tpm: 100 };
    const error = await rejection(gateway.generate(ask('Hi', { maxOutputTokens: 500 }), { caller }));
    expect(error).toMatchObject({
      code: 'request_exceeds_limit',
      retryable: false,
      fault: 'caller',
      details: { scope: 'key:key_small', limit: 'tpm', tpm: 100, route: 'main' },
    });
    const requested = (error.details as { requestedTokens: number }).requestedTokens;
    expect(requested).toBeGreaterThan(500);
    expect(error.message).toContain(`reserves ${requested} tokens`);
    expect(error.message).toContain('100 tokens per minute');
    // Nothing reserved, nothing sent; a request that fits goes through.
    expect(limiter.reserved).toHaveLength(0);
    expect(server?.requests).toHaveLength(0);
    await gateway.generate(ask('Hi', { maxOutputTokens: 50 }), { caller });
    expect(server?.requests).toHaveLength(1);
  });

  it('skips deployments whose whole tpm is smaller than the request, and refuses it when none is larger', async () => {
    const [small, large] = await upstreams(2);
    const limiter = fakeLimiter();
    const gateway = gatewayOver(
      servers,
      { deployments: [{ tpm: 100 }, { tpm: 1_000 }] },
      { limiter, random: () => 0 },
    );
    const { meta } = await gateway.generate(ask('Hi', { maxOutputTokens: 500 }));
    expect(meta).toMatchObject({ deployment: 'd1', attempts: 1 });
    expect(small?.requests).toHaveLength(0);
    const error = await rejection(gateway.generate(ask('Hi', { maxOutputTokens: 5_000 })));
    expect(error).toMatchObject({
      code: 'request_exceeds_limit',
      retryable: false,
      details: { scope: 'deployment:d1', limit: 'tpm', tpm: 1_000 },
    });
    expect(error.message).toContain('1000 tokens per minute');
    expect(large?.requests).toHaveLength(1);
  });

  it('answers rate_limited with retryAfterMs when the caller key is over its limit, without calling upstream', async () => {
    const [server] = await upstreams(1);
    const limiter = fakeLimiter({ full: new Set(['key:key_9']) });
    const gateway = gatewayOver(servers, {}, { limiter });
    const error = await rejection(
      gateway.generate(ask(), { caller: { keyId: 'key_9', tenantId: 't', rpm: 1 } }),
    );
    expect(error).toMatchObject({
      code: 'rate_limited',
      fault: 'caller',
      retryable: true,
      retryAfterMs: 1_234,
      details: { scope: 'key:key_9', limit: 'rpm', retryAfterMs: 1_234 },
    });
    expect(server?.requests).toHaveLength(0);
  });

  it('charges the key once per call, with the tokens of the answer, when a fallback answered', async () => {
    await upstreams(2, (index) =>
      index === 0
        ? { kind: 'error', status: 500 }
        : { content: 'ok', usage: { promptTokens: 30, completionTokens: 3 } },
    );
    const limiter = fakeLimiter();
    const gateway = gatewayOver(
      servers,
      { retry: { attemptsPerDeployment: 1 }, deployments: [{ rpm: 100 }, { rpm: 100 }] },
      { limiter, random: () => 0 },
    );
    await gateway.generate(ask(), { caller: { keyId: 'key_1', tenantId: 'acme', rpm: 10 } });
    expect(limiter.reserved.map((reservation) => reservation.scopes.map((scope) => scope.scope))).toEqual([
      ['deployment:d0', 'key:key_1'],
      ['deployment:d1'],
    ]);
    await waitFor(() => limiter.settled.length === 2);
    expect(limiter.settled.map((settled) => [settled.reservation.scopes, settled.tokens])).toEqual([
      [['deployment:d1'], 33],
      [['deployment:d0', 'key:key_1'], 33],
    ]);
  });

  it('records every call, successes and failures, off the hot path, and flushes on close', async () => {
    const [server] = await upstreams(1);
    server?.enqueue({ content: 'ok' });
    server?.enqueue({ kind: 'error', status: 422 });
    const recorder = fakeRecorder();
    const gateway = gatewayOver(servers, {}, { recorder, createId: (prefix) => `${prefix}_1` });
    await gateway.generate(ask(), {
      caller: { keyId: 'key_1', tenantId: 'acme' },
      runId: 'run_1',
      stepSeq: 3,
    });
    await rejection(gateway.generate(ask(), { endpoint: 'messages' }));
    expect(recorder.records).toHaveLength(2);
    expect(recorder.records[0]).toMatchObject({
      id: 'call_1',
      tenantId: 'acme',
      keyId: 'key_1',
      runId: 'run_1',
      stepSeq: 3,
      endpoint: 'agent',
      route: 'main',
      deployment: 'd0',
      outcome: 'ok',
      attempts: 1,
    });
    expect(recorder.records[0]?.startedAt).toBeInstanceOf(Date);
    expect(recorder.records[1]).toMatchObject({
      endpoint: 'messages',
      tenantId: null,
      outcome: 'error',
      error: { code: 'provider_http_422' },
    });
    await gateway.close();
    expect(recorder.flushes).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Tiny in-memory fakes of the shared-store interfaces (the SQL ones are tested on their own)

function fakeLimiter({ full = new Set<string>() }: { full?: Set<string> } = {}) {
  const reserved: { scopes: LimitScope[]; tokens: number }[] = [];
  const settled: { reservation: Reservation; tokens: number }[] = [];
  let next = 0;
  const limiter: RateLimiter & { reserved: typeof reserved; settled: typeof settled } = {
    reserved,
    settled,
    async reserve(scopes, tokens) {
      const blocked = scopes.find((scope) => full.has(scope.scope));
      if (blocked !== undefined)
        return { ok: false, scope: blocked.scope, retryAfterMs: 1_234, limit: 'rpm' };
      reserved.push({ scopes: [...scopes], tokens });
      return {
        ok: true,
        reservation: { id: `r${++next}`, scopes: scopes.map((scope) => scope.scope), tokens, windowStart: 0 },
      };
    },
    async settle(reservation, tokens) {
      settled.push({ reservation, tokens });
    },
  };
  return limiter;
}

function fakeRecorder() {
  const records: CallRecord[] = [];
  const recorder: CallRecorder & { records: CallRecord[]; flushes: number } = {
    records,
    flushes: 0,
    record: (call) => void records.push(call),
    async flush() {
      recorder.flushes++;
    },
    async close() {},
  };
  return recorder;
}

function fakeResponseCache() {
  const entries = new Map<string, { response: ModelResponse; ttlMs: number }>();
  const cache: ResponseCache & { entries: typeof entries } = {
    entries,
    async get(key) {
      return entries.get(key)?.response;
    },
    async set(key, response, ttlMs) {
      entries.set(key, { response, ttlMs });
    },
  };
  return cache;
}

/** Polls until `condition` holds (requests settle on the fake's side a little after the client's). */
async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A TCP port that never completes a connection: a child process listens with a backlog of 1 and
 * then blocks its event loop so it never accepts; once a few connections fill the kernel's queue,
 * further connection attempts hang, as with a firewalled host.
 */
async function startUnacceptingListener(): Promise<{ port: number; close: () => void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {
         process.stdout.write(String(this.address().port) + '\\n');
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000), 50);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
    child.once('error', reject);
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  const fillers: Socket[] = [];
  for (let index = 0; index < 4; index++)
    fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((resolve) => setTimeout(resolve, 150));
  return {
    port,
    close: () => {
      for (const filler of fillers) filler.destroy();
      child.kill('SIGKILL');
    },
  };
}
