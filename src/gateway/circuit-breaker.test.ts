import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../testing/fake-clock.js';
import { createCircuitBreaker } from './circuit-breaker.js';

const setup = () => {
  const clock = createFakeClock();
  const breaker = createCircuitBreaker({ deployment: 'east', failureThreshold: 3, cooldownMs: 1_000, clock });
  const fail = () => breaker.settle(breaker.tryAcquire() ?? 'normal', 'failure');
  return { clock, breaker, fail };
};

describe('circuit breaker', () => {
  it('opens after the threshold of consecutive failures, not before', () => {
    const { breaker, fail, clock } = setup();
    fail();
    fail();
    expect(breaker.state()).toEqual({ deployment: 'east', state: 'closed', consecutiveFailures: 2 });
    fail();
    expect(breaker.state()).toEqual({
      deployment: 'east',
      state: 'open',
      consecutiveFailures: 3,
      retryAt: clock.now() + 1_000,
    });
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('a success resets the count; neutral outcomes (caller errors) do not count', () => {
    const { breaker, fail } = setup();
    fail();
    fail();
    breaker.settle('normal', 'success');
    fail();
    breaker.settle('normal', 'neutral');
    breaker.settle('normal', 'neutral');
    fail();
    expect(breaker.state()).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
  });

  it('half-opens after the cooldown and lets exactly one probe through', () => {
    const { breaker, fail, clock } = setup();
    fail();
    fail();
    fail();
    clock.advance(999);
    expect(breaker.tryAcquire()).toBeUndefined();
    clock.advance(1);
    expect(breaker.state().state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe('probe');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('closes on a good probe', () => {
    const { breaker, fail, clock } = setup();
    for (let index = 0; index < 3; index++) fail();
    clock.advance(1_000);
    breaker.settle(breaker.tryAcquire() ?? 'normal', 'success');
    expect(breaker.state()).toEqual({ deployment: 'east', state: 'closed', consecutiveFailures: 0 });
    expect(breaker.tryAcquire()).toBe('normal');
  });

  it('opens again for a full cooldown on a failed probe', () => {
    const { breaker, fail, clock } = setup();
    for (let index = 0; index < 3; index++) fail();
    clock.advance(1_000);
    const probe = breaker.tryAcquire();
    expect(probe).toBe('probe');
    clock.advance(50);
    breaker.settle('probe', 'failure');
    expect(breaker.state()).toMatchObject({ state: 'open', retryAt: clock.now() + 1_000 });
    expect(breaker.tryAcquire()).toBeUndefined();
  });

  it('frees the probe slot when the probe ends without a verdict', () => {
    const { breaker, fail, clock } = setup();
    for (let index = 0; index < 3; index++) fail();
    clock.advance(1_000);
    breaker.settle(breaker.tryAcquire() ?? 'normal', 'neutral');
    expect(breaker.tryAcquire()).toBe('probe');
  });

  it('ignores late verdicts of attempts started before it opened', () => {
    const { breaker, fail, clock } = setup();
    const late = breaker.tryAcquire() ?? 'normal';
    for (let index = 0; index < 3; index++) fail();
    breaker.settle(late, 'success');
    expect(breaker.state().state).toBe('open');
    clock.advance(1_000);
    expect(breaker.tryAcquire()).toBe('probe');
    breaker.settle(late, 'failure');
    expect(breaker.state().state).toBe('half-open');
  });
});
