import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/model-errors.js';
import { createAttemptTimeouts } from './attempt-timeouts.js';

const timeouts = { connectMs: 1_000, firstByteMs: 80, idleMs: 40, totalMs: 400 };
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );

describe('attempt timeouts', () => {
  it('times out the first byte', async () => {
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts,
      budgetDeadline: performance.now() + 10_000,
    });
    clocks.waitStart();
    const started = performance.now();
    expect(await aborted(clocks.signal)).toMatchObject({ code: 'upstream_first_byte_timeout' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(79);
    expect(clocks.stoppedBy).toBe('upstream_first_byte_timeout');
    clocks.dispose();
  });

  it('measures idle time only while waiting on the upstream', async () => {
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts: { ...timeouts, totalMs: 5_000 },
      budgetDeadline: performance.now() + 10_000,
    });
    const started = performance.now();
    // Events every 20 ms (under the 40 ms idle timeout), and a slow consumer between them.
    for (let event = 0; event < 5; event++) {
      clocks.waitStart();
      await new Promise((resolve) => setTimeout(resolve, 20));
      clocks.waitEnd();
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect(clocks.stoppedBy).toBeUndefined();
    clocks.waitStart();
    expect(await aborted(clocks.signal)).toMatchObject({
      code: 'upstream_idle_timeout',
      details: { timeoutMs: 40 },
    });
    expect(performance.now() - started).toBeLessThan(1_000);
    clocks.dispose();
  });

  it('stops at the total timeout however lively the stream', async () => {
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts: { ...timeouts, totalMs: 120 },
      budgetDeadline: performance.now() + 10_000,
    });
    const reason = aborted(clocks.signal);
    const ticker = setInterval(() => {
      clocks.waitEnd();
      clocks.waitStart();
    }, 10);
    expect(await reason).toMatchObject({ code: 'upstream_timeout', details: { timeoutMs: 120 } });
    clearInterval(ticker);
    clocks.dispose();
  });

  it('stops when the call budget runs out, as `budget`', async () => {
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts,
      budgetDeadline: performance.now() + 30,
    });
    clocks.waitStart();
    await aborted(clocks.signal);
    expect(clocks.stoppedBy).toBe('budget');
    clocks.dispose();
  });

  it("follows the caller's signal", () => {
    const controller = new AbortController();
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts,
      budgetDeadline: performance.now() + 10_000,
      signal: controller.signal,
    });
    controller.abort(new Error('gone'));
    expect(clocks.stoppedBy).toBe('caller');
    expect((clocks.signal.reason as Error).message).toBe('gone');
    clocks.dispose();
  });

  it("recognizes undici's connect timeout inside an adapter's error", () => {
    const clocks = createAttemptTimeouts({
      deployment: 'd',
      timeouts,
      budgetDeadline: performance.now() + 10_000,
    });
    const wrapped = new ProviderError({
      provider: 'openai',
      message: 'network failure',
      cause: new TypeError('fetch failed', { cause: new errors.ConnectTimeoutError() }),
    });
    expect(clocks.errorFor(wrapped)).toMatchObject({
      code: 'upstream_connect_timeout',
      details: { deployment: 'd', timeoutMs: 1_000 },
    });
    const other = new ProviderError({ provider: 'openai', message: 'ECONNREFUSED' });
    expect(clocks.errorFor(other)).toBe(other);
    clocks.dispose();
  });
});
