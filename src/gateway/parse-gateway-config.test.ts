import { describe, expect, it } from 'vitest';
import { createScriptedModel } from '../model/builtin-model.js';
import { createGateway } from './gateway.js';
import { parseGatewayConfig } from './parse-gateway-config.js';

const deployment = {
  name: 'local',
  provider: 'openai-compatible',
  model: 'llama',
  baseURL: 'http://127.0.0.1:9/v1',
};

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('gateway config validation', () => {
  it('fills defaults and keeps a ready languageModel', () => {
    const languageModel = createScriptedModel({ replies: ['hi'] });
    const config = parseGatewayConfig({
      deployments: [{ ...deployment, languageModel } as never],
      routes: [{ name: 'fast', deployments: ['local'] }],
    });
    expect(config.retry).toEqual({
      attemptsPerDeployment: 2,
      baseMs: 200,
      capMs: 5_000,
      maxRetryAfterMs: 10_000,
    });
    expect(config.deployments[0]?.languageModel).toBe(languageModel);
    expect(parseGatewayConfig(config).deployments[0]?.languageModel).toBe(languageModel);
  });

  it('rejects unknown deployments and fallbacks, duplicates and fallback cycles', () => {
    expect(
      thrownBy(() =>
        parseGatewayConfig({
          deployments: [deployment, deployment],
          routes: [{ name: 'fast', deployments: ['local', 'ghost'], fallbacks: ['nowhere'] }],
        }),
      ),
    ).toMatchObject({
      code: 'config_invalid',
      details: {
        problems: [
          'deployment "local" is defined twice',
          'route "fast" uses unknown deployment "ghost"',
          'route "fast" falls back to unknown route "nowhere"',
        ],
      },
    });
    const cycle = thrownBy(() =>
      parseGatewayConfig({
        deployments: [deployment],
        routes: [
          { name: 'a', deployments: ['local'], fallbacks: ['b'] },
          { name: 'b', deployments: ['local'], fallbacks: ['c'] },
          { name: 'c', deployments: ['local'], fallbacks: ['a'] },
        ],
      }),
    );
    expect(cycle).toMatchObject({ code: 'config_invalid' });
    expect((cycle as Error).message).toContain('a → b → c → a');
  });

  it("normalizes a route's cache to { enabled, scope, callerOptIn }, per tenant by default", () => {
    const cacheOf = (cache: unknown) =>
      parseGatewayConfig({
        deployments: [deployment],
        routes: [{ name: 'fast', deployments: ['local'], cache } as never],
      }).routes[0]?.cache;
    expect(cacheOf(undefined)).toEqual({ enabled: false, scope: 'tenant', callerOptIn: false });
    expect(cacheOf(true)).toEqual({ enabled: true, scope: 'tenant', callerOptIn: false });
    expect(cacheOf(false)).toEqual({ enabled: false, scope: 'tenant', callerOptIn: false });
    expect(cacheOf({ scope: 'global' })).toEqual({ enabled: true, scope: 'global', callerOptIn: false });
    expect(cacheOf({ enabled: false, callerOptIn: true })).toEqual({
      enabled: false,
      scope: 'tenant',
      callerOptIn: true,
    });
  });

  it('rejects bad cache settings with config_invalid, naming the field', () => {
    const problems: [unknown, string, RegExp][] = [
      [{ scope: 'tenants' }, 'routes.0.cache', /scope\?: "tenant" \| "global"/],
      ['yes', 'routes.0.cache', /expected true, false or/],
      [{ scop: 'global' }, 'routes.0.cache', /Unrecognized key: "scop"/],
      [{ enabled: 'yes' }, 'routes.0.cache', /expected true, false or/],
      // Opting in is meaningless where the cache is on already: most likely a misunderstanding.
      [{ callerOptIn: true }, 'routes.0.cache.callerOptIn', /set enabled: false/],
    ];
    for (const [cache, path, message] of problems) {
      const error = thrownBy(() =>
        parseGatewayConfig({
          deployments: [deployment],
          routes: [{ name: 'fast', deployments: ['local'], cache } as never],
        }),
      );
      expect(error, JSON.stringify(cache)).toMatchObject({
        code: 'config_invalid',
        details: { issues: [{ path }] },
      });
      expect((error as { details: { issues: { message: string }[] } }).details.issues[0]?.message).toMatch(
        message,
      );
    }
  });

  it('rejects what the schema rejects', () => {
    expect(thrownBy(() => parseGatewayConfig({ deployments: [], routes: [] }))).toMatchObject({
      code: 'config_invalid',
    });
  });

  it('fails gateway creation on a missing key, naming the deployment and the variable', () => {
    const error = thrownBy(() =>
      createGateway({
        config: {
          deployments: [
            { name: 'openai-east', provider: 'openai', model: 'gpt-4o-mini', apiKeyEnv: 'OPENAI_KEY_EAST' },
          ],
          routes: [{ name: 'fast', deployments: ['openai-east'] }],
        },
        env: {},
      }),
    );
    expect(error).toMatchObject({
      code: 'config_invalid',
      details: { deployment: 'openai-east', variable: 'OPENAI_KEY_EAST' },
    });
    expect((error as Error).message).toContain('OPENAI_KEY_EAST');
    const defaultVariable = thrownBy(() =>
      createGateway({
        config: {
          deployments: [{ name: 'openai-west', provider: 'openai', model: 'gpt-4o-mini' }],
          routes: [{ name: 'fast', deployments: ['openai-west'] }],
        },
        env: {},
      }),
    );
    expect(defaultVariable).toMatchObject({
      details: { deployment: 'openai-west', variable: 'OPENAI_API_KEY' },
    });
  });

  it('requires a baseURL for openai-compatible and azure-openai deployments', () => {
    for (const provider of ['openai-compatible', 'azure-openai']) {
      expect(
        thrownBy(() =>
          createGateway({
            config: {
              deployments: [{ name: 'x', provider, model: 'm', apiKeyEnv: 'KEY' }],
              routes: [{ name: 'r', deployments: ['x'] }],
            },
            env: { KEY: 'secret-key-value' },
          }),
        ),
      ).toMatchObject({ code: 'config_invalid', details: { deployment: 'x' } });
    }
  });
});
