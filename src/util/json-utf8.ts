/**
 * JSON to and from UTF-8 bytes, the same values and bytes as `JSON.parse(bytes.toString('utf8'))`
 * and `Buffer.from(JSON.stringify(value))`, without their cost on text that is mostly ASCII with
 * a few other characters (an em dash in a system prompt, a `→` in a tool's description): one such
 * character makes V8 decode the whole body on its slow UTF-8 path into a two-byte string, parse
 * that at half speed, build the re-serialized body two bytes a character and encode it on the
 * slow path again. On a 92 KiB coding-agent request that was about 1 ms of the gateway's CPU per
 * call, more than the rest of its JSON work together (docs/decisions/2026-12-06-json-utf8.md).
 *
 * Both directions work on "byte strings", one character per byte (latin1): the structure of JSON
 * is ASCII, and UTF-8 never puts an ASCII byte inside a multi-byte character, so parsing the byte
 * string gives the same tree, only strings holding non-ASCII bytes differ, and those are decoded
 * one by one. The way out is written by hand from JSON.stringify's own pieces (numbers, keys,
 * each string), every string as its UTF-8 bytes, so the whole stays one byte a character. Decoded
 * strings and the JSON of long strings are remembered (bounded memos): the same system prompt and
 * tool list come back on every turn, and escaping them is most of JSON.stringify's work. Anything
 * the fast path is not sure of takes the plain one.
 */
import { Buffer, isAscii } from 'node:buffer';

/** Nesting beyond which the fast paths give up (their walks recurse; JSON.parse does not). */
const MAX_DEPTH = 256;

/** Characters kept per memo before it starts over. */
const MEMO_CHARS = 8 * 1024 * 1024;

/** `String.prototype.isWellFormed` (Node 20; not in the ES2023 library types). */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * A memo of a pure function over strings, emptied whole when its characters exceed the bound
 * (the next calls refill it with what is still in use). Entries are found by length, then
 * compared: a `Map` keyed by the text itself would hash every fresh text in full (V8 hashes a
 * string one character at a time, and a body's strings are new objects each request), where
 * comparing equal flat strings is a memory compare and unequal ones stop at the first difference.
 */
class StringMemo {
  /** Texts of one length and their values, alternating; at most `PER_LENGTH` pairs, newest last. */
  private readonly entries = new Map<number, string[]>();
  private chars = 0;

  /** `compute` returns undefined for a text it cannot take (never remembered). */
  constructor(private readonly compute: (text: string) => string | undefined) {}

  get(text: string): string | undefined {
    const same = this.entries.get(text.length);
    if (same !== undefined)
      for (let i = same.length - 2; i >= 0; i -= 2) if (same[i] === text) return same[i + 1];
    const value = this.compute(text);
    if (value === undefined) return undefined;
    if (this.chars + text.length + value.length > MEMO_CHARS) {
      this.entries.clear();
      this.chars = 0;
    }
    const list = this.entries.get(text.length) ?? [];
    if (list.length === 2 * PER_LENGTH) {
      this.chars -= list[0]!.length + list[1]!.length;
      list.splice(0, 2);
    }
    list.push(text, value);
    this.entries.set(text.length, list);
    this.chars += text.length + value.length;
    return value;
  }
}

/** Texts remembered per length (the oldest goes): a few, so a miss compares with a few only. */
const PER_LENGTH = 4;

/** Byte string (one character per byte) to the text its bytes are in UTF-8. */
const decoded = new StringMemo((bytes) => Buffer.from(bytes, 'latin1').toString('utf8'));

/** Decoding takes any byte string. */
const decode = (bytes: string): string => decoded.get(bytes)!;

/** Whether a string has a character beyond ASCII (its UTF-8 is longer than it). */
const hasNonAscii = (text: string): boolean => Buffer.byteLength(text, 'utf8') !== text.length;

/** Thrown inside the walks to fall back to the plain path. */
const GIVE_UP = Symbol('give up');

/**
 * Parses UTF-8 JSON bytes: the value of `JSON.parse(bytes.toString('utf8'))`, and its error when
 * they are not JSON.
 */
export function parseJsonUtf8(bytes: Buffer): unknown {
  const text = bytes.toString('latin1');
  if (isAscii(bytes)) return JSON.parse(text);
  // A `\u` escape of a non-ASCII character would read as raw bytes once parsed: leave such
  // bodies (and any `\\u`, which only looks like one) to the plain path.
  for (let at = text.indexOf('\\u'); at !== -1; at = text.indexOf('\\u', at + 2)) {
    if (!/^00[0-7][0-9a-fA-F]$/.test(text.slice(at + 2, at + 6))) return plainParse(bytes);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return plainParse(bytes);
  }
  try {
    return decodeStrings(value, 0);
  } catch (error) {
    if (error === GIVE_UP) return plainParse(bytes);
    throw error;
  }
}

function plainParse(bytes: Buffer): unknown {
  return JSON.parse(bytes.toString('utf8'));
}

/** Decodes, in place, the strings of a value parsed from a byte string; keys too (rebuilding). */
function decodeStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return hasNonAscii(value) ? decode(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_DEPTH) throw GIVE_UP;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'string') {
        if (hasNonAscii(item)) value[i] = decode(item);
      } else if (typeof item === 'object' && item !== null) value[i] = decodeStrings(item, depth + 1);
    }
    return value;
  }
  const object = value as Record<string, unknown>;
  let renamed = false;
  for (const key of Object.keys(object)) {
    if (hasNonAscii(key)) renamed = true;
    const item = object[key];
    if (typeof item === 'string') {
      if (hasNonAscii(item)) object[key] = decode(item);
    } else if (typeof item === 'object' && item !== null) object[key] = decodeStrings(item, depth + 1);
  }
  if (!renamed) return object;
  // Keys as JSON.parse would have made them: in order, a later duplicate (two invalid sequences
  // both decode to U+FFFD) overwriting the value in the first one's place; `__proto__` an own key.
  return Object.fromEntries(
    Object.keys(object).map((key) => [hasNonAscii(key) ? decode(key) : key, object[key]]),
  );
}

