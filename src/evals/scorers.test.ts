import { describe, expect, it } from 'vitest';
import { createScorerContext, defineScorer, type ScoredStep } from './scorer.js';
import { parseSuite } from './suite.js';
import { scoreCase } from './score-case.js';

/** Parses one case with the given expectations, so specs go through the real suite parser. */
function caseWith(expectations: unknown[]) {
  const text = JSON.stringify({ id: 'c', input: 'plan a trip', expect: expectations });
  return parseSuite({ text, file: 'inline.jsonl' }).cases[0]!;
}

const weather: ScoredStep = {
  kind: 'tool',
  name: 'get_weather',
  arguments: { city: 'Paris', days: 3 },
  ok: true,
};
const hotels: ScoredStep = {
  kind: 'tool',
  name: 'find_hotels',
  arguments: { city: 'Paris', tags: ['quiet', 'central'] },
  ok: true,
};
const model: ScoredStep = { kind: 'model', name: 'builtin', ok: true };

async function score(
  expectation: unknown,
  run: Partial<{
    output: unknown;
    steps: ScoredStep[];
    stopReason: string;
    costUsd: number;
    latencyMs: number;
  }> = {},
) {
  const evalCase = caseWith([expectation]);
  const context = createScorerContext({
    evalCase,
    output: run.output ?? 'Three days in Paris: museums, then Montmartre.',
    stopReason: run.stopReason ?? 'completed',
    steps: run.steps ?? [model, weather, model, hotels, model],
    costUsd: run.costUsd ?? 0.002,
    latencyMs: run.latencyMs ?? 120,
  });
  const result = await scoreCase(evalCase, context);
  return result.results[0]!;
}

describe('text scorers', () => {
  it('contains and not_contains, with ignore_case and lists', async () => {
    expect((await score({ contains: 'Paris' })).pass).toBe(true);
    expect((await score({ contains: 'paris' })).pass).toBe(false);
    expect((await score({ contains: { value: 'paris', ignore_case: true } })).pass).toBe(true);
    const partial = await score({ contains: ['Paris', 'Louvre'] });
    expect(partial).toMatchObject({ pass: false, score: 0.5 });
    expect(partial.reason).toContain('"Louvre"');
    expect((await score({ not_contains: 'London' })).pass).toBe(true);
    expect((await score({ not_contains: { value: ['london', 'MONTMARTRE'], ignore_case: true } })).pass).toBe(
      false,
    );
  });

  it('regex and equals', async () => {
    expect((await score({ regex: '\\b\\w+ days' })).pass).toBe(true);
    expect((await score({ regex: '^paris' })).pass).toBe(false);
    expect((await score({ regex: { pattern: '^three', flags: 'i' } })).pass).toBe(true);
    expect((await score({ equals: 'ok' }, { output: '  ok\n' })).pass).toBe(true);
    expect((await score({ equals: { value: 'ok', trim: false } }, { output: ' ok' })).pass).toBe(false);
    expect((await score({ equals: { value: 'OK', ignore_case: true } }, { output: 'ok' })).pass).toBe(true);
    expect((await score({ equals: 'ok' }, { output: 'not ok' })).pass).toBe(false);
  });

  it('json_schema parses the output (also fenced) and validates it', async () => {
    const schema = {
      type: 'object',
      properties: { days: { type: 'integer', minimum: 1 } },
      required: ['days'],
    };
    expect((await score({ json_schema: { schema } }, { output: '{"days": 3}' })).pass).toBe(true);
    expect((await score({ json_schema: { schema } }, { output: '```json\n{"days": 2}\n```' })).pass).toBe(
      true,
    );
    expect((await score({ json_schema: { schema } }, { output: { days: 4 } })).pass).toBe(true);
    const wrong = await score({ json_schema: { schema } }, { output: '{"days": 0}' });
    expect(wrong.pass).toBe(false);
    expect(wrong.reason).toContain('days');
    const notJson = await score({ json_schema: { schema } }, { output: 'three days' });
    expect(notJson).toMatchObject({ pass: false });
    expect(notJson.reason).toContain('not JSON');
  });
});

