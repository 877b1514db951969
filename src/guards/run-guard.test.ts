import { describe, expect, it } from 'vitest';
import { isKeelError, KeelError } from '../errors/keel-error.js';
import { GuardBlockedError } from '../errors/guard-errors.js';
import { defineGuard } from './define-guard.js';
import type { GuardVerdict } from './guard.js';
import { guardsAt, runGuard } from './run-guard.js';

const returning = (verdict: unknown, stage: 'input' | 'output' = 'input') =>
  defineGuard({ name: 'g', stage, check: () => verdict as GuardVerdict });

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; fault: string }> {
  try {
    await promise;
  } catch (error) {
    if (isKeelError(error)) return { code: error.code, fault: error.fault };
    throw error;
  }
  throw new Error('expected an error');
}

describe('runGuard', () => {
  it('returns the verdict with the guard, the stage and the duration', async () => {
    const outcome = await runGuard(returning({ action: 'redact', text: '[EMAIL]' }), {
      stage: 'input',
      text: 'a@b.io',
    });
    expect(outcome).toMatchObject({
      guard: 'g',
      stage: 'input',
      verdict: { action: 'redact', text: '[EMAIL]' },
    });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('turns a throwing check into guard_failed, keeping a Keel cause’s fault', async () => {
    const throwing = defineGuard({
      name: 'boom',
      stage: 'input',
      check: () => {
        throw new Error('classifier exploded');
      },
    });
    expect(await errorOf(runGuard(throwing, { stage: 'input', text: 'x' }))).toEqual({
      code: 'guard_failed',
      fault: 'system',
    });
    const providerDown = defineGuard({
      name: 'grounded',
      stage: 'output',
      check: () => {
        throw new KeelError({
          code: 'provider_unavailable',
          message: 'down',
          fault: 'provider',
          retryable: true,
        });
      },
    });
    expect(await errorOf(runGuard(providerDown, { stage: 'output', text: 'x' }))).toEqual({
      code: 'guard_failed',
      fault: 'provider',
    });
  });

  it('passes an abort of the run on unchanged', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborted = defineGuard({
      name: 'slow',
      stage: 'input',
      check: ({ signal }) => {
        signal?.throwIfAborted();
        return { action: 'allow' };
      },
    });
    await expect(runGuard(aborted, { stage: 'input', text: 'x', signal: controller.signal })).rejects.toThrow(
      /abort/i,
    );
  });

  it.each([
    [undefined],
    [{ action: 'maybe' }],
    [{ action: 'block' }],
    [{ action: 'redact' }],
    [{ action: 'warn', reason: '' }],
  ])('refuses a verdict of the wrong shape: %j', async (verdict) => {
    expect(await errorOf(runGuard(returning(verdict), { stage: 'input', text: 'x' }))).toEqual({
      code: 'guard_invalid_verdict',
      fault: 'caller',
    });
  });

  it('accepts retry at the output stage only, and only at a stage the guard runs at', async () => {
    const retry = { action: 'retry', feedback: 'answer in JSON' };
    expect((await runGuard(returning(retry, 'output'), { stage: 'output', text: 'x' })).verdict.action).toBe(
      'retry',
    );
    expect((await errorOf(runGuard(returning(retry, 'input'), { stage: 'input', text: 'x' }))).code).toBe(
      'guard_invalid_verdict',
    );
    expect((await errorOf(runGuard(returning(retry, 'output'), { stage: 'input', text: 'x' }))).code).toBe(
      'guard_invalid_verdict',
    );
  });
});

describe('guardsAt', () => {
  it('keeps the guards of a stage in their order', () => {
    const a = defineGuard({ name: 'a', stage: ['input', 'output'], check: () => ({ action: 'allow' }) });
    const b = defineGuard({ name: 'b', stage: 'tool_output', check: () => ({ action: 'allow' }) });
    const c = defineGuard({ name: 'c', stage: 'input', check: () => ({ action: 'allow' }) });
    expect(guardsAt([a, b, c], 'input').map((guard) => guard.name)).toEqual(['a', 'c']);
  });
});

describe('GuardBlockedError', () => {
  it('names the guard, the stage and the reason, at fault by stage', () => {
    const error = new GuardBlockedError('pii', 'tool_args', 'PII found: 1 card');
    expect(error.code).toBe('guard_blocked');
    expect(error.fault).toBe('model');
    expect(error.message).toBe('Guard "pii" blocked the tool args: PII found: 1 card');
    expect(error.details).toMatchObject({ guard: 'pii', stage: 'tool_args', reason: 'PII found: 1 card' });
  });
});
