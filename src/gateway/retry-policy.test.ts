import { describe, expect, it } from 'vitest';
import { ModelOutputError, ProviderError } from '../errors/model-errors.js';
import { UpstreamTimeoutError } from './gateway-errors.js';
import { backoffDelay, decideOnFailure, retryDelay } from './retry-policy.js';

const retry = { attemptsPerDeployment: 3, baseMs: 100, capMs: 1_000, maxRetryAfterMs: 2_000 };
const http = (status: number, retryAfterMs?: number) =>
  new ProviderError({
    provider: 'openai',
    status,
    message: `HTTP ${status}`,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

describe('retry policy', () => {
  it('full jitter: uniform in [0, min(cap, base·2^n))', () => {
    for (const [retryNumber, ceiling] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
      [4, 1_000],
      [10, 1_000],
    ] as const) {
      expect(backoffDelay({ retry: retryNumber, baseMs: 100, capMs: 1_000, random: () => 0 })).toBe(0);
      const highest = backoffDelay({
        retry: retryNumber,
        baseMs: 100,
        capMs: 1_000,
        random: () => 0.999_999,
      });
      expect(highest).toBeLessThan(ceiling);
      expect(highest).toBeGreaterThanOrEqual(ceiling - 1);
    }
    let seed = 7;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    const samples = Array.from({ length: 2_000 }, () =>
      backoffDelay({ retry: 2, baseMs: 100, capMs: 1_000, random }),
    );
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(400);
    // Uniform, not clustered at the ceiling: the mean is near half of it.
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
    expect(mean).toBeGreaterThan(180);
    expect(mean).toBeLessThan(220);
  });

  it('retries 5xx, 408, 429, network failures, timeouts and unreadable output', () => {
    for (const error of [http(429), http(409)]) {
      expect(decideOnFailure(error)).toMatchObject({ action: 'retry' });
    }
    for (const error of [
      http(500),
      http(502),
      http(503),
      http(529),
      http(408),
      new ProviderError({ provider: 'openai', message: 'ECONNRESET' }),
      new UpstreamTimeoutError({ code: 'upstream_first_byte_timeout', deployment: 'a', timeoutMs: 1 }),
      new ModelOutputError('bad json'),
    ]) {
      expect(decideOnFailure(error)).toMatchObject({ action: 'retry', breakerFailure: true });
    }
  });

  it('counts provider-side faults against the breaker, never what the request caused nor a 429', () => {
    // A 429 is a quota signal with its own wait: one tenant's flood must not open the breaker
    // for every tenant. 409 is the request's conflict.
    expect(decideOnFailure(http(429, 1_000))).toEqual({
      action: 'retry',
      breakerFailure: false,
      retryAfterMs: 1_000,
    });
    expect(decideOnFailure(http(409))).toMatchObject({ action: 'retry', breakerFailure: false });
    for (const status of [400, 404, 405, 413, 415, 422]) {
      expect(decideOnFailure(http(status))).toMatchObject({ breakerFailure: false });
    }
  });

  it('stops at once on a bad request (400, 404, 422) without blaming the upstream', () => {
    for (const status of [400, 404, 422]) {
      expect(decideOnFailure(http(status))).toEqual({
        action: 'stop',
        breakerFailure: false,
        retryAfterMs: undefined,
      });
    }
    expect(decideOnFailure(new TypeError('bug'))).toMatchObject({ action: 'stop' });
  });

  it('moves to the next deployment on 401/403 (one deployment’s key), counting against its breaker', () => {
    for (const status of [401, 403]) {
      expect(decideOnFailure(http(status))).toEqual({
        action: 'next',
        breakerFailure: true,
        retryAfterMs: undefined,
      });
    }
  });

  it('honors Retry-After on 429/503 only, up to maxRetryAfterMs, while attempts remain', () => {
    const random = () => 0.5;
    expect(retryDelay({ decision: decideOnFailure(http(429, 1_500)), attempt: 0, retry, random })).toBe(
      1_500,
    );
    expect(retryDelay({ decision: decideOnFailure(http(503, 300)), attempt: 1, retry, random })).toBe(300);
    // Too long: the next deployment is faster than waiting.
    expect(
      retryDelay({ decision: decideOnFailure(http(429, 2_001)), attempt: 0, retry, random }),
    ).toBeUndefined();
    // Attempts on this deployment used up.
    expect(
      retryDelay({ decision: decideOnFailure(http(429, 100)), attempt: 2, retry, random }),
    ).toBeUndefined();
    // A 500's retry-after is not a rate limit signal: jitter applies.
    expect(retryDelay({ decision: decideOnFailure(http(500, 1_500)), attempt: 1, retry, random })).toBe(100);
    expect(retryDelay({ decision: decideOnFailure(http(400)), attempt: 0, retry, random })).toBeUndefined();
  });
});