describe('run scorers', () => {
  it('max_steps, max_cost_usd, max_latency_ms', async () => {
    expect((await score({ max_steps: 5 })).pass).toBe(true);
    expect((await score({ max_steps: 4 })).pass).toBe(false);
    expect((await score({ max_cost_usd: 0.01 })).pass).toBe(true);
    expect((await score({ max_cost_usd: { max: 0.001 } })).pass).toBe(false);
    expect((await score({ max_latency_ms: 200 })).pass).toBe(true);
    const slow = await score({ max_latency_ms: 100 });
    expect(slow).toMatchObject({ pass: false, score: 0 });
    expect(slow.reason).toBe('120 ms > 100 ms');
  });

  it('stop_reason, one or several', async () => {
    expect((await score({ stop_reason: 'completed' })).pass).toBe(true);
    expect((await score({ stop_reason: 'completed' }, { stopReason: 'max_steps' })).pass).toBe(false);
    expect(
      (await score({ stop_reason: ['rejected', 'guard_blocked'] }, { stopReason: 'guard_blocked' })).pass,
    ).toBe(true);
  });
});

describe('tool_called', () => {
  it('checks the name, argument matchers and the count', async () => {
    expect((await score({ tool_called: 'get_weather' })).pass).toBe(true);
    expect((await score({ tool_called: 'book_hotel' })).pass).toBe(false);
    expect((await score({ tool_called: { name: 'book_hotel', max: 0 } })).pass).toBe(true);
    expect((await score({ tool_called: { name: 'get_weather', min: 2 } })).pass).toBe(false);
    expect((await score({ tool_called: { name: 'get_weather', arguments: { city: 'Paris' } } })).pass).toBe(
      true,
    );
    const wrongCity = await score({ tool_called: { name: 'get_weather', arguments: { city: 'Rome' } } });
    expect(wrongCity.pass).toBe(false);
    expect(wrongCity.reason).toContain('city is "Paris", expected "Rome"');
    expect(
      (await score({ tool_called: { name: 'get_weather', arguments: { city: { regex: '^Par' } } } })).pass,
    ).toBe(true);
    expect(
      (
        await score({
          tool_called: { name: 'get_weather', arguments: { city: { regex: '^rom', flags: 'i' } } },
        })
      ).pass,
    ).toBe(false);
    expect(
      (await score({ tool_called: { name: 'find_hotels', arguments: { tags: { contains: 'quiet' } } } }))
        .pass,
    ).toBe(true);
    expect(
      (await score({ tool_called: { name: 'find_hotels', arguments: { city: { contains: 'ari' } } } })).pass,
    ).toBe(true);
    expect(
      (await score({ tool_called: { name: 'find_hotels', arguments: { tags: { contains: 'cheap' } } } }))
        .pass,
    ).toBe(false);
    expect(
      (await score({ tool_called: { name: 'get_weather', arguments: { days: { any: true } } } })).pass,
    ).toBe(true);
    expect(
      (await score({ tool_called: { name: 'get_weather', arguments: { month: { any: true } } } })).pass,
    ).toBe(false);
  });
});

describe('trajectory', () => {
  const steps = [model, weather, model, hotels, model];
  const both = ['get_weather', 'find_hotels'];

  it('strict: the same calls in the same order', async () => {
    expect((await score({ trajectory: { mode: 'strict', steps: both } }, { steps })).pass).toBe(true);
    const swapped = await score({ trajectory: { steps: ['find_hotels', 'get_weather'] } }, { steps });
    expect(swapped).toMatchObject({ pass: false, score: 0 });
    expect(swapped.reason).toContain('tool call 1: expected find_hotels, got get_weather');
    const short = await score({ trajectory: { steps: ['get_weather'] } }, { steps });
    expect(short).toMatchObject({ pass: false, score: 0.5 });
  });

  it('unordered: the same calls in any order', async () => {
    expect(
      (await score({ trajectory: { mode: 'unordered', steps: ['find_hotels', 'get_weather'] } }, { steps }))
        .pass,
    ).toBe(true);
    expect((await score({ trajectory: { mode: 'unordered', steps: ['get_weather'] } }, { steps })).pass).toBe(
      false,
    );
  });

  it('subset: every call made was expected', async () => {
    const expected = ['get_weather', 'find_hotels', 'book_hotel'];
    expect((await score({ trajectory: { mode: 'subset', steps: expected } }, { steps })).pass).toBe(true);
    const extra = await score({ trajectory: { mode: 'subset', steps: ['get_weather'] } }, { steps });
    expect(extra).toMatchObject({ pass: false, score: 0.5 });
    expect(extra.reason).toContain('unexpected find_hotels');
  });

  it('superset: every expected call was made', async () => {
    expect((await score({ trajectory: { mode: 'superset', steps: ['find_hotels'] } }, { steps })).pass).toBe(
      true,
    );
    const missing = await score(
      { trajectory: { mode: 'superset', steps: ['find_hotels', 'book_hotel'] } },
      { steps },
    );
    expect(missing.pass).toBe(false);
    expect(missing.reason).toContain('missing book_hotel');
  });

  it('uses argument matchers and counts calls as a multiset', async () => {
    const matchers = [
      { name: 'get_weather', arguments: { city: { regex: '^Par' } } },
      { name: 'find_hotels', arguments: { city: 'Paris' } },
    ];
    expect((await score({ trajectory: { mode: 'strict', steps: matchers } }, { steps })).pass).toBe(true);
    const wrong = [{ name: 'get_weather', arguments: { city: 'Rome' } }, 'find_hotels'];
    expect((await score({ trajectory: { mode: 'unordered', steps: wrong } }, { steps })).pass).toBe(false);
    const near = await score({ trajectory: { mode: 'superset', steps: wrong } }, { steps });
    expect(near.reason).toContain('(get_weather was called, but city is "Paris", expected "Rome")');
    const again = await score(
      { trajectory: { mode: 'superset', steps: ['get_weather', 'get_weather'] } },
      { steps },
    );
    expect(again.reason).toContain('(get_weather was called only 1 time(s))');
    const twice = [model, weather, weather];
    expect(
      (await score({ trajectory: { mode: 'subset', steps: ['get_weather'] } }, { steps: twice })).pass,
    ).toBe(false);
    expect(
      (await score({ trajectory: { mode: 'superset', steps: ['get_weather'] } }, { steps: twice })).pass,
    ).toBe(true);
  });

  it('an empty expected trajectory in strict mode means no tool calls', async () => {
    expect((await score({ trajectory: { steps: [] } }, { steps: [model] })).pass).toBe(true);
    expect((await score({ trajectory: { steps: [] } }, { steps })).pass).toBe(false);
  });
});

