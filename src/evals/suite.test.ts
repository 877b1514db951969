import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSuite, parseSuite } from './suite.js';

const folder = fileURLToPath(new URL('./__fixtures__/suite-folder', import.meta.url));

/** The details of the suite_invalid error that parsing `text` throws. */
function invalid(text: string, file = 'suite.yaml') {
  try {
    parseSuite({ text, file });
  } catch (error) {
    expect(error).toMatchObject({ code: 'suite_invalid' });
    return {
      ...(error as { details: { file: string; line: number; field: string } }).details,
      message: (error as Error).message,
    };
  }
  throw new Error('expected suite_invalid');
}

describe('parseSuite', () => {
  it('reads YAML cases with defaults and normalized scorers', () => {
    const suite = parseSuite({
      file: 'evals/basic.yaml',
      text: [
        '- input: hello',
        '  expect:',
        '    - contains: hi',
        '    - max_steps: 3',
        '- id: two',
        '  input: x',
        '  expect: [{ regex: "^x$" }]',
      ].join('\n'),
    });
    expect(suite.cases).toHaveLength(2);
    expect(suite.cases[0]).toMatchObject({
      id: 'basic-1',
      input: 'hello',
      tags: [],
      file: 'evals/basic.yaml',
      line: 1,
      expect: [
        { kind: 'contains', value: 'hi', ignore_case: false },
        { kind: 'max_steps', max: 3 },
      ],
    });
    expect(suite.cases[1]).toMatchObject({ id: 'two', line: 5, expect: [{ kind: 'regex', pattern: '^x$' }] });
  });

  it('loads a folder of YAML and JSONL files in name order, skipping other files', async () => {
    const suite = await loadSuite(folder);
    expect(suite).toMatchObject({ name: 'travel', agent: 'travel-planner' });
    expect(suite.cases.map((evalCase) => evalCase.id)).toEqual([
      'paris',
      'a-cities-2',
      'follow-up',
      'b-followup-2',
    ]);
    expect(suite.cases[1]).toMatchObject({ user: { budget: 'low' }, line: 10 });
    expect(suite.cases[2]).toMatchObject({
      session: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: 'Snow.' },
      ],
      file: join(folder, 'b-followup.jsonl'),
      line: 1,
    });
    expect(suite.cases[3]).toMatchObject({
      input: { city: 'Lima' },
      line: 3,
      expect: [{ kind: 'stop_reason', value: ['completed'] }],
    });
  });

  it('names file, line and field for a bad scorer option', () => {
    const text = [
      'cases:',
      '  - input: a',
      '    expect:',
      '      - contains: a',
      '  - input: b',
      '    expect:',
      '      - trajectory:',
      '          mode: sometimes',
      '          steps: []',
    ].join('\n');
    expect(invalid(text)).toMatchObject({
      file: 'suite.yaml',
      line: 8,
      field: 'cases[1].expect[0].trajectory.mode',
    });
  });

  it('names an unknown scorer, an unknown field and a missing input', () => {
    expect(invalid('- input: a\n  expect:\n    - containz: a\n')).toMatchObject({
      line: 3,
      field: '[0].expect[0].containz',
    });
    const unknown = invalid('- input: a\n  expext: []\n');
    expect(unknown).toMatchObject({ line: 2, field: '[0].expext' });
    expect(unknown.message).toContain('not a known field');
    const missing = invalid('- id: x\n  expect: [{ contains: a }]\n');
    expect(missing).toMatchObject({ line: 1, field: '[0].input' });
    expect(missing.message).toContain('is required');
    expect(invalid('- input: a\n  expect: []\n')).toMatchObject({ line: 2, field: '[0].expect' });
  });

  it('rejects a regex that does not compile, an unusable JSON Schema and duplicate ids', () => {
    expect(invalid('- input: a\n  expect:\n    - regex: "(unclosed"\n')).toMatchObject({
      line: 3,
      field: '[0].expect[0].regex.pattern',
    });
    const matcher =
      '- input: a\n  expect:\n    - tool_called:\n        name: t\n        arguments:\n          city: { regex: "[" }\n';
    expect(invalid(matcher)).toMatchObject({ line: 6, field: '[0].expect[0].tool_called.arguments.city' });
    expect(
      invalid('- input: a\n  expect:\n    - json_schema:\n        schema: { type: 12 }\n'),
    ).toMatchObject({
      line: 4,
      field: '[0].expect[0].json_schema.schema',
    });
    expect(
      invalid(
        '- { id: same, input: a, expect: [{ contains: a }] }\n- { id: same, input: b, expect: [{ contains: b }] }\n',
      ),
    ).toMatchObject({ line: 2, field: 'id' });
  });

  it('reports YAML and JSON syntax errors with their line', () => {
    expect(invalid('- input: a\n  expect: [\n')).toMatchObject({ file: 'suite.yaml', field: '' });
    expect(invalid('- input: "a\n  b: [c\n')).toMatchObject({ file: 'suite.yaml' });
    const jsonl = invalid('{"input": "a", "expect": [{"contains": "a"}]}\n{"input": \n', 'cases.jsonl');
    expect(jsonl).toMatchObject({ file: 'cases.jsonl', line: 2, field: '' });
    expect(jsonl.message).toContain('not valid JSON');
    expect(invalid('{"input": "a", "expect": [{"max_steps": -1}]}\n', 'cases.jsonl')).toMatchObject({
      line: 1,
      field: 'expect[0].max_steps.max',
    });
    expect(invalid('just a string\n')).toMatchObject({ line: 1, field: '' });
  });

  it('reads tool simulators and refuses one that neither answers nor fails', () => {
    const suite = parseSuite({
      file: 'sim.yaml',
      text: [
        '- input: x',
        '  tools:',
        '    weather: { error: service unavailable }',
        '    places: { output: { places: [] } }',
        '  expect: [{ contains: x }]',
      ].join('\n'),
    });
    expect(suite.cases[0]!.tools).toEqual({
      weather: { error: 'service unavailable' },
      places: { output: { places: [] } },
    });
    const bad = invalid(
      ['- input: x', '  tools:', '    weather: { fails: true }', '  expect: [{ contains: x }]'].join('\n'),
    );
    expect(bad).toMatchObject({ file: 'suite.yaml', line: 3 });
    expect(bad.field).toMatch(/^\[0\]\.tools\.weather/);
  });

  it('loadSuite reports a missing path', async () => {
    await expect(loadSuite(join(folder, 'absent.yaml'))).rejects.toMatchObject({ code: 'suite_invalid' });
  });
});
