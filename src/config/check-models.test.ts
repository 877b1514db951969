import { describe, expect, it } from 'vitest';
import { createBuiltinModel } from '../model/builtin-model.js';
import { defineAgent, type Agent } from '../runtime/agent.js';
import { migrate } from '../journal/migrations.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import { createReadinessCheck } from '../server/readiness.js';
import { assertAgentModels, checkAgentModels } from './check-models.js';
import type { LoadedConfig } from './load-config.js';

const agent = (name: string, model: Agent['model'], limits: Agent['limits'] = {}) =>
  defineAgent({ name, instructions: 'Help.', model, limits });
const configOf = (agents: Agent[], extra: Partial<LoadedConfig> = {}) => ({
  path: '/app/keel.config.ts',
  agents: new Map(agents.map((a) => [a.name, a])),
  ...extra,
});

describe('checkAgentModels', () => {
  it('passes resolvable, keyed models and the builtin model with no keys at all', () => {
    const statuses = checkAgentModels(
      configOf([agent('a', 'openai:gpt-4o-mini', { maxCostUsd: 1 }), agent('b', 'builtin:echo')]),
      { env: { OPENAI_API_KEY: 'sk-test' } },
    );
    expect(statuses).toEqual([
      { agent: 'a', model: 'openai:gpt-4o-mini', ok: true, problems: [] },
      { agent: 'b', model: 'builtin:echo', ok: true, problems: [] },
    ]);
  });

  it('names the agent and field of each problem: unknown provider, missing key, unknown route', () => {
    const statuses = checkAgentModels(
      configOf([
        agent('typo', 'opneai:gpt-4o-mini'),
        agent('nokey', 'anthropic:claude-sonnet-4-5'),
        agent('routed', 'gateway:fast'),
      ]),
      { env: {} },
    );
    const problems = statuses.flatMap((status) => status.problems);
    expect(problems).toEqual([
      expect.objectContaining({ agent: 'typo', field: 'model', code: 'model_config_invalid' }),
      expect.objectContaining({ agent: 'nokey', field: 'model', code: 'model_config_invalid' }),
      expect.objectContaining({ agent: 'routed', field: 'model', code: 'gateway_route_unknown' }),
    ]);
    expect(problems[0]!.message).toMatch(/unknown provider "opneai"/);
    expect(problems[1]!.message).toMatch(/ANTHROPIC_API_KEY/);
    expect(problems[2]!.message).toMatch(/no gateway section/);
  });

  it('accepts a gateway route the config defines', () => {
    const gateway = {
      deployments: [{ name: 'd', provider: 'openai', model: 'gpt-4o-mini' }],
      routes: [{ name: 'fast', deployments: ['d'] }],
    };
    const [status] = checkAgentModels(configOf([agent('routed', 'gateway:fast')], { gateway }), { env: {} });
    expect(status).toMatchObject({ ok: true });
    const [missing] = checkAgentModels(configOf([agent('routed', 'gateway:slow')], { gateway }), { env: {} });
    expect(missing!.problems[0]!.message).toMatch(/names no gateway route\. Routes: fast/);
  });

  it('accepts a name a pattern route answers, priced as that name on a passthrough deployment', () => {
    const gateway = {
      deployments: [{ name: 'openai', provider: 'openai', model: '*' }],
      routes: [{ name: 'gpt-*', deployments: ['openai'] }],
    };
    const [priced, unpriced, unmatched] = checkAgentModels(
      configOf(
        [
          agent('known', 'gateway:gpt-4o-mini', { maxCostUsd: 1 }),
          agent('unknown', 'gateway:gpt-nonexistent-9', { maxCostUsd: 1 }),
          agent('other', 'gateway:claude-opus-4-1'),
        ],
        { gateway },
      ),
      { env: {} },
    );
    expect(priced).toMatchObject({ ok: true });
    expect(unpriced!.problems.map((problem) => problem.code)).toEqual(['model_price_unknown']);
    expect(unmatched!.problems.map((problem) => problem.code)).toEqual(['gateway_route_unknown']);
  });

  it("prices a gateway model as its route's first deployment under a dollar cap", () => {
    const gateway = {
      deployments: [
        { name: 'priced', provider: 'gemini', model: 'gemini-2.5-flash' },
        {
          name: 'local',
          provider: 'openai-compatible',
          model: 'llama3',
          baseURL: 'http://127.0.0.1:8000/v1',
        },
      ],
      routes: [
        { name: 'cloud', deployments: ['priced'] },
        { name: 'home', deployments: ['local'] },
      ],
    };
    const statuses = checkAgentModels(
      configOf(
        [
          agent('cloud', 'gateway:cloud', { maxCostUsd: 1 }),
          agent('home', 'gateway:home', { maxCostUsd: 1 }),
        ],
        { gateway },
      ),
      { env: {} },
    );
    expect(statuses[0]).toMatchObject({ ok: true });
    expect(statuses[1]!.problems).toEqual([
      expect.objectContaining({
        field: 'limits.maxCostUsd',
        code: 'model_price_unknown',
        message: expect.stringContaining('openai-compatible:llama3'),
      }),
    ]);
  });

  it('wants a known price under a dollar cap: the agent limit, or a budget that applies to it', () => {
    const env = { OPENAI_API_KEY: 'sk-test' };
    const unpriced = 'openai:my-finetune';
    expect(checkAgentModels(configOf([agent('free', unpriced)]), { env })[0]!.ok).toBe(true);
    const capped = checkAgentModels(configOf([agent('capped', unpriced, { maxCostUsd: 5 })]), { env });
    expect(capped[0]!.problems).toEqual([
      expect.objectContaining({ field: 'limits.maxCostUsd', code: 'model_price_unknown' }),
    ]);
    const budgets = [
      { scope: 'agent', scopeId: 'other', period: 'month', limitUsd: 10, tenantId: 'default' },
      { scope: 'tenant', scopeId: 'default', period: 'month', limitUsd: 100, tenantId: 'default' },
    ] as unknown as LoadedConfig['budgets'];
    const underBudget = checkAgentModels(configOf([agent('spender', unpriced)], { budgets }), { env });
    expect(underBudget[0]!.problems.map((problem) => problem.field)).toEqual(['budgets[1].limitUsd']);
  });

  it('prices a model object by its provider and id', () => {
    const statuses = checkAgentModels(
      configOf([agent('local', createBuiltinModel('echo'), { maxCostUsd: 1 })]),
    );
    expect(statuses[0]).toMatchObject({ model: 'builtin:echo', ok: true });
  });
});