describe('custom scorers and scoreCase', () => {
  const wordCount = defineScorer({
    name: 'short_answer',
    score: ({ outputText }) => {
      const words = outputText.split(/\s+/).length;
      return { pass: words <= 10, score: Math.min(1, 10 / words), reason: `${words} words` };
    },
  });

  it('runs a custom scorer by name and gives the case verdict', async () => {
    const evalCase = caseWith([{ custom: 'short_answer' }, { contains: 'Paris' }]);
    const context = createScorerContext({
      evalCase,
      output: 'Paris, three days.',
      stopReason: 'completed',
      steps: [],
    });
    const passed = await scoreCase(evalCase, context, { scorers: { short_answer: wordCount } });
    expect(passed).toMatchObject({ caseId: 'c', verdict: 'pass', score: 1 });
    const long = createScorerContext({
      evalCase,
      output: 'word '.repeat(20) + 'Paris',
      stopReason: 'completed',
      steps: [],
    });
    const failed = await scoreCase(evalCase, long, { scorers: new Map([['short_answer', wordCount]]) });
    expect(failed.verdict).toBe('fail');
    expect(failed.results[0]).toMatchObject({ scorer: 'short_answer', pass: false, reason: '21 words' });
  });

  it('a scorer that throws, returns nonsense or is missing makes the case error, not fail', async () => {
    const broken = defineScorer({
      name: 'broken',
      score: () => {
        throw new Error('judge unreachable');
      },
    });
    const nonsense = defineScorer({ name: 'nonsense', score: () => ({ pass: true, score: 2, reason: '' }) });
    const evalCase = caseWith([{ contains: 'nope' }, { custom: 'broken' }]);
    const context = createScorerContext({ evalCase, output: 'x', stopReason: 'completed', steps: [] });
    const result = await scoreCase(evalCase, context, { scorers: { broken } });
    expect(result.verdict).toBe('error');
    expect(result.results[1]).toMatchObject({
      scorer: 'broken',
      pass: false,
      error: { message: 'judge unreachable' },
    });
    const odd = caseWith([{ custom: 'nonsense' }]);
    expect((await scoreCase(odd, context, { scorers: { nonsense } })).verdict).toBe('error');
    const missing = await scoreCase(caseWith([{ custom: 'absent' }]), context);
    expect(missing.verdict).toBe('error');
    expect(missing.results[0]!.error?.code).toBe('scorer_invalid');
    const judge = await scoreCase(caseWith([{ llm_judge: 'Is the plan realistic?' }]), context);
    expect(judge.verdict).toBe('error');
    expect(judge.results[0]!).toMatchObject({ scorer: 'llm_judge', error: { code: 'scorer_invalid' } });
    expect(judge.results[0]!.reason).toContain('no judge model is configured');
  });

  it('defineScorer rejects a bad name', () => {
    expect(() =>
      defineScorer({ name: 'has space', score: () => ({ pass: true, score: 1, reason: '' }) }),
    ).toThrow(expect.objectContaining({ code: 'scorer_invalid' }));
  });
});
