import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ESCAPE_MARKER,
  fromStorableJson,
  fromStorableText,
  toStorableJson,
  toStorableText,
} from './storable-json.js';

/** Any UTF-16 string, weighted towards what Postgres refuses: NUL, lone surrogates, the marker. */
const anyString = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
      fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d\ude00', ESCAPE_MARKER, '"', '\\', 'a'),
    ),
    { maxLength: 16 },
  )
  .map((parts) => parts.join(''));

/** JSON values whose strings and keys are any strings. */
const anyJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyString,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** What Postgres refuses in text and jsonb. */
const unpaired = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const isWellFormed = (text: string) => !text.includes('\u0000') && !unpaired.test(text);

/** Every string and key in a JSON value. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  return Object.entries(value).flatMap(([key, item]) => [key, ...stringsOf(item)]);
}

describe('storable text', () => {
  it('round-trips any string, and stores nothing Postgres refuses', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const stored = toStorableText(text);
        expect(isWellFormed(stored)).toBe(true);
        expect(fromStorableText(stored)).toBe(text);
      }),
      { numRuns: 2_000 },
    );
  });

  it('leaves ordinary text unchanged and escapes NUL, lone surrogates and the marker', () => {
    for (const text of [
      '',
      'hello',
      'emoji 😀👩‍👩‍👧 漢字 한글',
      'a "quoted" \\ \n\t\u0001',
      `x${ESCAPE_MARKER}`,
    ]) {
      expect(toStorableText(text)).toBe(text);
    }
    expect(toStorableText('a\u0000b')).toBe(`${ESCAPE_MARKER}"a\\u0000b"`);
    expect(toStorableText('\ud800')).toBe(`${ESCAPE_MARKER}"\\ud800"`);
    expect(toStorableText('\udc00x')).toBe(`${ESCAPE_MARKER}"\\udc00x"`);
    expect(toStorableText(`${ESCAPE_MARKER}x`)).toBe(`${ESCAPE_MARKER}"${ESCAPE_MARKER}x"`);
  });

  it('refuses a marked string that is not an escaped string', () => {
    for (const stored of [`${ESCAPE_MARKER}`, `${ESCAPE_MARKER}{}`, `${ESCAPE_MARKER}"open`]) {
      expect(() => fromStorableText(stored)).toThrow(expect.objectContaining({ code: 'journal_corrupt' }));
    }
  });
});

describe('storable JSON', () => {
  it('round-trips any JSON value (as the driver parses jsonb back)', () => {
    fc.assert(
      fc.property(anyJson, (value) => {
        const text = toStorableJson(value);
        expect(isWellFormed(text)).toBe(true);
        // jsonb rejects a \u0000 escape and an unpaired surrogate's: no string or key holds one.
        expect(stringsOf(JSON.parse(text)).every(isWellFormed)).toBe(true);
        expect(fromStorableJson(JSON.parse(text))).toEqual(value);
      }),
      { numRuns: 1_000 },
    );
  });

  it('stores ordinary JSON as JSON.stringify does, and reads it back as the same object', () => {
    const value = { text: 'emoji 😀 漢字', list: [1, 'two', { three: null }], nested: { '': true } };
    const text = toStorableJson(value);
    expect(text).toBe(JSON.stringify(value));
    const parsed: unknown = JSON.parse(text);
    expect(fromStorableJson(parsed)).toBe(parsed);
    expect(toStorableJson(undefined)).toBe('null');
  });

  it('escapes keys too, and keeps "__proto__" an own key', () => {
    const value = JSON.parse('{"__proto__": {"a\\u0000": "\\ud800"}}') as Record<string, unknown>;
    const decoded = fromStorableJson(JSON.parse(toStorableJson(value)) as unknown) as Record<string, unknown>;
    expect(Object.keys(decoded)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded).toEqual(value);
  });

  it('stores what JSON.stringify would (toJSON applied, undefined members dropped)', () => {
    const value = { at: new Date('2030-01-01T00:00:00.000Z'), gone: undefined, text: '\u0000' };
    expect(fromStorableJson(JSON.parse(toStorableJson(value)))).toEqual({
      at: '2030-01-01T00:00:00.000Z',
      text: '\u0000',
    });
  });
});