describe('assertAgentModels', () => {
  it('throws config_invalid (exit 3) listing every problem with agent and field', () => {
    const attempt = () =>
      assertAgentModels(
        configOf([agent('typo', 'opneai:gpt-4o-mini'), agent('nokey', 'gemini:gemini-2.5-flash')]),
        {
          env: {},
        },
      );
    expect(attempt).toThrow(
      expect.objectContaining({
        code: 'config_invalid',
        message: expect.stringMatching(
          /2 agent models cannot be used:\n {2}- agent "typo" model: .*\n {2}- agent "nokey" model: .*GEMINI_API_KEY/,
        ),
      }),
    );
  });
});

describe('/readyz model report', () => {
  it('is ready only when every model passed, and lists each agent', async () => {
    const client = await createPgliteClient();
    try {
      await migrate(client);
      const good = checkAgentModels(configOf([agent('b', 'builtin:echo')]));
      expect(await createReadinessCheck({ client, models: good })()).toMatchObject({
        ok: true,
        models: { ok: true, agents: [{ agent: 'b', model: 'builtin:echo', ok: true, problems: [] }] },
      });
      const bad = checkAgentModels(configOf([agent('typo', 'opneai:gpt-4o-mini')]), { env: {} });
      const report = await createReadinessCheck({ client, models: bad })();
      expect(report).toMatchObject({ ok: false, database: 'reachable', models: { ok: false } });
      expect(report.models?.agents[0]?.problems[0]).toMatch(/^model: .*unknown provider/);
    } finally {
      await client.close();
    }
  });
});