/**
 * Serializes a value as UTF-8 JSON: the bytes of `Buffer.from(JSON.stringify(value))`, and its
 * error (a cycle, a BigInt). For JSON data (plain objects and arrays, read once each: a getter
 * may run again when the plain path takes over); anything else, such as an object with `toJSON`,
 * is serialized on the plain path.
 */
export function stringifyJsonUtf8(value: unknown): Buffer {
  const json: Output = { text: '' };
  try {
    writeValue(value, json, 0);
  } catch (error) {
    if (error !== GIVE_UP) throw error;
    return Buffer.from(JSON.stringify(value));
  }
  // Only ASCII and byte characters: each character is one byte of the UTF-8.
  return Buffer.from(json.text, 'latin1');
}

/**
 * The JSON written so far. Appended to, not an array joined at the end: V8 keeps the appends as
 * a rope that the final copy into bytes flattens once, about twice as fast as `join`.
 */
interface Output {
  text: string;
}

/** Whether JSON.stringify leaves a property with this value out (and writes null in an array). */
const isSkipped = (value: unknown): boolean =>
  value === undefined || typeof value === 'function' || typeof value === 'symbol';

/**
 * Appends the JSON of a value to `json` as JSON.stringify writes it, strings as their UTF-8
 * byte strings. Numbers, booleans, keys and short strings are JSON.stringify's own output.
 */
function writeValue(value: unknown, json: Output, depth: number): void {
  if (typeof value === 'string') {
    json.text += quoted(value);
    return;
  }
  if (typeof value !== 'object' || value === null) {
    // Numbers (NaN is null), booleans, null; a BigInt throws JSON.stringify's own error.
    json.text += JSON.stringify(value);
    return;
  }
  if (depth > MAX_DEPTH) throw GIVE_UP;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    if (prototype !== Array.prototype || 'toJSON' in value) throw GIVE_UP;
    json.text += '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) json.text += ',';
      const item: unknown = value[i];
      if (isSkipped(item)) json.text += 'null';
      else writeValue(item, json, depth + 1);
    }
    json.text += ']';
    return;
  }
  if ((prototype !== Object.prototype && prototype !== null) || 'toJSON' in value) throw GIVE_UP;
  const object = value as Record<string, unknown>;
  let separator = '{';
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (isSkipped(item)) continue;
    if (hasNonAscii(key)) throw GIVE_UP;
    json.text += separator + quotedKey(key);
    separator = ',';
    writeValue(item, json, depth + 1);
  }
  json.text += separator === '{' ? '{}' : '}';
}

/** Keys as JSON.stringify writes them, with their colon: a body repeats a few keys many times. */
const keys = new Map<string, string>();

function quotedKey(key: string): string {
  let json = keys.get(key);
  if (json === undefined) {
    if (keys.size >= 10_000) keys.clear();
    json = `${JSON.stringify(key)}:`;
    keys.set(key, json);
  }
  return json;
}

/** Strings at least this long have their JSON remembered (escaping is most of the work). */
const QUOTE_MEMO_LENGTH = 64;

/** A string's JSON as JSON.stringify writes it, non-ASCII as UTF-8 bytes; remembered when long. */
function quoted(text: string): string {
  if (text.length >= QUOTE_MEMO_LENGTH) {
    const json = quotes.get(text);
    if (json === undefined) throw GIVE_UP;
    return json;
  }
  // Most short strings (types, ids, names) are printable ASCII without a quote or a backslash,
  // which JSON.stringify writes as they are.
  if (PLAIN_ASCII.test(text)) return `"${text}"`;
  const json = quote(text);
  if (json === undefined) throw GIVE_UP;
  return json;
}

/** Text JSON.stringify leaves as it is between its quotes. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7f]*$/;

/** undefined for text with a lone surrogate, which JSON.stringify escapes (U+FFFD in UTF-8). */
function quote(text: string): string | undefined {
  if (!hasNonAscii(text)) return JSON.stringify(text);
  if (!isWellFormed(text)) return undefined;
  return JSON.stringify(Buffer.from(text, 'utf8').toString('latin1'));
}

/** Text to its JSON with UTF-8 bytes, for long strings: a system prompt or a tool list comes back every turn. */
const quotes = new StringMemo(quote);
