import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGatewayModel } from '../gateway/gateway-model.js';
import { createGateway, type KeelGateway } from '../gateway/gateway.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { LanguageModel } from '../model/model.js';
import { createOpenAICompatibleModel } from '../model/providers/openai/adapter.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIServer,
} from '../testing/fake-openai-server.js';
import { parseJudgeVerdict } from './judge-verdict.js';
import { createLlmJudge, type LlmJudge } from './llm-judge.js';
import { createScorerContext, type ScoredStep } from './scorer.js';
import { scoreCase } from './score-case.js';
import { parseSuite } from './suite.js';

// A fresh server per test, so a reply one test scripted but never used cannot answer the next.
let server: FakeOpenAIServer;
beforeEach(async () => {
  server = await createFakeOpenAIServer();
});
afterEach(() => server.close());

/** gpt-4o-mini, priced at 0.15 USD per million input tokens and 0.60 per million output tokens. */
function openAIModel(
  model = 'gpt-4o-mini',
  provider: 'openai' | 'openai-compatible' = 'openai',
): LanguageModel {
  return createOpenAICompatibleModel({
    model,
    provider,
    apiKey: 'sk-judge-1234567890',
    baseURL: server.url,
    env: {},
  });
}

/** 1,000 input and 100 output tokens of gpt-4o-mini. */
const CALL_COST = (1_000 * 0.15 + 100 * 0.6) / 1_000_000;
const usage = { promptTokens: 1_000, completionTokens: 100 };
const answer = (content: string): FakeOpenAIReply => ({ content, usage });

function caseWith(expectations: unknown[]) {
  const text = JSON.stringify({ id: 'paris', input: 'Plan 3 days in Paris', expect: expectations });
  return parseSuite({ text, file: 'inline.jsonl' }).cases[0]!;
}

const weather: ScoredStep = {
  kind: 'tool',
  name: 'get_weather',
  arguments: { city: 'Paris' },
  output: { forecast: 'sunny' },
  ok: true,
};

/** Scores one case whose only expectation is the given llm_judge spec, against a fixed run. */
async function judged(judge: LlmJudge | undefined, spec: unknown = 'The plan covers three days in Paris.') {
  const evalCase = caseWith([{ llm_judge: spec }]);
  const context = createScorerContext({
    evalCase,
    output: 'Day 1: Louvre. Day 2: Montmartre. Day 3: Versailles.',
    stopReason: 'completed',
    steps: [{ kind: 'model', name: 'builtin', ok: true }, weather],
    costUsd: 0.002,
  });
  return scoreCase(evalCase, context, judge === undefined ? {} : { judge });
}

const sentMessages = (index: number) =>
  (server.requests[index]?.body as { messages: { role: string; content: string }[] }).messages;

