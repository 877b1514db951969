import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelConfigError } from '../errors/model-errors.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../testing/fake-anthropic-server.js';
import { createFakeGeminiServer, type FakeGeminiServer } from '../testing/fake-gemini-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import type { LanguageModel } from './model.js';
import {
  registeredModelProviders,
  registerModelProvider,
  resolveModel,
  type ModelProviderFactory,
} from './resolve-model.js';

let server: FakeOpenAIServer;
let anthropicServer: FakeAnthropicServer;
let geminiServer: FakeGeminiServer;
beforeAll(async () => {
  server = await createFakeOpenAIServer();
  anthropicServer = await createFakeAnthropicServer();
  geminiServer = await createFakeGeminiServer();
});
afterAll(async () => {
  await Promise.all([server.close(), anthropicServer.close(), geminiServer.close()]);
});

function stubModel(provider: string, modelId: string): LanguageModel {
  return {
    provider,
    modelId,
    generate: () => Promise.reject(new Error('not used')),
    stream: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('not used')) }),
    }),
  };
}

function configError(action: () => unknown): ModelConfigError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelConfigError);
    expect(error).toMatchObject({ code: 'model_config_invalid', fault: 'caller', retryable: false });
    return error as ModelConfigError;
  }
  throw new Error('expected a ModelConfigError');
}

