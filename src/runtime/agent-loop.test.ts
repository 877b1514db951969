import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel, ModelRequest, ModelResponse } from '../model/model.js';
import { ProviderError } from '../errors/model-errors.js';
import { createMemoryStore } from '../testing/memory-store.js';
import { createFakeAnthropicServer, fakeSignature } from '../testing/fake-anthropic-server.js';
import { createAnthropicModel } from '../model/providers/anthropic/adapter.js';
import { defineTool } from '../tools/tool.js';
import { silentLogger } from '../util/logger.js';
import { defineAgent, type AgentOptions } from './agent.js';
import { runAgent } from './run-agent.js';
import type { RunEvent } from './run-events.js';

let store: JournalStore;
beforeAll(async () => {
  store = await createMemoryStore();
});
afterAll(async () => {
  await store.close();
});

let agentCounter = 0;
function agent(options: Partial<AgentOptions> & Pick<AgentOptions, 'model'>) {
  return defineAgent({ name: `agent-${++agentCounter}`, instructions: 'You are a test agent.', ...options });
}

async function run(
  agentDefinition: ReturnType<typeof agent>,
  input = 'go',
  onEvent?: (event: RunEvent) => void,
) {
  return runAgent({
    store,
    agents: [agentDefinition],
    agent: agentDefinition.name,
    input,
    logger: silentLogger,
    ...(onEvent ? { onEvent, streamText: true } : {}),
  });
}

const echoTool = defineTool({
  name: 'echo',
  description: 'Echoes its text.',
  input: z.object({ text: z.string() }),
  run: ({ text }) => ({ echoed: text }),
});

