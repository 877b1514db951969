import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { parseJsonUtf8, stringifyJsonUtf8 } from './json-utf8.js';

const plainParse = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));
const plainStringify = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** The outcome of a function: its value, or its error's class and message. */
function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

/** Asserts parseJsonUtf8 reads `bytes` as the plain path does, keys in the same order. */
function expectSameParse(bytes: Buffer): void {
  const want = outcome(() => plainParse(bytes));
  const have = outcome(() => parseJsonUtf8(bytes));
  expect(have).toStrictEqual(want);
  if ('value' in (want as object))
    expect(JSON.stringify((have as { value: unknown }).value)).toBe(
      JSON.stringify((want as { value: unknown }).value),
    );
}

/** A deterministic pseudo-random generator (xorshift), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const PIECES = [
  'a',
  ' ',
  '\u007f',
  '\u001f',
  'é',
  '—',
  '→',
  '🤖',
  '\n',
  '"',
  '\\',
  '\u0001',
  '\ud83d',
  '\udc00',
  'ÿ',
  '\u0080',
];

function randomText(next: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += PIECES[Math.floor(next() * PIECES.length)];
  return text;
}

describe('parseJsonUtf8', () => {
  it('reads ASCII and non-ASCII bodies as JSON.parse of their UTF-8 does', () => {
    const value = {
      model: 'claude',
      system: [{ type: 'text', text: 'Use — not -- and → for arrows. 🤖 café' }],
      'clé—': ['ü', 1.5, true, null, { nested: ['ÿ\n"quoted"'] }],
      plain: 'ascii only',
    };
    expectSameParse(Buffer.from(JSON.stringify(value)));
    expectSameParse(Buffer.from(JSON.stringify({ a: 'ascii', b: [1, 2, { c: 'd' }] })));
  });

  it('reads escapes of non-ASCII characters and lone surrogates as the plain path does', () => {
    expectSameParse(Buffer.from('{"a":"\\u00e9 é","b":"\\ud83d\\ude00 — \\ud83d"}'));
    expectSameParse(Buffer.from('{"a":"\\\\u00e9 é"}'));
    expectSameParse(Buffer.from('{"a":"\\u001b[0m — \\n"}'));
  });

  it('decodes invalid UTF-8 to U+FFFD as toString does, and duplicate keys the same way', () => {
    const bytes = (parts: (string | number[])[]) =>
      Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
    expectSameParse(bytes(['{"a":"x', [0xff, 0xe2, 0x80], '\\n', [0xe2], '","b":"', [0xc3], '"}']));
    expectSameParse(bytes(['{"', [0xff], '":1,"', [0xfe], '":2,"k—":3,"__proto__":4}']));
    expectSameParse(bytes(['["', [0xed, 0xa0, 0x80], '", "', [0xf0, 0x9f, 0xa4], '"]']));
    expectSameParse(bytes(['{"list":[{"', [0xff], '":1,"k—":{"é":"—"}}],"o":{"', [0xfe], '":2}}']));
  });

  it('throws the plain path error for bodies that are not JSON', () => {
    expectSameParse(Buffer.from(''));
    expectSameParse(Buffer.from('{"a": "—"'));
    expectSameParse(Buffer.from('{"a": —}'));
    expectSameParse(Buffer.from('\ufeff{"a": "—"}'));
  });

  it('reads deep nesting as the plain path does', () => {
    const deep = `${'['.repeat(1000)}"—"${']'.repeat(1000)}`;
    expectSameParse(Buffer.from(deep));
  });

  it('agrees with the plain path on random JSON', () => {
    const next = random(20261206);
    for (let round = 0; round < 300; round++) {
      const value = {
        [randomText(next, 3)]: randomText(next, 20),
        list: [randomText(next, 5), { [randomText(next, 2)]: randomText(next, 8) }, round],
      };
      const text = JSON.stringify(value);
      expectSameParse(Buffer.from(text));
      // Raw bytes cut at random: invalid sequences and broken bodies.
      const bytes = Buffer.from(text);
      const cut = Buffer.from(bytes.subarray(0, Math.floor(next() * bytes.length)));
      expectSameParse(Buffer.concat([cut, Buffer.from('"]}')]));
      expectSameParse(Buffer.concat([cut, Buffer.from('"}')]));
    }
  });
});

describe('stringifyJsonUtf8', () => {
  const expectSameBytes = (value: unknown) => {
    const want = outcome(() => plainStringify(value).toString('hex'));
    const have = outcome(() => stringifyJsonUtf8(value).toString('hex'));
    expect(have).toStrictEqual(want);
  };

  it('writes the bytes of JSON.stringify in UTF-8', () => {
    expectSameBytes({
      model: 'claude',
      messages: [{ role: 'user', content: 'Use — and → and 🤖, café, ÿ\u0080' }],
      max_tokens: 100,
      temperature: undefined,
      nothing: null,
      list: [undefined, () => 1, 2.5, 'x'],
    });
    expectSameBytes({ ascii: ['only', 1, true] });
    expectSameBytes(['—']);
  });

  it('escapes lone surrogates and control characters as JSON.stringify does', () => {
    expectSameBytes({ a: 'x\ud83d — y', b: '\udc00', c: '\u0001 — \n' });
    const long = 'a long text, "quoted", with \t tabs — '.repeat(10);
    expectSameBytes({ a: long, b: `${long}\ud83d` });
    expectSameBytes({ a: long, b: `${long}\ud83d` });
  });

  it('writes numbers, empty containers and skipped values as JSON.stringify does', () => {
    expectSameBytes({
      numbers: [0, -0, 1e21, 1.5e-7, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER],
      empty: {},
      list: [],
      skipped: { a: undefined, b: () => 1, c: Symbol('s') },
      holes: [, 1, , '—'], // eslint-disable-line no-sparse-arrays
      [Symbol('key')]: '—',
    });
    expectSameBytes([{}, [], [[]], { a: {} }]);
  });

  it('keeps the plain path for toJSON, classes, non-ASCII keys and __proto__', () => {
    class Box {
      text = 'in a class —';
    }
    expectSameBytes({ when: new Date(0), box: new Box(), boxed: Object('—') as unknown });
    expectSameBytes({ custom: { toJSON: () => 'from toJSON —' } });
    expectSameBytes({ 'clé—': 'value —' });
    expectSameBytes(JSON.parse('{"__proto__": "—", "a": 1}'));
    expectSameBytes({
      nested: Object.create(null) as unknown,
      other: Object.assign(Object.create(null), { a: '—' }),
    });
  });

  it('throws as JSON.stringify does on cycles and BigInt', () => {
    const cycle: Record<string, unknown> = { text: '—' };
    cycle.self = cycle;
    expectSameBytes(cycle);
    expectSameBytes({ big: 1n, text: '—' });
  });

  it('writes deep nesting as the plain path does', () => {
    let deep: unknown = '—';
    for (let i = 0; i < 1000; i++) deep = [deep];
    expectSameBytes(deep);
  });

  it('agrees with the plain path on random strings, and round-trips through parseJsonUtf8', () => {
    const next = random(7);
    for (let round = 0; round < 300; round++) {
      const value = { a: randomText(next, 20), b: [randomText(next, 5), { c: randomText(next, 8) }] };
      expectSameBytes(value);
      expect(parseJsonUtf8(stringifyJsonUtf8(value))).toStrictEqual(plainParse(plainStringify(value)));
    }
  });

  it('keeps apart remembered strings of one length, beyond the few kept per length', () => {
    const texts = Array.from({ length: 12 }, (_, i) => `${'x'.repeat(100)}—${String(i).padStart(3, '0')}`);
    for (let round = 0; round < 3; round++)
      for (const text of texts) {
        expect(stringifyJsonUtf8({ text }).equals(plainStringify({ text }))).toBe(true);
        const bytes = Buffer.from(JSON.stringify({ text }));
        expect(parseJsonUtf8(bytes)).toStrictEqual({ text });
      }
  });

  it('gives the same bytes for a string seen before (memoized) as for a new one', () => {
    const text = `${'long text — '.repeat(1000)}→`;
    const first = stringifyJsonUtf8({ text });
    const again = stringifyJsonUtf8({ text: `${'long text — '.repeat(1000)}→` });
    expect(again.equals(first)).toBe(true);
    expect(first.equals(plainStringify({ text }))).toBe(true);
  });
});