describe('llm_judge at the wire (OpenAI chat completions)', () => {
  it('a pass verdict: the rubric, input, tool calls and output reach the judge; its cost is apart', async () => {
    server.enqueue(answer('{"pass": true, "score": 0.9, "reason": "Three days, all in Paris."}'));
    const judge = createLlmJudge({ model: openAIModel() });
    const result = await judged(judge);

    expect(result.verdict).toBe('pass');
    expect(result.results[0]).toMatchObject({
      scorer: 'llm_judge',
      pass: true,
      score: 0.9,
      reason: 'Three days, all in Paris.',
    });
    expect(result.results[0]!.costUsd).toBeCloseTo(CALL_COST, 12);
    expect(judge.costUsd).toBeCloseTo(CALL_COST, 12);
    expect(judge).toMatchObject({ calls: 1, unpricedCalls: 0 });

    const body = server.requests[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'gpt-4o-mini', response_format: { type: 'json_object' } });
    const [system, user] = sentMessages(0);
    expect(system).toMatchObject({ role: 'system' });
    expect(system!.content).toContain('"pass"');
    expect(user!.content).toContain('<rubric>\nThe plan covers three days in Paris.\n</rubric>');
    expect(user!.content).toContain('<agent_input>\nPlan 3 days in Paris\n</agent_input>');
    expect(user!.content).toContain('1. get_weather({"city":"Paris"}) -> {"forecast":"sunny"}');
    expect(user!.content).toContain('Day 1: Louvre. Day 2: Montmartre. Day 3: Versailles.');
  });

  it('a fail verdict makes the case fail, not error', async () => {
    server.enqueue(answer('{"pass": false, "score": 0.2, "reason": "Day 3 is not in Paris."}'));
    const judge = createLlmJudge({ model: openAIModel() });
    const result = await judged(judge);
    expect(result.verdict).toBe('fail');
    expect(result.results[0]).toMatchObject({ pass: false, score: 0.2, reason: 'Day 3 is not in Paris.' });
    expect(result.results[0]!.error).toBeUndefined();
  });

  it('reads a verdict in a code fence with text around it', async () => {
    server.enqueue(
      answer('My verdict:\n```json\n{"pass": true, "score": 1, "reason": "Fine."}\n```\nHope this helps.'),
    );
    const result = await judged(createLlmJudge({ model: openAIModel() }));
    expect(result.results[0]).toMatchObject({ pass: true, score: 1, reason: 'Fine.' });
  });

  it('asks once more after an unreadable answer, then gives an error verdict with both calls priced', async () => {
    server.enqueue(answer('The plan looks good to me.'));
    server.enqueue(answer('I would say it passes.'));
    const judge = createLlmJudge({ model: openAIModel() });
    const result = await judged(judge);

    expect(result.verdict).toBe('error');
    expect(result.results[0]).toMatchObject({
      scorer: 'llm_judge',
      pass: false,
      score: 0,
      error: { code: 'judge_answer_invalid', fault: 'model' },
    });
    expect(result.results[0]!.reason).toContain('did not answer a verdict');
    expect(result.results[0]!.costUsd).toBeCloseTo(2 * CALL_COST, 12);
    expect(judge.calls).toBe(2);
    expect(judge.costUsd).toBeCloseTo(2 * CALL_COST, 12);
    // The second ask carries the unreadable answer and the reminder.
    expect(server.requests).toHaveLength(2);
    const retry = sentMessages(1);
    expect(retry.slice(-2)).toMatchObject([
      { role: 'assistant', content: 'The plan looks good to me.' },
      { role: 'user', content: expect.stringContaining('only the JSON object') },
    ]);
  });

  it('an unreadable answer followed by a verdict passes', async () => {
    server.enqueue(answer('Sure! It passes.'));
    server.enqueue(answer('{"pass": true, "score": 0.8, "reason": "Covers the three days."}'));
    const judge = createLlmJudge({ model: openAIModel() });
    const result = await judged(judge);
    expect(result.verdict).toBe('pass');
    expect(result.results[0]!.costUsd).toBeCloseTo(2 * CALL_COST, 12);
  });

  it('a provider that fails (500) gives an error verdict, not a fail, and is not asked again', async () => {
    server.enqueue({ kind: 'error', status: 500, message: 'upstream exploded' });
    const judge = createLlmJudge({ model: openAIModel() });
    const result = await judged(judge);
    expect(result.verdict).toBe('error');
    expect(result.results[0]).toMatchObject({
      pass: false,
      error: {
        code: 'judge_failed',
        fault: 'provider',
        details: { model: 'openai:gpt-4o-mini', cause: 'provider_http_500', costUsd: 0 },
      },
      costUsd: 0,
    });
    expect(result.results[0]!.reason).toContain('upstream exploded');
    expect(server.requests).toHaveLength(1);
    expect(judge.costUsd).toBe(0);
  });

  it('a judge that does not answer in time gives an error verdict', async () => {
    server.enqueue({ kind: 'hang' });
    const result = await judged(createLlmJudge({ model: openAIModel(), timeoutMs: 100 }));
    expect(result.verdict).toBe('error');
    expect(result.results[0]!.error).toMatchObject({
      code: 'judge_failed',
      details: { cause: 'model_timeout' },
    });
  });

  it('counts a model the price table does not know as unpriced, at 0', async () => {
    server.enqueue(answer('{"pass": true, "score": 1, "reason": "ok"}'));
    const judge = createLlmJudge({ model: openAIModel('llama3:8b', 'openai-compatible') });
    const result = await judged(judge);
    expect(result.results[0]).toMatchObject({ pass: true, costUsd: 0 });
    expect(judge).toMatchObject({ calls: 1, unpricedCalls: 1, costUsd: 0 });
  });
});

