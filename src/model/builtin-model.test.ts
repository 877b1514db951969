import { describe, expect, it } from 'vitest';
import { isKeelError } from '../errors/keel-error.js';
import { collect } from '../testing/provider-test-harness.js';
import {
  createBuiltinModel,
  createRuleModel,
  createScriptedModel,
  listBuiltinModels,
  registerBuiltinModel,
} from './builtin-model.js';
import type {
  LanguageModel,
  Message,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
  ToolCall,
} from './model.js';

const weatherSpec = {
  name: 'weather',
  description: 'Weather',
  parameters: { type: 'object', properties: {} },
};

function request(...messages: Message[]): ModelRequest {
  return { messages: [{ role: 'system', content: 'Be brief.' }, ...messages] };
}

const user = (content: string): Message => ({ role: 'user', content });
const assistant = (content: string, toolCalls?: ToolCall[]): Message =>
  toolCalls ? { role: 'assistant', content, toolCalls } : { role: 'assistant', content };

/** Rebuilds a response from stream deltas, as a streaming caller would. */
function assemble(events: ModelStreamEvent[]): {
  text: string;
  toolCalls: ToolCall[];
  finish: ModelResponse;
} {
  let text = '';
  const toolCalls: ToolCall[] = [];
  let finish: ModelResponse | undefined;
  for (const event of events) {
    if (event.type === 'text-delta') text += event.text;
    else if (event.type === 'tool-call-delta') {
      const call = (toolCalls[event.index] ??= { id: '', name: '', arguments: '' });
      if (event.id) call.id = event.id;
      if (event.name) call.name = event.name;
      call.arguments += event.argumentsDelta;
    } else if (event.type === 'finish') finish = event.response;
  }
  if (!finish) throw new Error('stream ended without finish');
  return { text, toolCalls, finish };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isKeelError(error) ? error.code : String(error);
  }
  return 'resolved';
}

