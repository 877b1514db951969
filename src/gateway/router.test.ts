import { describe, expect, it } from 'vitest';
import { isKeelError } from '../errors/keel-error.js';
import { createRouter } from './router.js';

/** A seeded uniform [0, 1) generator (mulberry32), so distributions are reproducible. */
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

const deployment = (name: string, weight = 1) => ({ name, weight });
const route = (name: string, deployments: string[], fallbacks: string[] = []) => ({
  name,
  deployments,
  fallbacks,
  cache: { enabled: false, scope: 'tenant' as const, callerOptIn: false },
});

const deployments = new Map(
  [
    deployment('openai-key-1', 3),
    deployment('openai-key-2', 1),
    deployment('azure-east', 1),
    deployment('azure-west', 1),
    deployment('local', 1),
  ].map((item) => [item.name, item]),
);

describe('router', () => {
  it('splits traffic by weight across deployments (several keys of one provider)', () => {
    const router = createRouter({
      routes: [route('smart', ['openai-key-1', 'openai-key-2'])],
      deployments,
      random: seededRandom(42),
    });
    const firsts = new Map<string, number>();
    for (let call = 0; call < 400; call++) {
      const plan = router.plan('smart');
      expect(plan.map((item) => item.name).sort()).toEqual(['openai-key-1', 'openai-key-2']);
      const first = plan[0]?.name ?? '';
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    // Expected 300 / 100; three standard deviations of a binomial(400, 0.25) is about 26.
    expect(firsts.get('openai-key-1')).toBeGreaterThan(300 - 26);
    expect(firsts.get('openai-key-1')).toBeLessThan(300 + 26);
    expect((firsts.get('openai-key-1') ?? 0) + (firsts.get('openai-key-2') ?? 0)).toBe(400);
  });

  it('puts fallback routes after the route, depth first, each deployment once', () => {
    const router = createRouter({
      routes: [
        route('smart', ['openai-key-1'], ['azure', 'cheap']),
        route('azure', ['azure-east', 'azure-west'], ['cheap']),
        route('cheap', ['local', 'openai-key-1']),
      ],
      deployments,
      random: seededRandom(1),
    });
    const orders = new Set<string>();
    for (let call = 0; call < 50; call++)
      orders.add(
        router
          .plan('smart')
          .map((item) => item.name)
          .join(','),
      );
    expect([...orders].sort()).toEqual([
      'openai-key-1,azure-east,azure-west,local',
      'openai-key-1,azure-west,azure-east,local',
    ]);
  });

  it('returns the same fixed plan when there is nothing to choose', () => {
    const router = createRouter({
      routes: [route('one', ['local'], ['two']), route('two', ['azure-east'])],
      deployments,
      random: () => {
        throw new Error('no random needed');
      },
    });
    expect(router.plan('one').map((item) => item.name)).toEqual(['local', 'azure-east']);
    expect(router.plan('one')).toBe(router.plan('one'));
  });

  it('rejects an unknown route with unknown_model, listing the known ones', () => {
    const router = createRouter({
      routes: [route('smart', ['local']), route('fast', ['local'])],
      deployments,
      random: Math.random,
    });
    let thrown: unknown;
    try {
      router.plan('gpt-5');
    } catch (error) {
      thrown = error;
    }
    expect(isKeelError(thrown)).toBe(true);
    expect(thrown).toMatchObject({
      code: 'unknown_model',
      fault: 'caller',
      details: { model: 'gpt-5', known: ['smart', 'fast'] },
    });
    expect(String((thrown as Error).message)).toContain('smart, fast');
    expect(router.routes()).toEqual(['smart', 'fast']);
  });
});

describe('pattern routes', () => {
  const made: string[] = [];
  const patternDeployments = new Map(
    [deployment('any'), deployment('claude'), deployment('pinned')].map((d) => [d.name, d]),
  );
  const router = createRouter({
    routes: [route('*', ['any']), route('claude-*', ['claude'], ['exact']), route('exact', ['pinned'])],
    deployments: patternDeployments,
    random: () => 0,
    forModel: (found, model) => {
      made.push(`${found.name}/${model}`);
      return { ...found, name: `${found.name}/${model}` };
    },
  });

  it('answers a name by its exact route, else the longest pattern, made for that name', () => {
    expect(router.plan('exact').map((d) => d.name)).toEqual(['pinned']);
    expect(router.plan('claude-opus-4-1').map((d) => d.name)).toEqual(['claude/claude-opus-4-1', 'pinned']);
    expect(router.plan('mistral-large').map((d) => d.name)).toEqual(['any/mistral-large']);
    expect(router.route('claude-opus-4-1').name).toBe('claude-opus-4-1');
    expect(router.members('claude-opus-4-1').map((d) => d.name)).toEqual(['claude/claude-opus-4-1']);
    expect(router.has('anything')).toBe(true);
    expect(router.routes()).toEqual(['*', 'claude-*', 'exact']);
  });

  it('makes a name once, and keeps a bounded number of names', () => {
    made.length = 0;
    router.plan('gpt-x');
    router.plan('gpt-x');
    expect(made).toEqual(['any/gpt-x']);
    for (let index = 0; index < 1_001; index++) router.plan(`model-${index}`);
    made.length = 0;
    router.plan('gpt-x'); // dropped as the oldest: made again
    expect(made).toEqual(['any/gpt-x']);
  });

  it('never takes a pattern itself as a model name', () => {
    expect(() => router.plan('claude-*')).toThrow(/Unknown model "claude-\*"/);
    expect(router.has('*')).toBe(false);
  });
});
