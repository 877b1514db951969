import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after.js';

const at = 'Wed, 21 Oct 2015 07:28:00 GMT';
const clock = { now: () => Date.parse(at) - 30_000 };
const parse = (headers: Record<string, string>) => parseRetryAfter({ headers: new Headers(headers), clock });

describe('parseRetryAfter', () => {
  it('reads retry-after in seconds, fractions included', () => {
    expect(parse({ 'retry-after': '2' })).toBe(2_000);
    expect(parse({ 'retry-after': ' 1.5 ' })).toBe(1_500);
    expect(parse({ 'retry-after': '0' })).toBe(0);
  });

  it('prefers retry-after-ms', () => {
    expect(parse({ 'retry-after': '20', 'retry-after-ms': '150' })).toBe(150);
    expect(parse({ 'retry-after-ms': '12.5' })).toBe(12.5);
  });

  it('falls back to retry-after when retry-after-ms is unreadable', () => {
    expect(parse({ 'retry-after-ms': 'soon', 'retry-after': '3' })).toBe(3_000);
  });

  it('reads an HTTP date against the injected clock', () => {
    expect(parse({ 'retry-after': at })).toBe(30_000);
    expect(parse({ 'retry-after': 'Wednesday, 21-Oct-15 07:28:00 GMT' })).toBe(30_000);
  });

  it('turns a date in the past into 0', () => {
    expect(
      parseRetryAfter({
        headers: new Headers({ 'retry-after': at }),
        clock: { now: () => Date.parse(at) + 5_000 },
      }),
    ).toBe(0);
  });

  it('ignores absent, negative and unreadable values', () => {
    expect(parse({})).toBeUndefined();
    expect(parse({ 'retry-after': '' })).toBeUndefined();
    expect(parse({ 'retry-after': 'soon' })).toBeUndefined();
    expect(parse({ 'retry-after': '-1' })).toBeUndefined();
    expect(parse({ 'retry-after': '1e3' })).toBeUndefined();
    expect(parse({ 'retry-after': 'Infinity' })).toBeUndefined();
    expect(parse({ 'retry-after': '5 apples 2020' })).toBeUndefined();
    expect(parse({ 'retry-after-ms': '-5' })).toBeUndefined();
  });

  it('clamps absurd waits to the cap (a safe setTimeout delay)', () => {
    expect(parse({ 'retry-after': '99999999999' })).toBe(MAX_RETRY_AFTER_MS);
    expect(parse({ 'retry-after-ms': '99999999999999' })).toBe(MAX_RETRY_AFTER_MS);
    expect(parse({ 'retry-after': 'Fri, 01 Jan 2100 00:00:00 GMT' })).toBe(MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBeLessThan(2 ** 31 - 1);
    expect(parseRetryAfter({ headers: new Headers({ 'retry-after': '60' }), maxMs: 10_000 })).toBe(10_000);
  });

  it('reads plain header records in any case', () => {
    expect(parseRetryAfter({ headers: { 'Retry-After': '4' } })).toBe(4_000);
    expect(parseRetryAfter({ headers: { 'RETRY-AFTER-MS': '40', other: undefined } })).toBe(40);
    expect(parseRetryAfter({ headers: { 'retry-after': undefined } })).toBeUndefined();
  });
});
