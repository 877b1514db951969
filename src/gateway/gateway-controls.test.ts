/**
 * The gateway's runtime-control hooks: a deployment disabled at runtime is skipped from its next
 * attempt, and the spend of calls made outside runs is reported with their tenant (the spend
 * breakers' feed). Real local upstreams speaking OpenAI's protocol.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createGateway, type CreateGatewayOptions, type KeelGateway } from './gateway.js';

const servers: FakeOpenAIServer[] = [];
const gateways: KeelGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Route `main` over `d0` then `d1` (fallback order fixed: each is its own route). */
async function gatewayWith(options: Omit<CreateGatewayOptions, 'config'>): Promise<KeelGateway> {
  const started = await Promise.all(
    [0, 1].map((index) =>
      createFakeOpenAIServer({
        handler: () => ({
          content: `from d${index}`,
          usage: { promptTokens: 1000, completionTokens: 1000 },
        }),
      }),
    ),
  );
  servers.push(...started);
  const gateway = createGateway({
    config: {
      deployments: started.map((server, index) => ({
        name: `d${index}`,
        provider: 'openai',
        model: 'gpt-4o-mini',
        baseURL: server.url,
        apiKeyEnv: 'KEY',
      })),
      routes: [
        { name: 'main', deployments: ['d0'], fallbacks: ['backup'] },
        { name: 'backup', deployments: ['d1'] },
      ],
      retry: { baseMs: 1, capMs: 5 },
    },
    env: { KEY: 'sk-test-0123456789' },
    ...options,
  });
  gateways.push(gateway);
  return gateway;
}

const ask = () => ({ model: 'main', messages: [{ role: 'user' as const, content: 'hi' }] });

describe('gateway runtime controls', () => {
  it('skips a disabled deployment from its next call, and fails clearly when all are disabled', async () => {
    const disabled = new Set<string>();
    const gateway = await gatewayWith({ isDeploymentDisabled: (name) => disabled.has(name) });
    expect((await gateway.generate(ask())).meta.deployment).toBe('d0');
    disabled.add('d0');
    expect((await gateway.generate(ask())).meta.deployment).toBe('d1');
    disabled.add('d1');
    await expect(gateway.generate(ask())).rejects.toMatchObject({
      code: 'gateway_unavailable',
      details: { skipped: { d0: 'disabled', d1: 'disabled' } },
    });
    disabled.clear();
    expect((await gateway.generate(ask())).meta.deployment).toBe('d0');
  });

  it('reports the cost of calls made outside runs with their tenant, not of calls of a run', async () => {
    const spent: { tenantId: string; costUsd: number }[] = [];
    const gateway = await gatewayWith({ onSpend: (spend) => spent.push(spend) });
    const { meta } = await gateway.generate(ask(), { caller: { keyId: 'key_1', tenantId: 'acme' } });
    await gateway.generate(ask(), {
      caller: { keyId: 'key_1', tenantId: 'acme' },
      runId: 'run_1',
      tenantId: 'acme',
    });
    expect(meta.costUsd).toBeGreaterThan(0);
    expect(spent).toEqual([{ tenantId: 'acme', costUsd: meta.costUsd }]);
  });
});