describe('the agent loop', () => {
  it('calls tools in parallel, feeds results back and completes with the final text', async () => {
    const model = createScriptedModel({
      replies: [
        {
          toolCalls: [
            { name: 'echo', arguments: { text: 'a' } },
            { name: 'echo', arguments: { text: 'b' } },
          ],
        },
        (request: ModelRequest) => {
          const results = request.messages
            .filter((message) => message.role === 'tool')
            .map((message) => message.content);
          return `results: ${results.join(' ')}`;
        },
      ],
    });
    const result = await run(agent({ model, tools: [echoTool] }));
    expect(result.status).toBe('completed');
    expect(result.stopReason).toBe('completed');
    expect(result.output).toBe('results: {"echoed":"a"} {"echoed":"b"}');
    const steps = await store.loadSteps(result.id);
    expect(steps.map((step) => `${step.seq}:${step.kind}:${step.name}`)).toEqual([
      '0:model:builtin:scripted',
      '1:tool:echo',
      '2:tool:echo',
      '3:model:builtin:scripted',
    ]);
    expect(result.stepCount).toBe(4);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
  });

  it('stops with max_steps after maxSteps model calls', async () => {
    let n = 0;
    const model = createScriptedModel({
      respond: () => ({ toolCalls: [{ name: 'echo', arguments: { text: `call ${n++}` } }] }),
    });
    const result = await run(agent({ model, tools: [echoTool], limits: { maxSteps: 3 } }));
    expect(result.stopReason).toBe('max_steps');
    expect(result.status).toBe('failed');
    expect(model.calls).toHaveLength(3);
  });

  it('stops with budget when maxTokens is used up', async () => {
    const model = createScriptedModel({
      respond: (request) => ({
        toolCalls: [{ name: 'echo', arguments: { text: String(request.messages.length) } }],
        usage: { inputTokens: 600, outputTokens: 10 },
      }),
    });
    const result = await run(agent({ model, tools: [echoTool], limits: { maxTokens: 1000 } }));
    expect(result.stopReason).toBe('budget');
    expect(model.calls).toHaveLength(2);
    expect(result.error?.message).toMatch(/maxTokens/);
  });

  it('stops with budget when maxCostUsd is spent, using the price table', async () => {
    const priced = pricedModel(() => ({
      toolCalls: [{ name: 'echo', arguments: '{"text":"x' + Math.random() + '"}' }],
    }));
    const result = await run(agent({ model: priced, tools: [echoTool], limits: { maxCostUsd: 0.02 } }));
    expect(result.stopReason).toBe('budget');
    // gpt-4o: $2.50 per 1M input tokens; 4000 tokens a call = $0.01; the cap is hit after 2 calls.
    expect(result.costUsd).toBeGreaterThanOrEqual(0.02);
    expect(result.costUsd).toBeLessThan(0.03);
  });

  it('stops with deadline when the run outlives deadlineMs', async () => {
    const model = createScriptedModel({
      latencyMs: 300,
      respond: () => ({ toolCalls: [{ name: 'echo', arguments: { text: String(Math.random()) } }] }),
    });
    const result = await run(agent({ model, tools: [echoTool], limits: { deadlineMs: 500 } }));
    expect(result.stopReason).toBe('deadline');
  });

  it('detects a loop: the same tool with the same arguments N times', async () => {
    const model = createScriptedModel({
      respond: () => ({ toolCalls: [{ name: 'echo', arguments: { text: 'again' } }] }),
    });
    const result = await run(agent({ model, tools: [echoTool], limits: { loopThreshold: 3 } }));
    expect(result.stopReason).toBe('loop_detected');
    expect(model.calls).toHaveLength(3);
    const toolSteps = (await store.loadSteps(result.id)).filter((step) => step.kind === 'tool');
    expect(toolSteps).toHaveLength(2);
  });

  it('ends with cancelled when the run is cancelled mid-tool', async () => {
    let started!: () => void;
    const toolStarted = new Promise<void>((resolve) => (started = resolve));
    const slow = defineTool({
      name: 'slow',
      description: 'Waits until aborted.',
      input: z.object({}),
      run: (_args, { signal }) =>
        new Promise((_resolve, reject) => {
          started();
          signal.addEventListener('abort', () => reject(signal.reason as Error));
        }),
    });
    const model = createScriptedModel({
      replies: [{ toolCalls: [{ name: 'slow', arguments: {} }] }, 'never'],
    });
    const definition = agent({ model, tools: [slow] });
    const resultPromise = run(definition);
    await toolStarted;
    const [queued] = (await store.listRuns({ agent: definition.name })).runs;
    await store.requestCancel(queued!.id);
    const result = await resultPromise;
    expect(result.stopReason).toBe('cancelled');
    expect(result.status).toBe('cancelled');
  });

  it('ends with error on a non-retryable provider error, and retries retryable ones', async () => {
    const failing = createScriptedModel({
      replies: [new ProviderError({ provider: 'test', status: 400, message: 'bad request' })],
    });
    const failed = await run(agent({ model: failing }));
    expect(failed.stopReason).toBe('error');
    expect(failed.error?.code).toBe('provider_http_400');
    expect(failing.calls).toHaveLength(1);

    const flaky = createScriptedModel({
      replies: [
        new ProviderError({ provider: 'test', status: 503, message: 'overloaded', retryAfterMs: 10 }),
        'recovered',
      ],
    });
    const recovered = await run(agent({ model: flaky }));
    expect(recovered.stopReason).toBe('completed');
    expect(recovered.output).toBe('recovered');
    expect(flaky.calls).toHaveLength(2);
  });

  it("times out a model call after the agent's modelTimeoutMs, aborts it and retries in place", async () => {
    const inner = createScriptedModel({ replies: ['answered'] });
    const signals: AbortSignal[] = [];
    // The first call hangs until its signal aborts; the second answers.
    const hangsOnce: LanguageModel = {
      provider: 'test',
      modelId: 'hangs-once',
      generate: (request, options) => {
        signals.push(options!.signal!);
        if (signals.length > 1) return inner.generate(request, options);
        return new Promise((_resolve, reject) => {
          options!.signal!.addEventListener('abort', () => reject(new Error('aborted by the caller')));
        });
      },
      stream: (request, options) => inner.stream(request, options),
    };
    const result = await run(agent({ model: hangsOnce, limits: { modelTimeoutMs: 40 } }));
    expect(result).toMatchObject({ stopReason: 'completed', output: 'answered' });
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toMatchObject({ code: 'model_timeout', details: { timeoutMs: 40 } });
    const [step] = await store.loadSteps(result.id);
    expect(step).toMatchObject({ kind: 'model', status: 'completed', attempt: 2 });
    expect(step?.meta).toMatchObject({ attempts: 2, retries: [{ attempt: 1, code: 'model_timeout' }] });
  });

  it("hands Claude's thinking, read back from the journal, to the next turn with its signature", async () => {
    const upstream = await createFakeAnthropicServer({ script: [] });
    try {
      upstream.enqueue({
        thinking: 'Echo it.',
        toolUses: [{ id: 'toolu_1', name: 'echo', input: { text: 'x' } }],
      });
      upstream.enqueue({ text: 'echoed' });
      const claude = createAnthropicModel({
        model: 'claude-sonnet-4-5',
        apiKey: 'sk-ant-test',
        baseURL: upstream.url,
        env: {},
      });
      const result = await run(agent({ model: claude, tools: [echoTool] }));
      expect(result).toMatchObject({ stopReason: 'completed', output: 'echoed' });
      const second = upstream.requests.at(-1)?.body as { messages: { role: string; content: unknown }[] };
      expect(second.messages[1]).toEqual({
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Echo it.', signature: fakeSignature('Echo it.') },
          { type: 'tool_use', id: 'toolu_1', name: 'echo', input: { text: 'x' } },
        ],
      });
    } finally {
      await upstream.close();
    }
  });

  describe('a model call failing with a retryable error', () => {
    const overloaded = (retryAfterMs?: number) =>
      new ProviderError({
        provider: 'test',
        status: 503,
        message: 'overloaded',
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });

    it('is retried in place after a short wait, its attempts counted on the step', async () => {
      const model = createScriptedModel({ replies: [overloaded(20), overloaded(20), 'recovered'] });
      const events: RunEvent[] = [];
      const result = await run(agent({ model }), 'go', (event) => events.push(event));
      expect(result).toMatchObject({ stopReason: 'completed', output: 'recovered', attempts: 1 });
      expect(model.calls).toHaveLength(3);
      expect(events.some((event) => event.type === 'run-wait')).toBe(false);
      const [step] = await store.loadSteps(result.id);
      expect(step).toMatchObject({ kind: 'model', status: 'completed', attempt: 3 });
      expect(step?.meta).toMatchObject({
        attempts: 3,
        retries: [
          { attempt: 1, code: 'provider_http_503', released: false },
          { attempt: 2, code: 'provider_http_503', released: false },
        ],
      });
      expect((step?.meta?.retries as { waitMs: number }[])[0]!.waitMs).toBeGreaterThanOrEqual(20);
    });

    it('releases the run (status waiting, no worker) for a long wait; it resumes and completes', async () => {
      let toolRuns = 0;
      const counted = defineTool({
        name: 'counted',
        description: 'Counts its runs.',
        input: z.object({}),
        run: () => ++toolRuns,
      });
      const model = createScriptedModel({
        replies: [{ toolCalls: [{ name: 'counted', arguments: {} }] }, overloaded(400), 'recovered'],
      });
      const definition = agent({ model, tools: [counted], limits: { maxInPlaceWaitMs: 100 } });
      const seen: { status?: string; wait?: unknown; leaseOwner?: string | null }[] = [];
      const checks: Promise<void>[] = [];
      const result = await run(definition, 'go', (event) => {
        if (event.type !== 'run-wait') return;
        checks.push(
          store.getRun(event.runId).then((waiting) => {
            seen.push({ status: waiting?.status, wait: waiting?.wait, leaseOwner: waiting?.leaseOwner });
          }),
        );
      });
      await Promise.all(checks);
      expect(seen).toEqual([
        {
          status: 'waiting',
          leaseOwner: null,
          wait: {
            reason: 'provider_http_503',
            message: 'test: overloaded',
            until: expect.any(Date),
            seq: 2,
            attempts: 1,
          },
        },
      ]);
      // Resumed by a new claim (fence 2), which replays the finished steps (the tool does not run
      // again) and retries the call as attempt 2; resuming did not count as a new attempt.
      expect(result).toMatchObject({ stopReason: 'completed', output: 'recovered', fence: 2, attempts: 1 });
      expect(toolRuns).toBe(1);
      expect(model.calls).toHaveLength(3);
      const steps = await store.loadSteps(result.id);
      expect(steps.map((step) => `${step.seq}:${step.kind}:${step.status}:${step.attempt}`)).toEqual([
        '0:model:completed:1',
        '1:tool:completed:1',
        '2:model:completed:2',
      ]);
      const step = steps[2];
      expect(step?.meta).toMatchObject({
        attempts: 2,
        retries: [{ attempt: 1, code: 'provider_http_503', waitMs: 400, released: true }],
      });
    });

    it('ends the run at the attempt cap, the provider error as its cause', async () => {
      const model = createScriptedModel({ respond: () => overloaded(1) });
      const result = await run(agent({ model, limits: { modelAttempts: 3 } }));
      expect(result.stopReason).toBe('error');
      expect(result.error).toMatchObject({
        code: 'model_attempts_exhausted',
        fault: 'provider',
        details: { seq: 0, attempts: 3, cause: { code: 'provider_http_503', message: 'test: overloaded' } },
      });
      expect(model.calls).toHaveLength(3);
      const [step] = await store.loadSteps(result.id);
      expect(step).toMatchObject({ status: 'failed', attempt: 3, error: { code: 'provider_http_503' } });
      expect(step?.meta).toMatchObject({ attempts: 3, gaveUp: 'attempts' });
    });

    it('ends the run at once on a non-retryable error, even after retryable ones', async () => {
      const model = createScriptedModel({
        replies: [
          overloaded(1),
          new ProviderError({ provider: 'test', status: 422, message: 'unprocessable' }),
        ],
      });
      const result = await run(agent({ model }));
      expect(result.stopReason).toBe('error');
      expect(result.error).toMatchObject({ code: 'provider_http_422', retryable: false });
      expect(model.calls).toHaveLength(2);
      const [step] = await store.loadSteps(result.id);
      expect(step).toMatchObject({ status: 'failed', attempt: 2 });
    });

    it('ends the run with deadline when no retry fits before it, the provider error as its cause', async () => {
      const model = createScriptedModel({
        replies: [
          new ProviderError({ provider: 'test', status: 429, message: 'slow down', retryAfterMs: 60_000 }),
        ],
      });
      const result = await run(agent({ model, limits: { deadlineMs: 5_000 } }));
      expect(result.stopReason).toBe('deadline');
      expect(result.error).toMatchObject({
        code: 'deadline_exceeded',
        details: { deadlineMs: 5_000, attempts: 1, cause: { code: 'provider_http_429' } },
      });
      expect(model.calls).toHaveLength(1);
    });
  });

  it('sends unknown tools, invalid arguments and tool errors back to the model, and counts them', async () => {
    const broken = defineTool({
      name: 'broken',
      description: 'Always fails.',
      input: z.object({}),
      run: () => {
        throw new Error('boom');
      },
    });
    const model = createScriptedModel({
      replies: [
        {
          toolCalls: [
            { name: 'nope', arguments: {} },
            { name: 'echo', arguments: '{"text": ' },
            { name: 'echo', arguments: { text: 42 } },
            { name: 'broken', arguments: {} },
          ],
        },
        (request: ModelRequest) =>
          request.messages
            .filter((message) => message.role === 'tool')
            .map((message) =>
              message.role === 'tool' && message.isError
                ? JSON.parse(message.content as string).error.code
                : 'ok',
            )
            .join(','),
      ],
    });
    const result = await run(agent({ model, tools: [echoTool, broken] }));
    expect(result.stopReason).toBe('completed');
    expect(result.output).toBe('tool_unknown,tool_invalid_arguments,tool_invalid_arguments,tool_failed');
    const failedTools = (await store.loadSteps(result.id)).filter(
      (step) => step.kind === 'tool' && step.status === 'failed',
    );
    expect(failedTools).toHaveLength(4);
  });

  it('retries a failing tool up to its retries and times out a slow one', async () => {
    let attempts = 0;
    const flaky = defineTool({
      name: 'flaky',
      description: 'Fails twice.',
      input: z.object({}),
      retries: 2,
      run: () => {
        attempts++;
        if (attempts < 3) throw new Error('transient');
        return 'ok';
      },
    });
    const hang = defineTool({
      name: 'hang',
      description: 'Never answers.',
      input: z.object({}),
      timeoutMs: 50,
      run: () => new Promise(() => {}),
    });
    const model = createScriptedModel({
      replies: [
        {
          toolCalls: [
            { name: 'flaky', arguments: {} },
            { name: 'hang', arguments: {} },
          ],
        },
        (request: ModelRequest) =>
          request.messages
            .filter((message) => message.role === 'tool')
            .map((message) => message.content)
            .join(' | '),
      ],
    });
    const result = await run(agent({ model, tools: [flaky, hang] }));
    expect(attempts).toBe(3);
    expect(result.output).toMatch(/^ok \| .*tool_timeout/);
  });

  it('emits step and text events in one vocabulary', async () => {
    const events: RunEvent[] = [];
    const model = createScriptedModel({
      replies: [{ toolCalls: [{ name: 'echo', arguments: { text: 'x' } }] }, 'all done now'],
    });
    await run(agent({ model, tools: [echoTool] }), 'go', (event) => events.push(event));
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('run-start');
    expect(types.at(-1)).toBe('run-end');
    expect(types).toContain('step-start');
    expect(types).toContain('step-end');
    expect(
      events
        .filter((event) => event.type === 'text-delta')
        .map((event) => (event as { text: string }).text)
        .join(''),
    ).toContain('done');
  });
});

/** A model priced like gpt-4o, using 4000 input tokens per call. */
function pricedModel(reply: () => { toolCalls: { name: string; arguments: string }[] }): LanguageModel {
  const inner = createScriptedModel({
    respond: () => ({ ...reply(), usage: { inputTokens: 4000, outputTokens: 0 } }),
  });
  return {
    provider: 'openai',
    modelId: 'gpt-4o',
    generate: (request, options) =>
      inner
        .generate(request, options)
        .then((response): ModelResponse => ({ ...response, modelId: 'gpt-4o' })),
    stream: (request, options) => inner.stream(request, options),
  };
}