describe('resolveModel', () => {
  it('passes a LanguageModel through', () => {
    const model = stubModel('custom', 'mine');
    expect(resolveModel(model)).toBe(model);
  });

  it('resolves openai:<model> with OPENAI_API_KEY and OPENAI_BASE_URL', async () => {
    const model = resolveModel('openai:gpt-4o-mini', {
      env: { OPENAI_API_KEY: 'sk-resolve-123456', OPENAI_BASE_URL: server.url },
    });
    expect(model).toMatchObject({ provider: 'openai', modelId: 'gpt-4o-mini' });
    server.enqueue({ content: 'hi' });
    const response = await model.generate({ messages: [{ role: 'user', content: 'Hello' }] });
    expect(response.message.content).toBe('hi');
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer sk-resolve-123456');
    expect(server.requests.at(-1)?.body).toMatchObject({ model: 'gpt-4o-mini' });
  });

  it('needs OPENAI_API_KEY for openai:<model>', () => {
    const error = configError(() => resolveModel('openai:gpt-4o', { env: {} }));
    expect(error.message).toContain('OPENAI_API_KEY');
    expect(error.details).toMatchObject({ reference: 'openai:gpt-4o', variable: 'OPENAI_API_KEY' });
  });

  it('resolves openai-compatible:<model> against OPENAI_BASE_URL, without a key', async () => {
    const model = resolveModel('openai-compatible:llama3:8b', { env: { OPENAI_BASE_URL: server.url } });
    // Everything after the first colon is the model id.
    expect(model).toMatchObject({ provider: 'openai-compatible', modelId: 'llama3:8b' });
    server.enqueue({ content: 'local' });
    await model.generate({ messages: [{ role: 'user', content: 'Hello' }] });
    expect(server.requests.at(-1)?.body).toMatchObject({ model: 'llama3:8b' });
    expect(server.requests.at(-1)?.headers).not.toHaveProperty('authorization');
  });

  it('needs OPENAI_BASE_URL for openai-compatible:<model>', () => {
    const error = configError(() =>
      resolveModel('openai-compatible:llama3', { env: { OPENAI_API_KEY: 'sk-x' } }),
    );
    expect(error.message).toContain('OPENAI_BASE_URL');
  });

  it('passes the injected fetch to the adapter', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    server.enqueue({ content: 'ok' });
    await resolveModel('openai-compatible:m', {
      env: { OPENAI_BASE_URL: server.url },
      fetch: counting,
    }).generate({
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(calls).toBe(1);
  });

  it('rejects unknown prefixes and malformed references, naming the known providers', () => {
    const unknown = configError(() => resolveModel('acme:model-1', { env: {} }));
    expect(unknown.message).toContain('unknown provider "acme"');
    expect(unknown.message).toContain('openai-compatible');
    for (const reference of ['gpt-4o', 'openai:', ':gpt-4o', '', 'constructor:x']) {
      configError(() => resolveModel(reference, { env: {} }));
    }
  });

  it('resolves anthropic:<model> with ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL', async () => {
    const model = resolveModel('anthropic:claude-haiku-4-5', {
      env: { ANTHROPIC_API_KEY: 'sk-ant-resolve-123456', ANTHROPIC_BASE_URL: anthropicServer.url },
    });
    expect(model).toMatchObject({ provider: 'anthropic', modelId: 'claude-haiku-4-5' });
    anthropicServer.enqueue({ text: 'hi from claude' });
    const response = await model.generate({ messages: [{ role: 'user', content: 'Hello' }] });
    expect(response.message.content).toBe('hi from claude');
    expect(anthropicServer.requests.at(-1)?.headers['x-api-key']).toBe('sk-ant-resolve-123456');
    expect(anthropicServer.requests.at(-1)?.body).toMatchObject({ model: 'claude-haiku-4-5' });
  });

  it('needs ANTHROPIC_API_KEY for anthropic:<model>', () => {
    const error = configError(() => resolveModel('anthropic:claude-haiku-4-5', { env: {} }));
    expect(error.message).toContain('ANTHROPIC_API_KEY');
    expect(error.details).toMatchObject({ variable: 'ANTHROPIC_API_KEY' });
  });

  it('resolves gemini:<model> with GEMINI_API_KEY or GOOGLE_API_KEY, priced as google', async () => {
    for (const env of [
      { GEMINI_API_KEY: 'AIzaResolveGemini123', GEMINI_BASE_URL: geminiServer.url },
      { GOOGLE_API_KEY: 'AIzaResolveGoogle123', GEMINI_BASE_URL: geminiServer.url },
    ]) {
      const model = resolveModel('gemini:gemini-2.5-flash', { env });
      expect(model).toMatchObject({ provider: 'google', modelId: 'gemini-2.5-flash' });
      geminiServer.enqueue({ text: 'hi from gemini' });
      expect((await model.generate({ messages: [{ role: 'user', content: 'Hello' }] })).message.content).toBe(
        'hi from gemini',
      );
      expect(geminiServer.requests.at(-1)?.headers['x-goog-api-key']).toBe(
        env.GEMINI_API_KEY ?? env.GOOGLE_API_KEY,
      );
      expect(geminiServer.requests.at(-1)?.model).toBe('gemini-2.5-flash');
    }
  });

  it('needs GEMINI_API_KEY or GOOGLE_API_KEY for gemini:<model>', () => {
    const error = configError(() =>
      resolveModel('gemini:gemini-2.5-flash', { env: { GEMINI_API_KEY: ' ' } }),
    );
    expect(error.message).toContain('GEMINI_API_KEY');
    expect(error.message).toContain('GOOGLE_API_KEY');
  });

  it('lists the new prefixes', () => {
    expect(registeredModelProviders()).toEqual(
      expect.arrayContaining(['anthropic', 'builtin', 'gemini', 'openai', 'openai-compatible']),
    );
  });

  it('resolves builtin:<name> to the built-in models', () => {
    expect(resolveModel('builtin:echo', { env: {} })).toMatchObject({ provider: 'builtin' });
    configError(() => resolveModel('builtin:no-such-model', { env: {} }));
  });

  it('uses per-call providers before registered ones', () => {
    const model = resolveModel('openai:special', {
      env: {},
      providers: { openai: ({ modelId }) => stubModel('stub', modelId) },
    });
    expect(model).toMatchObject({ provider: 'stub', modelId: 'special' });
  });
});

describe('registerModelProvider', () => {
  it('makes a prefix resolvable until unregistered', () => {
    const seen: unknown[] = [];
    const factory: ModelProviderFactory = (options) => {
      seen.push(options);
      return stubModel('acme', options.modelId);
    };
    const unregister = registerModelProvider('acme', factory);
    try {
      expect(registeredModelProviders()).toContain('acme');
      const env = { SOME: 'value' };
      expect(resolveModel('acme:rocket', { env })).toMatchObject({ provider: 'acme', modelId: 'rocket' });
      expect(seen).toEqual([{ modelId: 'rocket', reference: 'acme:rocket', env }]);
    } finally {
      unregister();
    }
    expect(registeredModelProviders()).not.toContain('acme');
    configError(() => resolveModel('acme:rocket', { env: {} }));
  });

  it('restores the earlier factory when an override is removed', () => {
    const unregister = registerModelProvider('openai', ({ modelId }) => stubModel('override', modelId));
    expect(resolveModel('openai:x', { env: {} }).provider).toBe('override');
    unregister();
    configError(() => resolveModel('openai:x', { env: {} }));
    expect(resolveModel('openai:x', { env: { OPENAI_API_KEY: 'sk-x' } }).provider).toBe('openai');
  });

  it('rejects invalid prefixes', () => {
    configError(() => registerModelProvider('Bad Prefix', () => stubModel('x', 'y')));
    configError(() => registerModelProvider('a:b', () => stubModel('x', 'y')));
  });
});