describe('choosing the judge model', () => {
  let gateway: KeelGateway;
  beforeEach(() => {
    gateway = createGateway({
      config: {
        deployments: [
          {
            name: 'mini',
            provider: 'openai',
            model: 'gpt-4o-mini',
            baseURL: server.url,
            apiKeyEnv: 'KEY_MINI',
          },
        ],
        routes: [{ name: 'judge', deployments: ['mini'] }],
        retry: { attemptsPerDeployment: 2, baseMs: 1, capMs: 5 },
      },
      env: { KEY_MINI: 'sk-test-mini-0123456789' },
    });
  });
  afterEach(() => gateway.close());
  /** A resolver as the eval command passes one: `gateway:<route>` through the configured gateway. */
  const references: string[] = [];
  beforeEach(() => {
    references.length = 0;
  });
  const throughGateway = (reference: string) => {
    references.push(reference);
    return createGatewayModel({ gateway, route: reference.replace(/^gateway:/, '') });
  };

  it("a spec's model overrides the default, resolved through the gateway and priced by its deployment", async () => {
    server.enqueue(answer('{"pass": true, "score": 1, "reason": "Good."}'));
    const unused = createScriptedModel({ replies: [new Error('the default judge must not be called')] });
    const judge = createLlmJudge({ model: unused, resolveModel: throughGateway });
    const result = await judged(judge, { rubric: 'Three days in Paris.', model: 'gateway:judge' });
    expect(result.verdict).toBe('pass');
    expect(references).toEqual(['gateway:judge']);
    expect(unused.calls).toHaveLength(0);
    expect(server.requests).toHaveLength(1);
    expect(result.results[0]!.costUsd).toBeCloseTo(CALL_COST, 12);
  });

  it('a default given as a reference is resolved once and reused', async () => {
    server.enqueue(answer('{"pass": true, "score": 1, "reason": "Good."}'));
    server.enqueue(answer('{"pass": false, "score": 0, "reason": "Bad."}'));
    const judge = createLlmJudge({ model: 'gateway:judge', resolveModel: throughGateway });
    expect((await judged(judge)).verdict).toBe('pass');
    expect((await judged(judge)).verdict).toBe('fail');
    expect(references).toEqual(['gateway:judge']);
    expect(judge.costUsd).toBeCloseTo(2 * CALL_COST, 12);
  });

  it('a gateway whose deployments all fail gives an error verdict', async () => {
    // Both attempts on the one deployment fail.
    for (let attempt = 0; attempt < 2; attempt++)
      server.enqueue({ kind: 'error', status: 503, message: 'overloaded' });
    const judge = createLlmJudge({ model: 'gateway:judge', resolveModel: throughGateway });
    const result = await judged(judge);
    expect(result.verdict).toBe('error');
    expect(result.results[0]!.error?.code).toBe('judge_failed');
    expect(server.requests).toHaveLength(2);
  });

  it('without a judge model, an llm_judge spec is an error verdict saying so', async () => {
    const noDefault = await judged(createLlmJudge({ resolveModel: throughGateway }));
    expect(noDefault.verdict).toBe('error');
    expect(noDefault.results[0]).toMatchObject({ scorer: 'llm_judge', error: { code: 'scorer_invalid' } });
    expect(noDefault.results[0]!.reason).toContain('no judge model');
    const noJudge = await judged(undefined);
    expect(noJudge.verdict).toBe('error');
    expect(noJudge.results[0]!.reason).toContain('no judge model is configured');
  });

  it('a model reference that does not resolve is an error verdict', async () => {
    const judge = createLlmJudge({ resolveModel: throughGateway });
    const result = await judged(judge, { rubric: 'Anything.', model: 'gateway:nope' });
    expect(result.verdict).toBe('error');
    expect(result.results[0]!.error?.code).toBe('model_config_invalid');
  });
});

