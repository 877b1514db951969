/**
 * The fate of each Messages field on each upstream, as docs/gateway.md states it in its table
 * "Messages fields on each upstream": this test reads that table and, for every row, sends a
 * Messages request carrying the field through the gateway to the Anthropic, OpenAI and Gemini
 * fakes, and checks what reached each one's wire against the fate the docs give (kept, mapped or
 * dropped). A row in the docs without a check here, or a check without its row, fails.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThreeProviderGateway, type ThreeProviderGateway } from './__fixtures__/three-providers.js';
import { fakeSignature } from '../../testing/fake-anthropic-server.js';

type Upstream = 'anthropic' | 'openai' | 'gemini';
type Fate = 'kept' | 'mapped' | 'dropped';
/* eslint-disable @typescript-eslint/no-explicit-any -- wire bodies are read as the fakes recorded them */
interface Sent {
  body: Record<string, any>;
  headers: Record<string, string>;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
type Check = readonly [Fate, (sent: Sent) => void];
interface Row {
  /** The request carrying the field; default {@link BODY}. */
  body?: Record<string, unknown>;
  anthropic: Check;
  openai: Check;
  gemini: Check;
}

const PNG = 'iVBORw0KGgo=';
const PDF = 'JVBERi0xLjQ=';
const THOUGHT = 'The chart is in chart.png.';
const REDACTED = 'RW5jcnlwdGVkVGhvdWdodA==';
const BETAS = 'mid-conversation-system-2026-04-07,context-management-2025-06-27';
const SYSTEM = [
  { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
  { type: 'text', text: 'Be terse.' },
];
const TOOL_RESULT = [
  { type: 'text', text: 'chart.png, 1 page:' },
  { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
  {
    type: 'document',
    source: { type: 'base64', media_type: 'application/pdf', data: PDF },
    title: 'chart.pdf',
  },
];
const REASONING = [
  { type: 'thinking', thinking: THOUGHT, signature: fakeSignature(THOUGHT) },
  { type: 'redacted_thinking', data: REDACTED },
];
/** Every field of the table at once, as Claude Code sends them in a tool loop. */
const BODY = {
  max_tokens: 64_000,
  system: SYSTEM,
  messages: [
    {
      role: 'user',
      content: [{ type: 'text', text: 'Read the chart.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
    },
    { role: 'system', content: 'Skills: chart-reader' },
    {
      role: 'assistant',
      content: [
        ...REASONING,
        { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: 'chart.png' } },
      ],
    },
    {
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: 'toolu_1',
          content: TOOL_RESULT,
          cache_control: { type: 'ephemeral' },
        },
      ],
    },
  ],
  tools: [
    {
      name: 'Read',
      description: 'Reads a file',
      input_schema: { type: 'object', properties: { file_path: { type: 'string' } } },
      cache_control: { type: 'ephemeral' },
    },
  ],
  thinking: { type: 'adaptive' },
  output_config: { effort: 'max' },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  metadata: { user_id: 'user_abc_session_1' },
};
const { output_config: _effort, ...withoutEffort } = BODY;
const BUDGETED = { ...withoutEffort, thinking: { type: 'enabled', budget_tokens: 2048 } };

const text = (sent: Sent) => JSON.stringify(sent.body);
const keptAs = (read: (body: Sent['body']) => unknown, value: unknown): Check => [
  'kept',
  (sent) => expect(read(sent.body)).toEqual(value),
];
/** Dropped: neither its name nor any of its values is anywhere in the upstream's body. */
const droppedBody = (...traces: string[]): Check => [
  'dropped',
  (sent) => {
    for (const trace of traces) expect(text(sent)).not.toContain(trace);
  },
];
const noBeta: Check = ['dropped', (sent) => expect(sent.headers).not.toHaveProperty('anthropic-beta')];

const ROWS: Record<string, Row> = {
  '`system` messages anywhere in `messages`': {
    anthropic: keptAs((body) => body.messages[1], { role: 'system', content: 'Skills: chart-reader' }),
    openai: [
      'mapped',
      ({ body }) => {
        expect(body.messages.map((message: { role: string }) => message.role)).toEqual([
          'system',
          'system',
          'user',
          'system',
          'assistant',
          'tool',
          'user',
        ]);
        expect(body.messages[3]).toEqual({ role: 'system', content: 'Skills: chart-reader' });
      },
    ],
    gemini: [
      'mapped',
      ({ body }) => {
        expect(body.contents[0]).toEqual({
          role: 'user',
          parts: [{ text: 'Read the chart.' }, { text: '<system>\nSkills: chart-reader\n</system>' }],
        });
        expect(JSON.stringify(body.systemInstruction)).not.toContain('Skills');
      },
    ],
  },
  'block structure of `system[]`': {
    anthropic: keptAs((body) => body.system, SYSTEM),
    openai: [
      'mapped',
      ({ body }) =>
        expect(body.messages.slice(0, 2)).toEqual([
          { role: 'system', content: 'You are Claude Code.' },
          { role: 'system', content: 'Be terse.' },
        ]),
    ],
    gemini: [
      'mapped',
      ({ body }) =>
        expect(body.systemInstruction).toEqual({
          parts: [{ text: 'You are Claude Code.' }, { text: 'Be terse.' }],
        }),
    ],
  },
  'images and documents inside `tool_result`': {
    anthropic: keptAs((body) => body.messages[3].content, BODY.messages[3]?.content),
    openai: [
      'mapped',
      ({ body }) =>
        expect(body.messages.slice(5)).toEqual([
          { role: 'tool', tool_call_id: 'toolu_1', content: 'chart.png, 1 page:' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Attached to the result of Read (toolu_1):' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
              {
                type: 'file',
                file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'chart.pdf' },
              },
            ],
          },
        ]),
    ],
    gemini: [
      'mapped',
      ({ body }) =>
        expect(body.contents.at(-1)).toEqual({
          role: 'user',
          parts: [
            {
              functionResponse: { id: 'toolu_1', name: 'Read', response: { result: 'chart.png, 1 page:' } },
            },
            { inlineData: { mimeType: 'image/png', data: PNG } },
            { inlineData: { mimeType: 'application/pdf', data: PDF } },
          ],
        }),
    ],
  },
  '`thinking`/`redacted_thinking` blocks with signatures': {
    anthropic: keptAs((body) => body.messages[2].content.slice(0, 2), REASONING),
    openai: droppedBody(THOUGHT, REDACTED, fakeSignature(THOUGHT)),
    gemini: droppedBody(THOUGHT, REDACTED, fakeSignature(THOUGHT)),
  },
  '`cache_control` on any block': {
    anthropic: keptAs(
      (body) => [
        body.system[0].cache_control,
        body.messages[0].content[0].cache_control,
        body.messages[3].content[0].cache_control,
        body.tools[0].cache_control,
      ],
      [{ type: 'ephemeral' }, { type: 'ephemeral', ttl: '1h' }, { type: 'ephemeral' }, { type: 'ephemeral' }],
    ),
    openai: droppedBody('cache_control', 'ephemeral'),
    gemini: droppedBody('cache_control', 'ephemeral'),
  },
  '`metadata`': {
    anthropic: keptAs((body) => body.metadata, BODY.metadata),
    openai: droppedBody('metadata', 'user_abc_session_1'),
    gemini: droppedBody('metadata', 'user_abc_session_1'),
  },
  '`output_config`': {
    anthropic: keptAs((body) => body.output_config, BODY.output_config),
    openai: [
      'mapped',
      (sent) => {
        expect(sent.body.reasoning_effort).toBe('high');
        expect(text(sent)).not.toContain('output_config');
      },
    ],
    gemini: [
      'mapped',
      (sent) => {
        expect(sent.body.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 24_576 });
        expect(text(sent)).not.toContain('output_config');
      },
    ],
  },
  '`context_management`': {
    anthropic: keptAs((body) => body.context_management, BODY.context_management),
    openai: droppedBody('context_management', 'clear_thinking'),
    gemini: droppedBody('context_management', 'clear_thinking'),
  },
  '`anthropic-beta` header': {
    anthropic: ['kept', (sent) => expect(sent.headers['anthropic-beta']).toBe(BETAS)],
    openai: noBeta,
    gemini: noBeta,
  },
  '`thinking: {type: "adaptive"}` (or `"disabled"`)': {
    anthropic: keptAs((body) => body.thinking, { type: 'adaptive' }),
    openai: droppedBody('thinking', 'adaptive'),
    gemini: droppedBody('"thinking"', 'adaptive'),
  },
  '`thinking: {type: "enabled", budget_tokens}`': {
    body: BUDGETED,
    anthropic: keptAs((body) => body.thinking, { type: 'enabled', budget_tokens: 2048 }),
    openai: ['mapped', ({ body }) => expect(body.reasoning_effort).toBe('low')],
    gemini: [
      'mapped',
      ({ body }) => expect(body.generationConfig.thinkingConfig).toEqual({ thinkingBudget: 2048 }),
    ],
  },
};

