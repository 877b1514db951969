/**
 * How long a provider asked us to wait before trying again, read from its response headers. Every
 * adapter reads it the same way, so the one retry owner (the gateway) gets the same
 * `ProviderError.retryAfterMs` whichever provider answered.
 */
import { systemClock, type Clock } from '../util/clock.js';

/**
 * The longest wait reported: one hour. Longer asks are clamped to it, not dropped: the provider did
 * ask for a long pause, so the caller should still see "long" and fall back rather than wait. The
 * cap also keeps the value a safe `setTimeout` delay (Node fires delays above 2^31-1 ms at once).
 */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Response headers: a fetch `Headers`, or a plain record with names in any case (as AI SDK errors carry them). */
export type RetryAfterHeaders = Headers | Readonly<Record<string, string | undefined>>;

/** Options of {@link parseRetryAfter}. */
export interface ParseRetryAfterOptions {
  headers: RetryAfterHeaders;
  /** Turns a `Retry-After` HTTP date into a delay. Default: the system clock. */
  clock?: Clock;
  /** Upper bound of the result. Default: {@link MAX_RETRY_AFTER_MS}. */
  maxMs?: number;
}

/**
 * The wait the provider asked for, in milliseconds: `retry-after-ms` (OpenAI's, milliseconds) first,
 * else `retry-after` as seconds or as an HTTP date (a date in the past means 0). Undefined when
 * absent, negative or unreadable; clamped to `maxMs`.
 */
export function parseRetryAfter({
  headers,
  clock = systemClock,
  maxMs = MAX_RETRY_AFTER_MS,
}: ParseRetryAfterOptions): number | undefined {
  const clamp = (milliseconds: number) => Math.min(Math.max(0, milliseconds), maxMs);
  const milliseconds = readNumber(readHeader(headers, 'retry-after-ms'));
  if (milliseconds !== undefined) return clamp(milliseconds);
  const retryAfter = readHeader(headers, 'retry-after');
  if (retryAfter === undefined) return undefined;
  const seconds = readNumber(retryAfter);
  if (seconds !== undefined) return clamp(seconds * 1000);
  // Only a real HTTP date: Date.parse would also accept strings like "5" or "soon 2020".
  if (!/^[A-Za-z]{3,9},? /.test(retryAfter)) return undefined;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : clamp(date - clock.now());
}

/** A non-negative decimal number (`1`, `1.5`), else undefined: `-1`, `1e3`, `Infinity` and `soon` are unreadable. */
function readNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number.parseFloat(text);
}

function readHeader(headers: RetryAfterHeaders, name: string): string | undefined {
  let value: string | null | undefined;
  if (isHeaders(headers)) value = headers.get(name);
  else {
    const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  return value?.trim() || undefined;
}

function isHeaders(headers: RetryAfterHeaders): headers is Headers {
  return typeof (headers as Headers).get === 'function';
}
