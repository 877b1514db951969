import { afterEach, beforeEach, expect, it } from 'vitest';
import { createGateway, type KeelGateway } from '../src/gateway/gateway.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../src/testing/fake-anthropic-server.js';
import { createFakeGeminiServer, type FakeGeminiServer } from '../src/testing/fake-gemini-server.js';

let anthropic: FakeAnthropicServer;
let gemini: FakeGeminiServer;
let gateway: KeelGateway;

beforeEach(async () => {
  anthropic = await createFakeAnthropicServer();
  gemini = await createFakeGeminiServer();
  gateway = createGateway({
    config: {
      deployments: [
        {
          name: 'claude',
          provider: 'anthropic',
          model: 'claude-sonnet-4-20250514',
          baseURL: anthropic.url,
          apiKeyEnv: 'ANTHROPIC_KEY',
        },
        {
          name: 'gemini',
          provider: 'gemini',
          model: 'gemini-2.5-flash',
          baseURL: gemini.url,
          apiKeyEnv: 'GEMINI_KEY',
        },
      ],
      routes: [
        { name: 'smart', deployments: ['claude'], fallbacks: ['backup'] },
        { name: 'backup', deployments: ['gemini'] },
      ],
      retry: { attemptsPerDeployment: 2, baseMs: 1, capMs: 5, maxRetryAfterMs: 2_000 },
    },
    env: { ANTHROPIC_KEY: 'sk-ant-test', GEMINI_KEY: 'gm-test' },
  });
});
afterEach(async () => {
  await gateway.close();
  await anthropic.close();
  await gemini.close();
});

const request = {
  model: 'smart',
  messages: [{ role: 'user' as const, content: 'Plan a day in Rome.' }],
  maxOutputTokens: 100,
};

it('honors Anthropic’s Retry-After on 429, then falls back to Gemini when Anthropic is overloaded (529)', async () => {
  anthropic.enqueue({ kind: 'error', status: 429, retryAfter: 1 });
  anthropic.enqueue({ kind: 'error', status: 529 });
  gemini.enqueue({ text: 'Colosseum, then pasta.', usage: { promptTokens: 12, candidatesTokens: 6 } });
  const started = performance.now();
  const { response, meta } = await gateway.generate(request);
  expect(performance.now() - started).toBeGreaterThanOrEqual(950); // waited the 1 s Retry-After once
  expect(response.message.content).toBe('Colosseum, then pasta.');
  expect(meta).toMatchObject({
    route: 'smart',
    deployment: 'gemini',
    provider: 'gemini',
    attempts: 3,
    outcome: 'ok',
  });
  expect(anthropic.requests.at(-1)!.headers['x-api-key']).toBe('sk-ant-test');
  expect(gemini.requests.at(-1)!.headers['x-goog-api-key']).toBe('gm-test');
});

it('streams from Anthropic, and a stream cut after the first byte is an explicit error, not a clean end', async () => {
  anthropic.enqueue({
    kind: 'truncated',
    // Cut just before message_stop: text deltas reach the caller first.
    reply: { text: 'The Pantheon at nine, then the Forum.', chunkSize: 4 },
  });
  const stream = await gateway.stream(request);
  expect(stream.meta.deployment).toBe('claude');
  const seen: string[] = [];
  await expect(
    (async () => {
      for await (const event of stream.events) seen.push(event.type);
    })(),
  ).rejects.toMatchObject({ code: expect.stringMatching(/model_output_invalid|upstream/) as unknown });
  expect(seen).not.toContain('finish');
  expect((await stream.done).outcome).toBe('error');
});

it('falls back to Gemini when Anthropic’s stream breaks before its first byte reached the caller', async () => {
  anthropic.enqueue({ kind: 'truncated', reply: { text: 'never seen' }, afterEvents: 1 });
  anthropic.enqueue({ kind: 'reset' });
  gemini.enqueue({ text: 'Trastevere at dusk.' });
  const stream = await gateway.stream(request);
  expect(stream.meta).toMatchObject({ deployment: 'gemini', attempts: 3 });
  let text = '';
  for await (const event of stream.events) if (event.type === 'text-delta') text += event.text;
  expect(text).toBe('Trastevere at dusk.');
  expect((await stream.done).outcome).toBe('ok');
});