/** The table of docs/gateway.md, row by row: the field and its fate on each upstream. */
function documentedRows(): { field: string; fates: Record<Upstream, string> }[] {
  const docs = readFileSync(new URL('../../../docs/gateway.md', import.meta.url), 'utf8');
  const section = docs.split('### Messages fields on each upstream')[1] ?? '';
  // The first table after the heading, up to the first line that is not one of its rows.
  const all = section.split('\n');
  const start = all.findIndex((line) => line.startsWith('|'));
  const end = all.findIndex((line, index) => index > start && !line.startsWith('|'));
  const lines = all.slice(start, end);
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split(' | ')
      .map((cell) => cell.trim());
  const header = cells(lines[0] ?? '').join(' | ');
  if (header !== 'Messages field | Anthropic upstream | OpenAI-compatible upstream | Gemini upstream')
    throw new Error(`docs/gateway.md: the Messages fields table is not where it was (header: ${header})`);
  const fateOf = (cell: string | undefined) => /^(\w+)/.exec(cell ?? '')?.[1] ?? '';
  return lines.slice(2).map((line) => {
    const [field = '', anthropic, openai, gemini] = cells(line);
    return { field, fates: { anthropic: fateOf(anthropic), openai: fateOf(openai), gemini: fateOf(gemini) } };
  });
}

