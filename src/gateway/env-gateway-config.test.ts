import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../testing/fake-anthropic-server.js';
import { createFakeGeminiServer, type FakeGeminiServer } from '../testing/fake-gemini-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { describeEnvRoutes, envGatewayConfig } from './env-gateway-config.js';
import { createGateway } from './gateway.js';
import { parseGatewayConfig } from './parse-gateway-config.js';

let openai: FakeOpenAIServer;
let anthropic: FakeAnthropicServer;
let gemini: FakeGeminiServer;

beforeAll(async () => {
  openai = await createFakeOpenAIServer({ handler: () => ({ content: 'from OpenAI' }) });
  anthropic = await createFakeAnthropicServer({ handler: () => ({ text: 'from Claude' }) });
  gemini = await createFakeGeminiServer({ handler: () => ({ text: 'from Gemini' }) });
});
afterAll(async () => {
  await Promise.all([openai?.close(), anthropic?.close(), gemini?.close()]);
});

const ask = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'Hi' }] });

describe('gateway routes from the environment', () => {
  it('is undefined when no provider key is set', () => {
    expect(envGatewayConfig({})).toBeUndefined();
    expect(
      envGatewayConfig({ OPENAI_API_KEY: '  ', ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' }),
    ).toBeUndefined();
  });

  it('routes claude-* to Anthropic, gemini-* to Gemini and every other name to OpenAI, at each base URL', async () => {
    const env = {
      OPENAI_API_KEY: 'sk-openai',
      OPENAI_BASE_URL: openai.url,
      ANTHROPIC_API_KEY: 'sk-ant',
      ANTHROPIC_BASE_URL: anthropic.url,
      GEMINI_API_KEY: 'AIzaTestKey1234567890abcdef',
      GEMINI_BASE_URL: gemini.url,
    };
    const built = envGatewayConfig(env);
    expect(built?.providers.map(({ provider, route }) => [provider, route])).toEqual([
      ['anthropic', 'claude-*'],
      ['gemini', 'gemini-*'],
      ['openai', '*'],
    ]);
    expect(describeEnvRoutes(built!.providers)).toEqual([
      `model names claude-* → anthropic at ${anthropic.url} (key from ANTHROPIC_API_KEY)`,
      `model names gemini-* → gemini at ${gemini.url} (key from GEMINI_API_KEY)`,
      `every other model name (not claude-*, gemini-*) → openai at ${openai.url} (key from OPENAI_API_KEY)`,
    ]);
    const gateway = createGateway({ config: built!.config, env });
    try {
      const claude = await gateway.generate(ask('claude-opus-4-1'));
      expect(claude.meta).toMatchObject({ deployment: 'anthropic', model: 'claude-opus-4-1' });
      expect(anthropic.requests.at(-1)?.headers['x-api-key']).toBe('sk-ant');
      expect((anthropic.requests.at(-1)?.body as { model: string }).model).toBe('claude-opus-4-1');

      const flash = await gateway.generate(ask('gemini-2.5-flash'));
      expect(flash.meta).toMatchObject({ deployment: 'gemini', model: 'gemini-2.5-flash' });
      expect(gemini.requests.at(-1)?.path).toContain('/models/gemini-2.5-flash:generateContent');

      const gpt = await gateway.generate(ask('o3-mini'));
      expect(gpt.meta).toMatchObject({ deployment: 'openai', model: 'o3-mini' });
      expect((openai.requests.at(-1)?.body as { model: string }).model).toBe('o3-mini');

      // Budgets price a name by the model it runs, not by the pattern.
      expect(gateway.describeRoute('claude-opus-4-1')).toMatchObject({
        provider: 'anthropic',
        model: 'claude-opus-4-1',
      });
      expect(gateway.routes()).toEqual(['claude-*', 'gemini-*', '*']);
      // A pattern is not itself a model name.
      await expect(gateway.generate(ask('claude-*'))).rejects.toMatchObject({ code: 'unknown_model' });
    } finally {
      await gateway.close();
    }
  });

  it('takes GOOGLE_API_KEY for Gemini (the table agents use), and without OpenAI has no catch-all', async () => {
    const env = { GOOGLE_API_KEY: 'AIzaTestKey1234567890abcdef', GEMINI_BASE_URL: gemini.url };
    const built = envGatewayConfig(env);
    expect(built?.providers).toEqual([
      { provider: 'gemini', route: 'gemini-*', keyVariable: 'GOOGLE_API_KEY', baseURL: gemini.url },
    ]);
    const gateway = createGateway({ config: built!.config, env });
    try {
      await expect(gateway.generate(ask('gpt-4o'))).rejects.toMatchObject({ code: 'unknown_model' });
      expect((await gateway.generate(ask('gemini-2.0-flash'))).meta.model).toBe('gemini-2.0-flash');
    } finally {
      await gateway.close();
    }
  });

  it('routes every name to an OpenAI-compatible server named by OPENAI_BASE_URL alone, without a key', async () => {
    const built = envGatewayConfig({ OPENAI_BASE_URL: openai.url });
    expect(built?.providers).toEqual([
      { provider: 'openai-compatible', route: '*', keyVariable: undefined, baseURL: openai.url },
    ]);
    const gateway = createGateway({ config: built!.config, env: {} });
    try {
      expect((await gateway.generate(ask('llama3.2'))).meta.model).toBe('llama3.2');
      expect(openai.requests.at(-1)?.headers.authorization).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});

describe('pattern routes in a gateway section', () => {
  const deployment = {
    name: 'any',
    provider: 'openai-compatible',
    model: '*',
    baseURL: 'http://127.0.0.1:9/v1',
  };

  it('accepts a name ending in * and refuses a star elsewhere', () => {
    expect(() =>
      parseGatewayConfig({ deployments: [deployment], routes: [{ name: 'gpt-*', deployments: ['any'] }] }),
    ).not.toThrow();
    expect(() =>
      parseGatewayConfig({ deployments: [deployment], routes: [{ name: 'g*t', deployments: ['any'] }] }),
    ).toThrow(/optionally ending in \*/);
  });

  it('refuses a passthrough deployment on an exact route, and a fallback to a pattern', () => {
    expect(() =>
      parseGatewayConfig({ deployments: [deployment], routes: [{ name: 'fast', deployments: ['any'] }] }),
    ).toThrow(/route "fast" uses deployment "any", whose model "\*" only a pattern route/);
    const fixed = { ...deployment, name: 'fixed', model: 'gpt-4o' };
    expect(() =>
      parseGatewayConfig({
        deployments: [deployment, fixed],
        routes: [
          { name: 'gpt-*', deployments: ['any'] },
          { name: 'fast', deployments: ['fixed'], fallbacks: ['gpt-*'] },
        ],
      }),
    ).toThrow(/falls back to the pattern route "gpt-\*"/);
  });

  it('prefers an exact route, then the longest pattern', async () => {
    const gateway = createGateway({
      config: {
        deployments: [
          { name: 'wide', provider: 'openai-compatible', model: '*', baseURL: openai.url },
          { name: 'narrow', provider: 'openai-compatible', model: '*', baseURL: openai.url },
          { name: 'pinned', provider: 'openai-compatible', model: 'gpt-4o', baseURL: openai.url },
        ],
        routes: [
          { name: '*', deployments: ['wide'] },
          { name: 'gpt-4*', deployments: ['narrow'] },
          { name: 'gpt-4.1', deployments: ['pinned'] },
        ],
      },
      env: {},
    });
    try {
      expect((await gateway.generate(ask('gpt-4o-mini'))).meta).toMatchObject({
        deployment: 'narrow',
        model: 'gpt-4o-mini',
      });
      expect((await gateway.generate(ask('gpt-4.1'))).meta).toMatchObject({
        deployment: 'pinned',
        model: 'gpt-4o',
      });
      expect((await gateway.generate(ask('mistral-large'))).meta).toMatchObject({ deployment: 'wide' });
    } finally {
      await gateway.close();
    }
  });
});