describe('createScriptedModel', () => {
  it('picks the reply by the number of assistant messages, not by a call counter', async () => {
    const replies = ['first', 'second', 'third'];
    const model = createScriptedModel({ replies });
    const turnTwo = request(user('hi'), assistant('first'), user('more'));

    expect((await model.generate(turnTwo)).message.content).toBe('second');
    expect((await model.generate(turnTwo)).message.content).toBe('second');
    expect((await model.generate(request(user('hi')))).message.content).toBe('first');

    // A fresh instance, as in a process resuming the run, continues where the request says.
    const resumed = createScriptedModel({ replies });
    const turnThree = request(user('hi'), assistant('first'), user('more'), assistant('second'));
    expect((await resumed.generate(turnThree)).message.content).toBe('third');
    expect(model.provider).toBe('builtin');
    expect(model.modelId).toBe('scripted');
  });

  it('answers with a respond function and with function entries', async () => {
    const model = createScriptedModel({
      respond: (modelRequest) => `you said ${modelRequest.messages.length} things`,
      modelId: 'parrot',
    });
    expect((await model.generate(request(user('a')))).message.content).toBe('you said 2 things');
    expect(model.modelId).toBe('parrot');

    const scripted = createScriptedModel({
      replies: [(modelRequest) => ({ text: `${modelRequest.messages.length}` })],
    });
    expect((await scripted.generate(request(user('a')))).message.content).toBe('2');
  });

  it('records copies of the requests it received', async () => {
    const model = createScriptedModel({ replies: ['ok'] });
    const sent = request(user('hello'));
    await model.generate(sent);
    sent.messages.push(user('mutated later'));
    expect(model.calls).toEqual([request(user('hello'))]);
  });

  it('returns tool calls with deterministic ids and JSON arguments', async () => {
    const replies = [
      {
        text: 'Checking.',
        toolCalls: [
          { name: 'weather', arguments: { city: 'Lisbon', month: 5 } },
          { name: 'places', arguments: '{"city": "Lisb' },
          { name: 'clock', id: 'call_fixed' },
        ],
      },
    ];
    const sent = { ...request(user('Lisbon in May')), tools: [weatherSpec] };
    const first = await createScriptedModel({ replies }).generate(sent);
    const replayed = await createScriptedModel({ replies }).generate(structuredClone(sent));

    const calls = first.message.toolCalls ?? [];
    expect(calls.map((call) => call.name)).toEqual(['weather', 'places', 'clock']);
    expect(calls[0]?.arguments).toBe('{"city":"Lisbon","month":5}');
    expect(calls[1]?.arguments).toBe('{"city": "Lisb');
    expect(calls[2]).toEqual({ id: 'call_fixed', name: 'clock', arguments: '{}' });
    expect(calls[0]?.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(calls[0]?.id).not.toBe(calls[1]?.id);
    expect(replayed).toEqual(first);
    expect(first.finishReason).toBe('tool_calls');

    const otherRequest = await createScriptedModel({ replies }).generate(request(user('Porto')));
    expect(otherRequest.message.toolCalls?.[0]?.id).not.toBe(calls[0]?.id);
  });

  it('estimates usage at about four characters per token, unless the reply sets it', async () => {
    const sent = request(user('x'.repeat(400)));
    const estimated = await createScriptedModel({ replies: ['y'.repeat(40)] }).generate(sent);
    expect(estimated.usage.outputTokens).toBe(10);
    expect(estimated.usage.inputTokens).toBe(Math.ceil((9 + 1 + 400) / 4));

    const fixed = await createScriptedModel({
      replies: [{ text: 'hi', usage: { outputTokens: 5000 } }],
    }).generate(sent);
    expect(fixed.usage).toEqual({ inputTokens: estimated.usage.inputTokens, outputTokens: 5000 });
    expect(fixed.finishReason).toBe('stop');
  });

  it('streams words and tool-call deltas that assemble into the generate response', async () => {
    const replies = [
      {
        text: 'Let me  check the weather\nand places. ',
        toolCalls: [
          {
            name: 'weather',
            arguments: { lat: 38.7223, lon: -9.1393, month: 'May', note: 'a long argument value' },
          },
          { name: 'places', arguments: { city: 'Lisbon' } },
        ],
      },
    ];
    const sent = request(user('Lisbon'));
    const generated = await createScriptedModel({ replies }).generate(sent);
    const events = await collect(createScriptedModel({ replies }).stream(sent));
    const { text, toolCalls, finish } = assemble(events);

    expect(events.at(-1)?.type).toBe('finish');
    expect(events.filter((event) => event.type === 'text-delta')).toHaveLength(7);
    expect(events.filter((event) => event.type === 'tool-call-delta').length).toBeGreaterThan(2);
    expect(text).toBe(generated.message.content);
    expect(toolCalls).toEqual(generated.message.toolCalls);
    expect(finish).toEqual(generated);
  });

  it('streams a text-only reply and an empty reply', async () => {
    const events = await collect(
      createScriptedModel({ replies: ['Hello there, traveller.'] }).stream(request()),
    );
    expect(events.map((event) => (event.type === 'text-delta' ? event.text : event.type))).toEqual([
      'Hello ',
      'there, ',
      'traveller.',
      'finish',
    ]);
    const empty = await collect(createScriptedModel({ replies: [''] }).stream(request()));
    expect(empty.map((event) => event.type)).toEqual(['finish']);
  });

  it('honors an AbortSignal in generate and in the middle of a stream', async () => {
    const aborted = AbortSignal.abort(new Error('caller gone'));
    await expect(
      createScriptedModel({ replies: ['hi'] }).generate(request(), { signal: aborted }),
    ).rejects.toThrow('caller gone');

    const slow = createScriptedModel({ replies: ['hi'], latencyMs: 10_000 });
    const controller = new AbortController();
    const pending = slow.generate(request(), { signal: controller.signal });
    controller.abort(new Error('timeout'));
    await expect(pending).rejects.toThrow('timeout');

    const streaming = new AbortController();
    const received: string[] = [];
    const model = createScriptedModel({ replies: ['one two three four five'], latencyMs: 50 });
    const consume = async () => {
      for await (const event of model.stream(request(), { signal: streaming.signal })) {
        if (event.type === 'text-delta') received.push(event.text);
        if (received.length === 2) streaming.abort(new Error('stop streaming'));
      }
    };
    await expect(consume()).rejects.toThrow('stop streaming');
    expect(received).toEqual(['one ', 'two ']);
  });

  it('waits latencyMs per call when asked to, and is instant by default', async () => {
    const started = Date.now();
    await createScriptedModel({ replies: ['hi'], latencyMs: 40 }).generate(request());
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('throws scripted errors on the first attempts at a turn, then replies', async () => {
    const outage = new Error('503 from upstream');
    const model = createScriptedModel({ replies: [outage, outage, 'recovered', 'bye', new Error('gone')] });
    const first = request(user('hi'));

    await expect(model.generate(first)).rejects.toBe(outage);
    await expect(model.generate(first)).rejects.toBe(outage);
    expect((await model.generate(first)).message.content).toBe('recovered');
    expect((await model.generate(first)).message.content).toBe('recovered');

    const second = request(user('hi'), assistant('recovered'), user('again'));
    expect((await model.generate(second)).message.content).toBe('bye');

    // Trailing errors fail their turn on every attempt.
    const third = request(user('hi'), assistant('recovered'), user('again'), assistant('bye'), user('?'));
    await expect(model.generate(third)).rejects.toThrow('gone');
    await expect(model.generate(third)).rejects.toThrow('gone');
    expect(model.calls).toHaveLength(7);
  });

  it('throws an Error returned by respond', async () => {
    const model = createScriptedModel({ respond: () => new Error('no') });
    await expect(model.generate(request())).rejects.toThrow('no');
  });

  it('fails clearly when run past the script', async () => {
    const model = createScriptedModel({ replies: ['only one'] });
    const past = request(user('hi'), assistant('only one'), user('and?'));
    expect(await codeOf(model.generate(past))).toBe('model_script_exhausted');
    await expect(model.generate(past)).rejects.toThrow(
      /ran past its script: asked for turn 2 .* the script has 1/,
    );
    expect(await codeOf(collect(model.stream(past)))).toBe('model_script_exhausted');
  });

  it('rejects options without exactly one of replies and respond', () => {
    expect(() => createScriptedModel({} as never)).toThrow(/needs replies/);
    expect(() => createScriptedModel({ replies: [], respond: () => 'x' } as never)).toThrow(/not both/);
  });
});

describe('createRuleModel', () => {
  const toolCall: ToolCall = { id: 'call_1', name: 'weather', arguments: '{"city":"Lisbon"}' };
  const conversation = request(
    user('old question'),
    assistant('old answer'),
    user('Weather in Lisbon?'),
    assistant('', [toolCall, { id: 'call_2', name: 'places', arguments: 'not json' }]),
    { role: 'tool', toolCallId: 'call_1', name: 'weather', content: '{"avgHighC":22}' },
    { role: 'tool', toolCallId: 'call_2', name: 'places', content: 'down', isError: true },
  );

  it('gives rules the last user message, the offered tools, the step and parsed tool results', async () => {
    const seen: unknown[] = [];
    const model = createRuleModel({
      rules: [
        {
          name: 'inspect',
          when: (context) => {
            seen.push({
              lastUserMessage: context.lastUserMessage,
              tools: context.tools.map((tool) => tool.name),
              step: context.step,
              weather: context.toolResults.weather,
              places: context.toolResults.places,
              constructor: context.toolResults.constructor,
            });
            return true;
          },
          reply: () => 'done',
        },
      ],
    });
    await model.generate({ ...conversation, tools: [weatherSpec] });
    expect(seen).toEqual([
      {
        lastUserMessage: 'Weather in Lisbon?',
        tools: ['weather'],
        step: 1,
        weather: {
          toolCallId: 'call_1',
          content: '{"avgHighC":22}',
          value: { avgHighC: 22 },
          isError: false,
          arguments: { city: 'Lisbon' },
        },
        places: {
          toolCallId: 'call_2',
          content: 'down',
          value: 'down',
          isError: true,
          arguments: 'not json',
        },
        constructor: undefined,
      },
    ]);
  });

  it('answers with the first matching rule, then the fallback, else a clear error', async () => {
    const rules = [
      { name: 'never', when: () => false, reply: () => 'never' },
      {
        name: 'weather',
        when: () => true,
        reply: () => ({ toolCalls: [{ name: 'weather', arguments: {} }] }),
      },
      { name: 'also', when: () => true, reply: () => 'also' },
    ];
    const answered = await createRuleModel({ rules }).generate(request(user('hi')));
    expect(answered.message.toolCalls?.[0]?.name).toBe('weather');

    const fallback = createRuleModel({
      rules: rules.slice(0, 1),
      fallback: (context) => `no rule for ${context.lastUserMessage}`,
    });
    expect((await fallback.generate(request(user('hi')))).message.content).toBe('no rule for hi');

    const strict = createRuleModel({ rules: rules.slice(0, 1), modelId: 'strict' });
    expect(await codeOf(strict.generate(request(user('hi'))))).toBe('model_no_rule');
    expect(strict.modelId).toBe('strict');
  });

  it('is deterministic given the request', async () => {
    const model = createRuleModel({
      rules: [
        {
          name: 'call',
          when: () => true,
          reply: () => ({ toolCalls: [{ name: 'weather', arguments: {} }] }),
        },
      ],
    });
    expect(await model.generate(conversation)).toEqual(await model.generate(structuredClone(conversation)));
  });

  it('validates its rules', () => {
    expect(() => createRuleModel({ rules: [{ name: 'broken' } as never] })).toThrow(/name, a when function/);
  });
});

describe('built-in model registry', () => {
  it('creates echo by name, with or without the builtin: prefix', async () => {
    const echo: LanguageModel = createBuiltinModel('echo');
    expect((await echo.generate(request(user('ping')))).message.content).toBe('ping');
    expect(createBuiltinModel('builtin:echo').modelId).toBe('echo');
  });

  it('registers models and lists them; unknown names fail with the known ones', () => {
    registerBuiltinModel('test-constant', () =>
      createScriptedModel({ respond: () => 'constant', modelId: 'test-constant' }),
    );
    expect(listBuiltinModels()).toContain('test-constant');
    expect(createBuiltinModel('test-constant').modelId).toBe('test-constant');

    let thrown: unknown;
    try {
      createBuiltinModel('nope');
    } catch (error) {
      thrown = error;
    }
    expect(isKeelError(thrown) && thrown.code).toBe('model_config_invalid');
    expect(String(thrown)).toMatch(/Unknown built-in model "nope". Registered: .*echo/);
    expect(() => registerBuiltinModel('bad name!', () => createBuiltinModel('echo'))).toThrow(
      /Invalid built-in model name/,
    );
  });
});