const ROUTES: Record<Upstream, string> = { anthropic: 'claude', openai: 'gpt', gemini: 'gemini' };
const rows = documentedRows();
let keel: ThreeProviderGateway;
/** One request per upstream and body, sent once and read by every row that uses it. */
const sent = new Map<string, Promise<Sent>>();

beforeAll(async () => {
  keel = await startThreeProviderGateway();
});

afterAll(() => keel?.close());

async function send(upstream: Upstream, body: Record<string, unknown>): Promise<Sent> {
  const fake = { anthropic: keel.claudeUpstream, openai: keel.openaiUpstream, gemini: keel.geminiUpstream }[
    upstream
  ];
  const before = fake.requests.length;
  const response = await fetch(`${keel.baseUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': keel.key,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': BETAS,
    },
    body: JSON.stringify({ ...body, model: ROUTES[upstream] }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  expect(fake.requests.length).toBe(before + 1);
  const request = fake.requests.at(-1);
  return { body: request?.body as Sent['body'], headers: request?.headers ?? {} };
}

it('checks every row the docs list, and no other', () => {
  expect(rows.map((row) => row.field)).toEqual(Object.keys(ROWS));
});

describe.each(['anthropic', 'openai', 'gemini'] as const)('to the %s fake', (upstream) => {
  it.each(rows)('$field', async ({ field, fates }) => {
    const row = ROWS[field];
    expect(row, `no check for the documented row ${field}`).toBeDefined();
    const [fate, check] = row![upstream];
    expect(fates[upstream], 'the fate docs/gateway.md gives').toBe(fate);
    const body = row!.body ?? BODY;
    const key = `${upstream} ${body === BODY ? 'all' : field}`;
    if (!sent.has(key)) sent.set(key, send(upstream, body));
    check(await sent.get(key)!);
  });
});