describe('a scripted judge', () => {
  it('is asked with the session history and judges with its own answer', async () => {
    const model = createScriptedModel({ replies: ['{"pass": true, "score": 0.5, "reason": "Half of it."}'] });
    const judge = createLlmJudge({ model });
    const text = JSON.stringify({
      id: 'follow-up',
      input: 'And for Rome?',
      session: [
        { role: 'user', content: 'Plan 3 days in Paris' },
        { role: 'assistant', content: 'Day 1: Louvre...' },
      ],
      expect: [{ llm_judge: 'Answers about Rome, keeping the three days.' }],
    });
    const evalCase = parseSuite({ text, file: 'inline.jsonl' }).cases[0]!;
    const context = createScorerContext({
      evalCase,
      output: 'Rome: three days.',
      stopReason: 'completed',
      steps: [],
    });
    const result = await scoreCase(evalCase, context, { judge });
    expect(result.results[0]).toMatchObject({ pass: true, score: 0.5, costUsd: 0 });
    const prompt = model.calls[0]!.messages[1]!.content;
    expect(prompt).toContain('user: Plan 3 days in Paris\nassistant: Day 1: Louvre...');
    expect(prompt).toContain('<tool_calls count="0">\n(none)\n</tool_calls>');
  });
});

describe('parseJudgeVerdict', () => {
  it('reads plain, fenced and embedded verdicts', () => {
    expect(parseJudgeVerdict('{"pass": true, "score": 0.7, "reason": "ok"}')).toEqual({
      pass: true,
      score: 0.7,
      reason: 'ok',
    });
    expect(parseJudgeVerdict('```\n{"pass": false, "score": 0, "reason": "no"}\n```')).toMatchObject({
      pass: false,
    });
    expect(
      parseJudgeVerdict('Sure. {"pass": true, "score": 1, "reason": "uses {braces} and \\"quotes\\""} Done.'),
    ).toEqual({ pass: true, score: 1, reason: 'uses {braces} and "quotes"' });
    // The first object is not a verdict; the second is.
    expect(parseJudgeVerdict('Input was {"city": "Paris"}; verdict: {"pass": false, "reason": "x"}')).toEqual(
      {
        pass: false,
        score: 0,
        reason: 'x',
      },
    );
  });

  it('is lenient on types a model gets slightly wrong', () => {
    expect(parseJudgeVerdict('{"pass": "true", "score": "0.5", "reason": "fine"}')).toEqual({
      pass: true,
      score: 0.5,
      reason: 'fine',
    });
    expect(parseJudgeVerdict('{"pass": true}')).toEqual({
      pass: true,
      score: 1,
      reason: '(the judge gave no reason)',
    });
    // The object inside an array is still the verdict.
    expect(parseJudgeVerdict('[{"pass": false}]')).toMatchObject({ pass: false, score: 0 });
  });

  it('refuses what is not a verdict', () => {
    expect(parseJudgeVerdict('It passes.')).toBeUndefined();
    expect(parseJudgeVerdict('{"pass": "maybe", "score": 0.5}')).toBeUndefined();
    expect(parseJudgeVerdict('{"pass": true, "score": 7}')).toBeUndefined();
    expect(parseJudgeVerdict('{"pass": true, "score": null}')).toBeUndefined();
    expect(parseJudgeVerdict('{"pass": true, "reason": "cut off')).toBeUndefined();
  });
});
